"""Real-speech dialogues composed from RAVDESS or EmoDB clips.

A dialogue is 2–5 clips of one speaker joined by pauses, in one of two designs:

* ``one_emotional`` — every clip neutral (RAVDESS: neutral or calm) but one emotional clip at a
  random position; the labels name that emotion and its synonyms.
* ``single_emotion`` — every clip of one emotion (neutral included: those are the controls).

Each clip's leading and trailing silence is trimmed by energy (20 ms frames quieter than 35 dB below
the clip's loudest frame, 30 ms kept on each side) and faded in and out over 10 ms, so an utterance's
timestamps are the composed span of its trimmed clip: energy inside, digital silence between. Clips
keep their recorded level (loudness is part of the acted emotion).

Split rule (speaker-disjoint, deterministic): speakers are sorted by id (numerically when the ids are
numbers); with ``n`` speakers, ``max(1, round(0.1 n))`` of the highest ids go to test and as many of
the next highest to validation (validation stays empty with fewer than three speakers); the rest is
train. RAVDESS actors 1–20 give test = 19, 20, validation = 17, 18; the full corpus (1–24) gives
test = 23, 24, validation = 21, 22; EmoDB's ten speakers give test = 16, validation = 15.
``validation_speakers`` / ``test_speakers`` override the rule.

Input: any folder laid out like the shared copies: ``<root>/metadata.csv`` (RAVDESS columns
``file,actor,gender,emotion,intensity,statement,repetition``; EmoDB ``file,speaker,gender,emotion,
text,language``) and the audio files it names, relative to ``<root>``, at any sample rate (mono or
stereo; converted to 16 kHz mono). Without a metadata.csv, the files are found under ``<root>`` by the names
the corpora are distributed with, which say everything needed:

* RAVDESS ``Actor_NN/03-01-EE-II-SS-RR-AA.wav`` (audio-only speech: emotion EE 01-08 = neutral, calm, happy,
  sad, angry, fearful, disgust, surprised; statement SS 01 "Kids are talking by the door", 02 "Dogs are
  sitting by the door"; actor AA), e.g. the official "Audio_Speech_Actors_01-24" download;
* EmoDB ``wav/SSTTTEv.wav`` (speaker SS, text code TTT, emotion letter E: W anger, L boredom, E disgust,
  A fear, F happiness, T sadness, N neutral; the ten sentences as Burkhardt et al. (2005) list them).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from tqdm import tqdm

from ..data.manifest import Sample, Utterance, write_manifest
from ..errors import ConfigError, InputError, where
from ..io import atomic_open, atomic_write_bytes, atomic_write_json
from .audio import fade, trim_silence
from .labels import EMOTION_LABELS, check_labels, emotion_labels
from .stats import SPLITS, corpus_stats, write_stats

SAMPLE_RATE = 16000  # Hz
LEAD = 0.3  # s, silence before the first and after the last utterance
PAUSE = (0.3, 1.0)  # s, range of the pause between utterances


@dataclass(frozen=True)
class CorpusLayout:
    """How one corpus' metadata.csv names things."""

    name: str
    speaker_column: str
    text_column: str
    baseline: tuple[str, ...]  # emotions that count as "not emotional"
    emotions: tuple[str, ...]  # every emotion value metadata.csv may hold


RAVDESS = CorpusLayout("ravdess", "actor", "statement", ("neutral", "calm"),
                       ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"))
EMODB = CorpusLayout("emodb", "speaker", "text", ("neutral",),
                     ("neutral", "anger", "boredom", "disgust", "fear", "happiness", "sadness"))
LAYOUTS = {"ravdess": RAVDESS, "emodb": EMODB}


@dataclass(frozen=True)
class Clip:
    file: str  # relative to the corpus root, as in metadata.csv
    speaker: str
    emotion: str
    text: str


@dataclass(frozen=True)
class RealConfig:
    seed: int = 0
    dialogues_per_speaker: int = 10
    min_utterances: int = 2
    max_utterances: int = 5
    single_emotion_fraction: float = 0.25  # share of dialogues whose clips all share one emotion
    validation_speakers: tuple[str, ...] | None = None  # None: the documented rule
    test_speakers: tuple[str, ...] | None = None
    audio_format: str = "flac"
    # every clip of the corpus once, alone (a single-clip test set without repeats); the dialogue settings above
    # but the seed (which draws each clip's synonyms) are then unused
    every_clip: bool = False

    def __post_init__(self):
        if self.dialogues_per_speaker < 1:
            raise ConfigError(f"dialogues_per_speaker must be >= 1, got {self.dialogues_per_speaker}")
        if not 1 <= self.min_utterances <= self.max_utterances:
            raise ConfigError(f"need 1 <= min_utterances <= max_utterances, got {self.min_utterances}, {self.max_utterances}")
        if not 0 <= self.single_emotion_fraction <= 1:
            raise ConfigError(f"single_emotion_fraction must be in [0, 1], got {self.single_emotion_fraction}")
        if self.audio_format not in ("flac", "wav"):
            raise ConfigError(f"audio_format must be 'flac' or 'wav', got {self.audio_format!r}")


# the corpora's own file names (see the module docstring)
RAVDESS_NAME = re.compile(r"^03-01-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)\.(wav|flac)$")
RAVDESS_EMOTIONS = dict(zip(("01", "02", "03", "04", "05", "06", "07", "08"), RAVDESS.emotions))
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])[a-z]\.(wav|flac)$")
EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness",
                  "N": "neutral"}
