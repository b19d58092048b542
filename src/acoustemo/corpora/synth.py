"""Synthetic micro-prosody dialogues: espeak-ng speech with one local acoustic cue.

A dialogue is 2–5 utterances of one synthetic speaker separated by pauses. In a manipulated dialogue
one *target* utterance, or a sub-segment of it, carries a cue (:data:`CUES`); the words stay
emotionally neutral, or contradict the cue. The labels name the emotion the cue conveys, drawn with
synonyms from the emotion lexicon (:mod:`.labels`). Designs:

* ``control``    — no manipulation; labels ``calm`` and synonyms.
* ``local``      — the cue covers the whole target utterance or a 0.8–1.5 s sub-segment of it.
* ``distractor`` — 4–5 utterances; the cue covers at most the last 1.5 s of the target utterance
  (the paper's Figure 2; a loudness burst the last 0.6 s, at 6–8 dB) and the other utterances are compensated so that the whole clip's mean F0
  (pitch cues), total duration (rate cues) and speech energy (all cues) equal those of the same
  dialogue without the cue: global statistics barely move, the local cue does.
* ``sarcasm``    — praise spoken flat, low and slow over the whole target utterance (section 4.6).

Every utterance passes once through Praat's PSOLA resynthesis, manipulated or not, so resynthesis
artefacts never distinguish manipulated from control audio. Dialogue ``i`` of seed ``s`` depends only
on ``(s, i)`` (``numpy.random.default_rng([s, i])``): the first 10 dialogues of ``--num 10`` and
``--num 200`` are identical, and the same seed gives identical bytes.

Splits are speaker-disjoint: the synthetic speakers (:func:`speakers`, espeak-ng accent × variant)
are numbered in a fixed order; speaker ``k`` belongs to validation when ``k % 10 == 8``, to test when
``k % 10 == 9``, to train otherwise. Each dialogue draws its split (80/10/10) and then a speaker of it.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..data.manifest import Sample, Utterance, write_manifest
from ..errors import ConfigError
from ..io import atomic_open, atomic_write_bytes, atomic_write_json
from . import manipulations as M
from .audio import fade, rms_db, trim_silence
from .espeak import SAMPLE_RATE, Voice, require_espeak, synthesize
from .labels import CUE_LABELS, check_labels, cue_labels
from .stats import SPLITS, corpus_stats, write_stats
from .texts import CONTRADICTING, NEUTRAL

CUES = ("tremor", "pitch_up", "pitch_down", "rate_fast", "rate_slow", "loud_burst", "whisper", "breathy")
DESIGNS = ("control", "local", "distractor", "sarcasm")

ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
SPLIT_PROBS = (0.8, 0.1, 0.1)  # train, validation, test share of dialogues
LEVEL_DB = -26.0  # dBFS, RMS of every utterance before manipulation
LEAD = 0.3  # s, silence before the first and after the last utterance
PAUSE = (0.25, 0.7)  # s, range of the pause between utterances
DISTRACTOR_WINDOW = 1.5  # s, longest cue of the distractor design (the paper's "final 1.5 seconds")
DISTRACTOR_BURST = 0.6  # s, a distractor's loudness burst: short, so the energy compensation stays small
MIN_OTHER_GAIN = 0.5  # lowest amplitude factor the distractor's energy compensation may apply

CUE_PHRASES = {
    "tremor": "the voice trembles",
    "pitch_up": "the pitch jumps up",
    "pitch_down": "the pitch drops",
    "rate_fast": "the speech speeds up",
    "rate_slow": "the speech slows down",
    "loud_burst": "the voice suddenly gets louder",
    "whisper": "the voice falls to a whisper",
    "breathy": "the voice turns breathy",
    "sarcasm": "the praise is spoken flat, low and slow",
}


def speakers() -> list[Voice]:
    """The synthetic speakers in their fixed order: 8 accents × 12 variants, each with its own
    habitual pitch (espeak-ng ``-p`` 35–64) and rate (150–179 words per minute)."""
    out = []
    for k, (variant, accent) in enumerate((v, a) for v in VARIANTS for a in ACCENTS):
        out.append(Voice(f"{accent}+{variant}", pitch=35 + (7 * k) % 30, speed=150 + (11 * k) % 30))
    return out


def speaker_split(k: int) -> str:
    """Split of speaker number ``k`` of :func:`speakers` (the documented speaker-disjoint rule)."""
    return "validation" if k % 10 == 8 else "test" if k % 10 == 9 else "train"


@dataclass(frozen=True)
class SynthConfig:
    num: int = 200  # dialogues
    seed: int = 0
    min_utterances: int = 2
    max_utterances: int = 5
    cues: tuple[str, ...] = CUES  # cues of the local and distractor designs
    control_fraction: float = 0.2  # share of dialogues without manipulation
    sarcasm_fraction: float = 0.1  # share of sarcasm dialogues
    distractor_fraction: float = 0.3  # share of the remaining (manipulated) dialogues in the distractor design
    contradict_fraction: float = 0.25  # share of manipulated dialogues whose target words contradict the cue
    snr_db: float | None = None  # pink background noise at this SNR (speech power / noise power); None: clean
    video: bool = False  # also write an mp4 (animated face + audio) and point the manifest at it
    audio_format: str = "flac"  # "flac" or "wav" (16-bit PCM, 16 kHz mono)

    def __post_init__(self):
        if self.num < 1:
            raise ConfigError(f"num must be >= 1, got {self.num}")
        if not 1 <= self.min_utterances <= self.max_utterances:
            raise ConfigError(f"need 1 <= min_utterances <= max_utterances, got {self.min_utterances}, {self.max_utterances}")
        unknown = [c for c in self.cues if c not in CUES]
        if unknown or not self.cues:
            raise ConfigError(f"unknown cue {unknown[0] if unknown else '(none)'}; choose from {', '.join(CUES)}")
        for name in ("control_fraction", "sarcasm_fraction", "distractor_fraction", "contradict_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.control_fraction + self.sarcasm_fraction > 1:
            raise ConfigError("control_fraction + sarcasm_fraction must be <= 1")
        if self.audio_format not in ("flac", "wav"):
            raise ConfigError(f"audio_format must be 'flac' or 'wav', got {self.audio_format!r}")


@dataclass
class DialogueSpec:
    """Everything drawn for one dialogue before any audio exists."""

    id: str
    index: int
    split: str
    speaker: int  # index into speakers()
    texts: list[str]
    pauses: list[float]  # s, len(texts) - 1
    design: str  # one of DESIGNS
    cue: str | None  # one of CUES, "sarcasm", or None (control)
    target: int | None  # index of the manipulated utterance
    scope: str | None  # "utterance" (whole target) or "segment" (a sub-segment)
    segment: tuple[float, float] | None  # (length s, start position in [0, 1] of the free room)
    params: dict = field(default_factory=dict)
    text_relation: str = "neutral"  # "neutral" or "contradicts"
    labels: list[str] = field(default_factory=list)


def _cue_params(cue: str, rng: np.random.Generator, *, distractor: bool = False) -> dict:
    u = lambda lo, hi: round(float(rng.uniform(lo, hi)), 3)  # noqa: E731
    if cue == "tremor":
        return {"rate_hz": u(5, 7), "vibrato_cents": u(60, 100), "jitter": u(0.02, 0.04), "tremolo_depth": u(0.35, 0.55)}
    if cue == "pitch_up":
        return {"semitones": u(3, 5)}
    if cue == "pitch_down":
        return {"semitones": -u(3, 5)}
    if cue == "rate_fast":
        return {"speed": u(1.4, 1.7)}
    if cue == "rate_slow":
        return {"speed": u(0.6, 0.72)}
    if cue == "loud_burst":
        return {"gain_db": u(6, 8) if distractor else u(8, 11)}
    if cue == "breathy":
        return {"breath": u(0.3, 0.45)}
    if cue == "sarcasm":
        return {"range_factor": u(0.15, 0.35), "semitones": -u(1.5, 3), "speed": u(0.75, 0.85)}
    return {}  # whisper


def draw_dialogue(config: SynthConfig, index: int) -> DialogueSpec:
    """Draw dialogue ``index``'s content from ``default_rng([config.seed, index])``."""
    rng = np.random.default_rng([config.seed, index])
    split = SPLITS[int(rng.choice(3, p=SPLIT_PROBS))]
    pool = [k for k in range(len(speakers())) if speaker_split(k) == split]
    speaker = int(rng.choice(pool))
    r = rng.random()
    if r < config.control_fraction:
        design, cue = "control", None
    elif r < config.control_fraction + config.sarcasm_fraction:
        design, cue = "sarcasm", "sarcasm"
    else:
        design = "distractor" if rng.random() < config.distractor_fraction else "local"
        cue = str(rng.choice(config.cues))
    lo = config.min_utterances
    if design == "distractor":
        lo = min(max(lo, 4), config.max_utterances)
    n = int(rng.integers(lo, config.max_utterances + 1))
    texts = [str(t) for t in rng.choice(NEUTRAL, size=n, replace=False)]
    pauses = [round(float(rng.uniform(*PAUSE)), 3) for _ in range(n - 1)]
    target = scope = segment = None
    relation = "neutral"
    if cue is not None:
        target = int(rng.integers(n))
        if design == "local":
            scope = "utterance" if rng.random() < 0.5 else "segment"
        else:
            scope = "utterance" if design == "sarcasm" else "segment"
        if scope == "segment":
            if design == "distractor":
                length = DISTRACTOR_BURST if cue == "loud_burst" else DISTRACTOR_WINDOW
            else:
                length = round(float(rng.uniform(0.8, 1.5)), 3)
            position = 1.0 if design == "distractor" or rng.random() < 0.5 else round(float(rng.random()), 3)
            segment = (length, position)
        if cue == "sarcasm" or (cue in CONTRADICTING and rng.random() < config.contradict_fraction):
            texts[target] = str(rng.choice(CONTRADICTING[cue]))
            relation = "contradicts"
    params = _cue_params(cue, rng, distractor=design == "distractor") if cue else {}
    labels = cue_labels(cue or "control", rng)
    return DialogueSpec(f"synth{config.seed}_{index:05d}", index, split, speaker, texts, pauses, design, cue,
                        target, scope, segment, params, relation, labels)


