"""A trained model on new media files, end to end (what ``acoustemo predict`` runs).

For each file: decode, transcribe into timestamped utterances (unless a manifest gives them), run the
frozen audio (and, for a model with a visual branch, visual) encoder, then generate the open-vocabulary
emotions. The encoders must be those the checkpoint was trained on: training writes the full cache keys
(encoder name + hash of its settings) into the checkpoint's ``train.audio_key`` / ``train.visual_key``,
and the keys of the encoders built here must equal them (a bare encoder name, as in hand-written
configs, only checks the name).

    predictor = Predictor("runs/small/final")          # model, transcriber and encoders, loaded once
    result = predictor("clip.mp4")                      # MediaPrediction: utterances, answer, emotions

A model trained with speaker-relative acoustics (``model.speaker_normalization``, :mod:`acoustemo.data.speakers`)
measures each file against its speaker's baseline: after ``predictor.set_speaker_baseline(files)`` (``predict
--speaker-baseline``), those recordings of the same voice pooled with the file's own frames, shrunk toward the
training population by ``model.speaker_prior_seconds``; without them, the population's (mode "speaker": the
frames as they are) or the file's own (mode "recording").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError

DEFAULT_SPLIT = "vad"  # how a file's utterances are cut (Transcriber's split; docs/features.md: chosen on validation)
DEFAULT_EVIDENCE_METHOD = "gradient"  # --explain's (docs/performance.md: linear in the utterances)


@dataclass
class MediaPrediction:
    media: str
    utterances: list  # acoustemo.data.manifest.Utterance
    text: str
    emotions: list[str]
    explanation: object | None = None  # acoustemo.explain.Explanation, with predict(..., explain=True)
    figure: str | None = None  # the explanation's PNG, where one was written
    utterance_emotions: list[list[str]] | None = None  # each utterance's own, from a model that answers per utterance

    def format(self) -> str:
        """The labels, then one line per utterance: ``  0.42-  2.10 s  text`` (with ``--explain`` the
        utterance's evidence first, as a number and a bar: nats, or a percentage for the prior's shares; from a
        model that answers per utterance, the utterance's own emotions in brackets after its text)."""
        lines = [f"{self.media}: {', '.join(self.emotions) or '(no emotion named)'}"]
        if not self.utterances:
            lines.append("  (no speech found)")
        evidence = self.explanation.evidence if self.explanation is not None else None
        shares = self.explanation is not None and self.explanation.method == "prior"
        for i, u in enumerate(self.utterances):
            mark = ""
            if shares:
                mark = f"{100 * evidence[i]:5.0f} % {'#' * min(20, max(0, round(20 * evidence[i]))):<20} "
            elif evidence is not None:
                mark = f"{evidence[i]:+6.2f} {'#' * min(20, max(0, round(4 * evidence[i]))):<20} "
            own = ""
            if self.utterance_emotions is not None:
                own = f"  [{', '.join(self.utterance_emotions[i]) or '?'}]"
            lines.append(f"  {u.start:6.2f}-{u.end:6.2f} s  {mark}{u.text}{own}")
        if self.figure:
            lines.append(f"  figure: {self.figure}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """The result as ``predict --json`` prints it; ``valence`` and ``arousal`` (of the clip's and each
        utterance's labels) are derived from the words (:mod:`acoustemo.metrics.dimensions`), null where the norms
        hold none of them."""
        from ..metrics.dimensions import valence_arousal_fields as dims

        utterances = [{"start": u.start, "end": u.end, "text": u.text} for u in self.utterances]
        if self.utterance_emotions is not None:
            for u, own in zip(utterances, self.utterance_emotions):
                u["labels"] = own
                u.update(dims(own))
        out = {"media": self.media, "emotions": self.emotions, **dims(self.emotions), "answer": self.text,
               "utterances": utterances}
        if self.explanation is not None:
            e = self.explanation
            out["answer_logprob"] = round(e.answer_logprob, 4)
            out["evidence_method"] = e.method
            for u, evidence, weights in zip(utterances, e.evidence, e.attention):
                u["evidence"] = round(evidence, 4)
                u["attention"] = [round(w, 4) for w in weights]
            out["attention_rate"] = e.frame_rate
        if self.figure:
            out["figure"] = self.figure
        return out


def check_encoder_key(encoder, expected: str | None, kind: str, who: str = "checkpoint") -> None:
    """Refuse an encoder whose cache key is not the one a model was trained on (a bare name checks the name)."""
    from ..cache.store import encoder_key

    key = encoder_key(encoder)
    if expected and expected != key and expected != encoder.name:
        raise InputError(f"{who}: trained on {kind} features {expected!r}, but the {kind} encoder here gives "
                         f"{key!r} (other weights or settings); predictions would be meaningless")


def has_speech(wav, sample_rate: int = 16000) -> bool:
    """Whether Silero VAD (faster-whisper's) finds any speech in ``wav`` (float32 at 16 kHz)."""
    import numpy as np
    from faster_whisper.vad import get_speech_timestamps

    wav = np.asarray(wav, dtype=np.float32)
    return bool(len(wav)) and bool(get_speech_timestamps(wav, sampling_rate=sample_rate))


class Predictor:
    """Holds the model, the transcriber and the encoders; ``__call__(path)`` -> :class:`MediaPrediction`."""

    def __init__(self, checkpoint: str | Path, *, overrides: list[str] | None = None,
                 transcriber_model: str | None = None, max_new_tokens: int = 32, device: str | None = None,
                 beam_size: int = 5, quantize: str | None = None, split: str = DEFAULT_SPLIT,
                 preload_transcriber: bool = False):
        """``preload_transcriber``: Whisper's transcription model loads on a thread while the model does (for a
        caller that will transcribe, as ``predict`` and ``serve`` do: CTranslate2 reads it without holding the
        GIL); by default it loads on the first file that needs it."""
        from ..cache.store import encoder_name
        from ..device import resolve_device
        from ..encoders import build_audio_encoder, build_visual_encoder
        from .loading import checkpoint_config, load_model

        checkpoint = Path(checkpoint)
        self.quantize = quantize
        self.device = resolve_device(device or "auto")
        self.cfg = checkpoint_config(checkpoint, None, overrides)
        if beam_size < 1:
            raise InputError(f"beam size {beam_size}: must be at least 1")
        from ..asr.segment import SPLITS

        if split not in SPLITS:
            raise InputError(f"utterance split {split!r}: one of {', '.join(SPLITS)}")
        self._transcriber_model, self.beam_size, self.split = transcriber_model, beam_size, split
        self._transcriber = self._transcriber_loading = None
        if preload_transcriber:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=1)
            self._transcriber_loading = pool.submit(self._new_transcriber)
            pool.shutdown(wait=False)  # its thread ends with the load
        # LoRA folded into the full-precision weights: faster answers, same model (bitsandbytes keeps adapters)
        self.model = load_model(checkpoint, self.cfg, device=self.device, quantize=quantize,
                                merge_lora=quantize in (None, "int8"))
        t = self.cfg.train
        self.audio_encoder = build_audio_encoder(encoder_name(t.audio_key or "whisper"), device=self.device)
        check_encoder_key(self.audio_encoder, t.audio_key, "audio")
        self.visual_encoder = None
        if self.cfg.model.use_visual:
            self.visual_encoder = build_visual_encoder(encoder_name(t.visual_key or "fer"), device=self.device)
            check_encoder_key(self.visual_encoder, t.visual_key, "visual")
        self.max_new_tokens = max_new_tokens
        self.speaker_baseline = None  # FrameStats of the voice's other recordings (set_speaker_baseline)

    def set_speaker_baseline(self, files) -> None:
        """Recordings of the speaker of the files to come: their frames pooled into the baseline each later file
        is measured against (with that file's own). Each must decode and hold speech (Silero VAD, as shipped
        with faster-whisper); a model without speaker-relative acoustics refuses them."""
        from ..data.speakers import FrameStats, pooled
        from ..media import load_audio

        if self.cfg.model.speaker_normalization == "none":
            raise InputError("--speaker-baseline: this model was trained without speaker baselines "
                             "(model.speaker_normalization: none)")
        stats = []
        for f in files:
            wav = load_audio(f)
            if not has_speech(wav):
                raise InputError(f"{f}: --speaker-baseline file holds no speech")
            stats.append(FrameStats.of(self.audio_encoder.encode(wav)))
        self.speaker_baseline = pooled(stats) if stats else None

    def speaker_relative(self, audio: torch.Tensor) -> torch.Tensor:
        """``audio`` (L, d) as the model was trained to read it (unchanged for a model without a baseline)."""
        from ..data.speakers import FrameStats, SpeakerBaseline

        mode = self.cfg.model.speaker_normalization
        if mode == "none" or (mode == "speaker" and self.speaker_baseline is None):
            return audio
        own = FrameStats.of(audio)
        stats = own if self.speaker_baseline is None else self.speaker_baseline.merge(own)
        return SpeakerBaseline.of_model(self.model, self.audio_encoder.frame_rate).normalize(audio, stats)

    def _new_transcriber(self):
        from ..asr import Transcriber

        return Transcriber(self._transcriber_model, device=self.device, beam_size=self.beam_size, split=self.split)

    def transcribe(self, wav, name: str):
        if self._transcriber is None:
            loading, self._transcriber_loading = self._transcriber_loading, None
            self._transcriber = loading.result() if loading is not None else self._new_transcriber()
        return self._transcriber.transcribe(wav, name=name).utterances

    @torch.no_grad()
    def answer(self, example, given: list[list[str]] = ()):
        """The model's :class:`~acoustemo.model.Prediction` for one prepared example, and each utterance's own
        emotions (None from a model that does not answer per utterance, or when windows were merged to fit).

        A model that answers per utterance is decoded with the answer's layout fixed
        (:meth:`~acoustemo.model.AcoustEmo.answer_per_utterance`: a line per utterance, in order); ``given``, the
        labels of the first utterances, are read as their lines instead of written (what the stream passes: the
        utterances it answered before)."""
        from ..data.collate import Collator

        batch = Collator(self.model.config, self.model.tokenizer, train=False)([example])
        per_utterance = batch.question == ["utterances"] and not (batch.merged and batch.merged[0])
        if per_utterance and batch.num_utterances[0] > len(given):
            pred = self.model.answer_per_utterance(batch, list(given), max_new_tokens=self.max_new_tokens)
        else:
            (pred,) = self.model.generate(batch, max_new_tokens=self.max_new_tokens)
        own = pred.utterance_emotions
        if own is not None and len(own) != len(example.utterances):
            own = None
        return pred, own

    def evidence_method(self, wanted: str | None = None) -> str:
        """How ``--explain`` measures evidence (:func:`acoustemo.inference.explain.explain`): ``wanted``, or the
        default: "prior" where the clip's first label is named from the utterances' priors (the exact account of
        that choice), else "gradient" (linear in the utterances), occlusion where the LLM is in int8 (no backward
        pass)."""
        from ..errors import ConfigError
        from .explain import explains_by_prior

        int8 = self.quantize == "int8"
        if wanted == "gradient" and int8:
            raise ConfigError("--explain-method gradient needs the LLM's float weights: leave out --int8")
        if wanted == "prior" and not explains_by_prior(self.model):
            raise ConfigError("--explain-method prior needs a model that names the clip from its utterances' priors "
                              "(model.acoustic_prior with model.clip_prior_source=utterances)")
        if wanted:
            return wanted
        if explains_by_prior(self.model):
            return "prior"
        return "occlusion" if int8 else DEFAULT_EVIDENCE_METHOD

    @property
    def transcribes_with_encoder(self) -> bool:
        """Whether the audio encoder is Whisper's own transcription model (the default: the bundled tiny.en), so one
        encoder pass gives both the features and the words (:meth:`WhisperEncoder.encode_with_text
        <acoustemo.encoders.whisper.WhisperEncoder.encode_with_text>`, what the stream uses)."""
        from ..encoders.whisper import bundled_whisper_path

        enc = self.audio_encoder
        if not getattr(enc, "speaks", False):
            return False
        base = getattr(enc, "base", enc)
        wanted = self._transcriber_model or bundled_whisper_path()
        return Path(str(base.model_ref)).resolve() == Path(str(wanted)).resolve()

    @torch.no_grad()
    def __call__(self, path: str | Path, utterances=None, *, explain: bool = False,
                 explain_method: str | None = None) -> MediaPrediction:
        from ..data.collate import Example
        from ..media import load_audio, load_frames, probe

        path = Path(path)
        wav = load_audio(path)
        if utterances is None:
            # the encoder's features while Whisper transcribes: both release the GIL (CTranslate2 / torch), and
            # beam search leaves cores idle between its small steps
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=1) as pool:
                features = pool.submit(self.audio_encoder.encode, wav)
                utterances = self.transcribe(wav, str(path))
                audio = features.result()  # (L, d)
        else:
            audio = self.audio_encoder.encode(wav)  # (L, d)
        audio = self.speaker_relative(audio)
        visual = None
        if self.visual_encoder is not None:
            if probe(path).has_video:
                frames, _ = load_frames(path, self.visual_encoder.frame_rate,
                                        max_side=getattr(self.visual_encoder, "max_side", None))
                visual = self.visual_encoder.encode(frames)  # (T, d_v)
            else:  # audio-only media: one all-zero "no face" frame, as in training (FeatureDataset)
                visual = torch.zeros(1, self.visual_encoder.dim)
        example = Example(id=path.name, audio=audio, frame_rate=self.audio_encoder.frame_rate,
                          utterances=list(utterances), visual=visual)
        pred, own = self.answer(example)
        explanation = None
        if explain and pred.emotions and utterances:
            from .explain import explain as explain_example

            explanation = explain_example(self.model, example, pred.emotions, own,
                                          method=self.evidence_method(explain_method))
        return MediaPrediction(str(path), list(utterances), pred.text, pred.emotions, explanation,
                               utterance_emotions=own)