EMODB_TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}


def scan_original_names(root: Path, layout: CorpusLayout) -> list[Clip]:
    """The clips under ``root`` named as the corpus is distributed (module docstring), sorted by path."""
    clips = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if layout is RAVDESS and (m := RAVDESS_NAME.match(path.name)):
            clips.append(Clip(rel, str(int(m.group(5))), RAVDESS_EMOTIONS[m.group(1)], RAVDESS_STATEMENTS[m.group(3)]))
        elif layout is EMODB and (m := EMODB_NAME.match(path.name)) and m.group(2) in EMODB_TEXTS:
            clips.append(Clip(rel, m.group(1), EMODB_EMOTIONS[m.group(3)], EMODB_TEXTS[m.group(2)]))
    return clips


def read_metadata(root: str | Path, layout: CorpusLayout) -> list[Clip]:
    """Read ``<root>/metadata.csv`` (without one: the clips by their original names, :func:`scan_original_names`);
    raises :class:`InputError` listing every bad row and missing file."""
    root = Path(root)
    path = root / "metadata.csv"
    if not path.is_file():
        clips = scan_original_names(root, layout) if root.is_dir() else []
        if clips:
            return clips
        raise InputError(f"{path}: metadata.csv not found, and no {layout.name} clips under {root} named as the corpus "
                         f"is distributed (expected <root>/metadata.csv + audio files, or the original file names)")
    needed = ("file", layout.speaker_column, "emotion", layout.text_column)
    clips, problems = [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{where(path=path, field=missing[0])}: column missing (need {', '.join(needed)})")
        for row_no, row in enumerate(reader, 2):
            emotion = row["emotion"].strip().lower()
            if emotion not in layout.emotions:
                problems.append(f"{where(path=path, row=row_no, field='emotion')}: unknown {layout.name} emotion "
                                f"{row['emotion']!r} (known: {', '.join(layout.emotions)})")
                continue
            if not (root / row["file"]).is_file():
                problems.append(f"{where(path=path, row=row_no, field='file')}: file not found: {root / row['file']}")
                continue
            clips.append(Clip(row["file"], row[layout.speaker_column].strip(), emotion, row[layout.text_column].strip()))
    if problems:
        raise InputError.from_problems(problems)
    if not clips:
        raise InputError(f"{path}: no clips listed")
    return clips


def _norm_speaker(s: str) -> str:
    s = s.strip()
    return str(int(s)) if s.isdigit() else s


def _speaker_key(s: str):
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def assign_splits(speakers: list[str], config: RealConfig) -> dict[str, str]:
    """Speaker -> split by the documented rule (module docstring) or the config's explicit lists."""
    ordered = sorted(set(speakers), key=_speaker_key)
    if config.validation_speakers is not None or config.test_speakers is not None:
        lookup = {_norm_speaker(s): s for s in ordered}  # "3" and "03" name the same speaker

        def resolve(ids):
            unknown = [s for s in ids if _norm_speaker(s) not in lookup]
            if unknown:
                raise InputError(f"speaker {unknown[0]!r} is not in the corpus (speakers: {', '.join(ordered)})")
            return {lookup[_norm_speaker(s)] for s in ids}

        val, test = resolve(config.validation_speakers or ()), resolve(config.test_speakers or ())
        if val & test:
            raise InputError(f"speaker {sorted(val & test)[0]!r} is in both validation and test")
    else:
        n = len(ordered)
        n_held = max(1, round(0.1 * n)) if n >= 2 else 0
        test = set(ordered[n - n_held:]) if n_held else set()
        val = set(ordered[n - 2 * n_held: n - n_held]) if n >= 3 else set()
    return {s: "test" if s in test else "validation" if s in val else "train" for s in ordered}


def load_clip(root: Path, clip: Clip) -> np.ndarray:
    """A clip as float32 16 kHz mono, silence trimmed and edges faded; shape ``(n,)``."""
    path = root / clip.file
    try:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise InputError(f"{where(path=path)}: cannot read audio ({e})") from e
    x = x.mean(axis=1)
    if sr != SAMPLE_RATE:
        g = np.gcd(int(sr), SAMPLE_RATE)
        x = resample_poly(x.astype(np.float64), SAMPLE_RATE // g, int(sr) // g).astype(np.float32)
    a, b = trim_silence(x, SAMPLE_RATE)
    return fade(x[a:b], SAMPLE_RATE)


@dataclass
class RealDialogue:
    id: str
    split: str
    speaker: str
    design: str  # "one_emotional" or "single_emotion"
    clips: list[Clip]
    pauses: list[float]
    emotion: str  # the labelled emotion
    labels: list[str]


def draw_dialogues(clips: list[Clip], layout: CorpusLayout, config: RealConfig) -> tuple[list[RealDialogue], list[str]]:
    """Draw every dialogue (no audio yet); returns the dialogues and the speakers skipped (too few clips)."""
    by_speaker: dict[str, list[Clip]] = defaultdict(list)
    for c in clips:
        by_speaker[c.speaker].append(c)
    splits = assign_splits(list(by_speaker), config)
    out, skipped = [], []
    for speaker in sorted(by_speaker, key=_speaker_key):
        own = sorted(by_speaker[speaker], key=lambda c: c.file)
        base = [c for c in own if c.emotion in layout.baseline]
        emotional = [c for c in own if c.emotion not in layout.baseline]
        by_emotion = defaultdict(list)
        for c in own:
            by_emotion[c.emotion].append(c)
        single_ok = sorted(e for e, cs in by_emotion.items() if len(cs) >= config.min_utterances)
        one_ok = bool(emotional) and len(base) + 1 >= config.min_utterances
        if not single_ok and not one_ok:
            skipped.append(speaker)
            continue
        rng = np.random.default_rng([config.seed, zlib.crc32(f"{layout.name}/{speaker}".encode())])
        if config.every_clip:
            out += [RealDialogue(f"{layout.name}_{speaker}_{d:03d}", splits[speaker], speaker, "single_emotion",
                                 [clip], [], clip.emotion, emotion_labels(clip.emotion, rng))
                    for d, clip in enumerate(own)]
            continue
        for d in range(config.dialogues_per_speaker):
            single = (rng.random() < config.single_emotion_fraction and single_ok) or not one_ok
            if single:
                emotion = str(rng.choice(single_ok))
                pool = by_emotion[emotion]
                n = int(rng.integers(config.min_utterances, min(config.max_utterances, len(pool)) + 1))
                chosen = [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]
                design = "single_emotion"
            else:
                target = emotional[int(rng.integers(len(emotional)))]
                hi = min(config.max_utterances, len(base) + 1)
                n = int(rng.integers(min(config.min_utterances, hi), hi + 1))
                chosen = [base[i] for i in rng.choice(len(base), size=n - 1, replace=False)]
                chosen.insert(int(rng.integers(n)), target)
                emotion, design = target.emotion, "one_emotional"
            pauses = [round(float(rng.uniform(*PAUSE)), 3) for _ in range(len(chosen) - 1)]
            labels = emotion_labels(emotion, rng)
            out.append(RealDialogue(f"{layout.name}_{speaker}_{d:03d}", splits[speaker], speaker, design,
                                    chosen, pauses, emotion, labels))
    return out, skipped


def utterance_labels(dialogue: RealDialogue, clip: Clip) -> tuple[str, ...]:
    """A clip's own labels: the dialogue's when it is acted with the dialogue's emotion, else the head word of
    its acted emotion (neutral and calm clips: ``calm``)."""
    if clip.emotion == dialogue.emotion:
        return tuple(dialogue.labels)
    return (EMOTION_LABELS[clip.emotion][0],)


def compose(root: Path, dialogue: RealDialogue) -> tuple[np.ndarray, list[Utterance]]:
    """The dialogue's waveform (float32 ``(n,)``, 16 kHz) and its utterances' exact spans (s)."""
    lead = int(LEAD * SAMPLE_RATE)
    pieces, utts, cursor = [np.zeros(lead, np.float32)], [], lead
    for i, clip in enumerate(dialogue.clips):
        x = load_clip(root, clip)
        # exact sample times, not rounded: start * 16000 is the clip's first sample
        utts.append(Utterance(cursor / SAMPLE_RATE, (cursor + len(x)) / SAMPLE_RATE, clip.text,
                              utterance_labels(dialogue, clip)))
        pieces.append(x)
        cursor += len(x)
        gap = int(round((dialogue.pauses[i] if i < len(dialogue.pauses) else LEAD) * SAMPLE_RATE))
        pieces.append(np.zeros(gap, np.float32))
        cursor += gap
    return np.concatenate(pieces), utts


def speaker_id(layout: CorpusLayout, speaker: str) -> str:
    """The manifest's ``speaker`` of a corpus speaker: ``ravdess_03``, ``emodb_09`` (two digits for numbers)."""
    return f"{layout.name}_{int(speaker):02d}" if speaker.isdigit() else f"{layout.name}_{speaker}"


def _describe(d: RealDialogue, layout: CorpusLayout) -> str:
    n = len(d.clips)
    if d.design == "single_emotion":
        return f"All {n} utterances are acted {d.emotion}."
    k = next(i for i, c in enumerate(d.clips) if c.emotion not in layout.baseline)
    return f"Utterance {k + 1} of {n} is acted {d.emotion}; the others are {' or '.join(layout.baseline)}."


def build_real_corpus(corpus: str, root: str | Path, out: str | Path, config: RealConfig, *,
                      progress: bool = True) -> dict:
    """Compose dialogues from a RAVDESS (``corpus="ravdess"``) or EmoDB (``"emodb"``) folder into ``out``.

    Writes ``audio/<id>.<flac|wav>``, ``train.jsonl`` / ``validation.jsonl`` / ``test.jsonl``,
    ``dialogues.jsonl`` (per dialogue: split, speaker, design, source clips with their emotions),
    ``config.json`` and ``stats.json`` / ``stats.txt``; returns the statistics.
    """
    layout = LAYOUTS[corpus]
    root, out = Path(root), Path(out)
    clips = read_metadata(root, layout)
    dialogues, skipped = draw_dialogues(clips, layout, config)
    if skipped:
        print(f"note: skipped speakers with fewer than {config.min_utterances} usable clips: {', '.join(skipped)}")
    if not dialogues:
        raise InputError(f"{root}: no speaker has enough clips for a dialogue of {config.min_utterances} utterances")
    rows, prov = [], []
    designs, emotions = Counter(), Counter()
    for d in tqdm(dialogues, desc=corpus, unit="dialogue", disable=not progress):
        check_labels(d.labels)
        audio, utts = compose(root, d)
        rel = f"audio/{d.id}.{config.audio_format}"
        buf = io.BytesIO()
        sf.write(buf, audio, SAMPLE_RATE, format=config.audio_format.upper(), subtype="PCM_16")
        atomic_write_bytes(out / rel, buf.getvalue())
        rows.append((d.split, Sample(d.id, rel, utts, d.labels, _describe(d, layout),
                                      speaker=speaker_id(layout, d.speaker)), len(audio) / SAMPLE_RATE, d.speaker))
        prov.append({"id": d.id, "split": d.split, "speaker": d.speaker, "design": d.design, "emotion": d.emotion,
                     "clips": [{"file": c.file, "emotion": c.emotion, "start": u.start, "end": u.end}
                               for c, u in zip(d.clips, utts)]})
        designs[d.design] += 1
        emotions[d.emotion] += 1
    for split in SPLITS:
        write_manifest(out / f"{split}.jsonl", [s for sp, s, _, _ in rows if sp == split])
    with atomic_open(out / "dialogues.jsonl", "w", encoding="utf-8") as f:
        for p in prov:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    split_of = {d.speaker: d.split for d in dialogues}
    atomic_write_json(out / "config.json", {"corpus": corpus, **asdict(config),
                                            "speaker_splits": {s: split_of[s] for s in sorted(split_of, key=_speaker_key)}})
    stats = corpus_stats(rows, extra={"designs": designs, "emotions": emotions})
    stats["speaker_splits"] = {s: [k for k in sorted(split_of, key=_speaker_key) if split_of[k] == s] for s in SPLITS}
    write_stats(out, stats, f"{corpus} dialogues (seed {config.seed})")
    return stats