@dataclass
class Rendered:
    audio: np.ndarray  # float32 (n,) at 16 kHz
    utterances: list[Utterance]  # exact spans in seconds
    window: tuple[float, float] | None  # the cue's span in seconds (dialogue time), None for controls


def _level(x: np.ndarray) -> np.ndarray:
    return (x * 10 ** ((LEVEL_DB - rms_db(x)) / 20)).astype(np.float32)


def _energy(x: np.ndarray) -> float:
    return float(np.sum(np.square(x, dtype=np.float64)))


def _base_utterances(spec: DialogueSpec) -> list[np.ndarray]:
    voice = speakers()[spec.speaker]
    out = []
    for text in spec.texts:
        x = synthesize(text, voice)
        a, b = trim_silence(x, SAMPLE_RATE)
        out.append(_level(fade(x[a:b], SAMPLE_RATE)))
    return out


def _window(spec: DialogueSpec, duration: float) -> tuple[float, float]:
    """The cue's span in the target utterance's own time axis (seconds)."""
    if spec.scope == "utterance":
        return 0.0, duration
    length, position = spec.segment
    length = min(length, 0.6 * duration) if spec.design != "distractor" else min(length, 0.5 * duration)
    start = position * (duration - length)
    return start, start + length


def _apply_cue(x: np.ndarray, identity: np.ndarray, spec: DialogueSpec, t0: float, t1: float,
               rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The target utterance with its cue; returns ``(y, t1_new)``."""
    sr, p, cue = SAMPLE_RATE, spec.params, spec.cue
    if cue == "tremor":
        return M.tremor(x, sr, t0, t1, rng, **p), t1
    if cue in ("pitch_up", "pitch_down"):
        return M.pitch_shift(x, sr, t0, t1, p["semitones"]), t1
    if cue in ("rate_fast", "rate_slow"):
        return M.rate_change(x, sr, t0, t1, p["speed"])
    if cue == "sarcasm":
        flat = M.flatten_pitch(x, sr, t0, t1, range_factor=p["range_factor"], semitones=p["semitones"])
        return M.rate_change(flat, sr, t0, t1, p["speed"])  # two PSOLA passes, the only double pass
    if cue == "loud_burst":
        return M.loudness_burst(identity, sr, t0, t1, p["gain_db"]), t1
    if cue == "whisper":
        return M.whisper(identity, sr, t0, t1, rng), t1
    if cue == "breathy":
        return M.breathy(identity, sr, t0, t1, rng, breath=p["breath"]), t1
    raise ValueError(f"unknown cue {cue!r}")


def render_dialogue(spec: DialogueSpec, config: SynthConfig, *, apply_cue: bool = True) -> Rendered:
    """Synthesize, manipulate and compose one dialogue.

    ``apply_cue=False`` renders the same dialogue without its cue (and without the distractor's
    compensation): the twin against which global and local statistics are compared. Background noise
    (``config.snr_db``) is the same in both.
    """
    sr = SAMPLE_RATE
    rng = np.random.default_rng([config.seed, spec.index, 1])
    base = _base_utterances(spec)
    identity = [M.psola_identity(x, sr) for x in base]
    utts = list(identity)
    window = None
    if apply_cue and spec.cue is not None:
        k = spec.target
        t0, t1 = _window(spec, len(base[k]) / sr)
        utts[k], t1_new = _apply_cue(base[k], identity[k], spec, t0, t1, rng)
        window = (t0, t1_new)
        if spec.design == "distractor":
            utts = _compensate(base, identity, utts, spec, t0, t1, t1_new)
    # compose: lead silence, utterances separated by pauses, tail silence
    pieces, spans, cursor = [np.zeros(int(LEAD * sr), np.float32)], [], int(LEAD * sr)
    for i, y in enumerate(utts):
        spans.append((cursor, cursor + len(y)))
        pieces.append(y.astype(np.float32))
        cursor += len(y)
        gap = int(round((spec.pauses[i] if i < len(spec.pauses) else LEAD) * sr))
        pieces.append(np.zeros(gap, np.float32))
        cursor += gap
    audio = np.concatenate(pieces)
    peak = float(np.abs(audio).max())
    if peak > 0.99:  # only loud bursts on loud voices get here; keeps 16-bit PCM from clipping
        audio *= 0.99 / peak
    if config.snr_db is not None:
        speech = np.zeros(len(audio), bool)
        for a, b in spans:
            speech[a:b] = True
        audio = M.add_noise(audio, config.snr_db, speech, np.random.default_rng([config.seed, spec.index, 2]))
        audio = np.clip(audio, -1, 1)
    # exact sample times, not rounded: start * 16000 is the utterance's first sample
    utterances = [Utterance(a / sr, b / sr, t, utterance_labels(spec, i)) for i, ((a, b), t)
                  in enumerate(zip(spans, spec.texts))]
    if window is not None:
        start = spans[spec.target][0] / sr
        window = (start + window[0], start + window[1])
    return Rendered(audio.astype(np.float32), utterances, window)


def utterance_labels(spec: DialogueSpec, index: int) -> tuple[str, ...]:
    """Utterance ``index``'s own labels: the dialogue's for the target utterance (the one that carries the cue),
    ``calm`` for every other one (and for every utterance of a control dialogue)."""
    if spec.target is not None and index == spec.target:
        return tuple(spec.labels)
    return (CUE_LABELS["control"][0],)


def _compensate(base, identity, utts, spec: DialogueSpec, t0: float, t1: float, t1_new: float) -> list[np.ndarray]:
    """Distractor design: adjust the non-target utterances so that mean F0 (pitch cues), total speech
    duration (rate cues) and total speech energy (every cue) match the dialogue without the cue."""
    sr, k = SAMPLE_RATE, spec.target
    others = [j for j in range(len(utts)) if j != k]
    if not others:
        return utts
    t_others = sum(len(base[j]) for j in others) / sr
    out = list(utts)
    if spec.cue in ("pitch_up", "pitch_down"):
        shift = -spec.params["semitones"] * (t1 - t0) / t_others
        for j in others:
            out[j] = M.pitch_shift(base[j], sr, 0, len(base[j]) / sr, shift)
    elif spec.cue in ("rate_fast", "rate_slow"):
        speed = t_others / (t_others - (t1_new - t1))
        for j in others:
            out[j], _ = M.rate_change(base[j], sr, 0, len(base[j]) / sr, speed)
    e_twin = sum(_energy(x) for x in identity)
    e_others = sum(_energy(out[j]) for j in others)
    gain2 = (e_twin - _energy(out[k])) / e_others
    gain = float(np.sqrt(max(gain2, MIN_OTHER_GAIN**2)))
    for j in others:
        out[j] = (out[j] * gain).astype(np.float32)
    return out


def describe(spec: DialogueSpec, window: tuple[float, float] | None) -> str:
    """A one-sentence free-text description of the dialogue's acoustic content."""
    n = len(spec.texts)
    if spec.cue is None:
        return f"All {n} utterances are spoken in an even, steady voice."
    where = "throughout" if spec.scope == "utterance" else f"from {window[0]:.2f} s to {window[1]:.2f} s"
    s = f"In utterance {spec.target + 1} of {n}, {CUE_PHRASES[spec.cue]} {where}"
    if spec.text_relation == "contradicts" and spec.cue != "sarcasm":
        s += ", contradicting what the words say"
    return s + "."


def _encode_audio(audio: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format=fmt.upper(), subtype="PCM_16")
    return buf.getvalue()


def build_synth_corpus(out: str | Path, config: SynthConfig, *, progress: bool = True) -> dict:
    """Generate ``config.num`` dialogues into ``out``; returns the statistics.

    Writes ``audio/<id>.<flac|wav>`` (and ``video/<id>.mp4`` with ``config.video``),
    ``train.jsonl`` / ``validation.jsonl`` / ``test.jsonl`` (manifests), ``cues.jsonl`` (per dialogue:
    design, cue, target utterance, cue window in seconds, parameters, speaker), ``config.json`` and
    ``stats.json`` / ``stats.txt``.
    """
    require_espeak()
    out = Path(out)
    rows, cue_rows = [], []
    designs, cues = Counter(), Counter()
    for index in tqdm(range(config.num), desc="synth", unit="dialogue", disable=not progress):
        spec = draw_dialogue(config, index)
        check_labels(spec.labels)
        r = render_dialogue(spec, config)
        audio_rel = f"audio/{spec.id}.{config.audio_format}"
        atomic_write_bytes(out / audio_rel, _encode_audio(r.audio, config.audio_format))
        media = audio_rel
        if config.video:
            from .video import write_video

            media = f"video/{spec.id}.mp4"
            write_video(out / media, r.audio, SAMPLE_RATE)
        voice = speakers()[spec.speaker]
        sample = Sample(spec.id, media, r.utterances, spec.labels, describe(spec, r.window), speaker=f"synth_{voice.id}")
        rows.append((spec.split, sample, len(r.audio) / SAMPLE_RATE, voice.id))
        cue_rows.append({"id": spec.id, "split": spec.split, "design": spec.design, "cue": spec.cue,
                         "target": spec.target, "window": list(r.window) if r.window else None,
                         "scope": spec.scope, "params": spec.params, "text_relation": spec.text_relation,
                         "speaker": voice.id, "voice": voice.name, "snr_db": config.snr_db})
        designs[spec.design] += 1
        cues[spec.cue or "none"] += 1
    for split in SPLITS:
        write_manifest(out / f"{split}.jsonl", [s for sp, s, _, _ in rows if sp == split])
    with atomic_open(out / "cues.jsonl", "w", encoding="utf-8") as f:
        for row in cue_rows:
            f.write(json.dumps(row) + "\n")
    atomic_write_json(out / "config.json", {**asdict(config), "cues": list(config.cues)})
    stats = corpus_stats(rows, extra={"designs": designs, "cues": cues})
    write_stats(out, stats, f"synthetic corpus (seed {config.seed})")
    return stats
