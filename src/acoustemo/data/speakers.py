"""Speaker-relative acoustics: every frame measured against its speaker's own baseline.

Emotion is a deviation from a speaker's habitual voice, and a frozen encoder's frames say as much about who
speaks as about how. With ``model.speaker_normalization`` the frames of each sample are standardised by the
statistics of its speaker instead of the training population's, and mapped back onto the population's scale,
so that everything after (the Q-Formers' input standardisation, the statistics token, a linear probe) reads
speaker z-scores:

    x' = (x - m_s) / s_s * s_pop + m_pop

``m_s`` and ``s_s`` are the per-dimension mean and standard deviation of the speaker's frames, every frame of
every recording of that voice that the run has (a dialogue gives them for free: the speaker's other
utterances). The baseline is shrunk toward the population with ``model.speaker_prior_seconds`` of pseudo-frames
drawn from it, so a speaker heard for a few seconds moves only part of the way:

    mode         whose frames give the baseline
    speaker      every sample with the same manifest ``speaker``; a sample without one is left as it is (the
                 population is its baseline)
    recording    the sample's own recording only (one file, nothing else known of the voice)

A voice of which nothing else is known falls back to the population rather than to its own recording: measured
by speaker-disjoint cross-validation on RAVDESS (``benchmarks/speaker_cv.py``), a probe fitted on speaker-relative
frames loses nothing against the plain probe when scored on raw frames, and loses about 3 points when each
recording is its own baseline (its mean holds its emotion). Training on both (``model.speaker_baseline_dropout``:
that share of the training samples keeps its raw frames) reads both.

    baseline = SpeakerBaseline(prior_mean, prior_std, prior_frames=500)
    stats = speaker_statistics(examples, mode="speaker")           # key -> FrameStats
    example = baseline.apply(example, stats[baseline_key(example, "speaker")])

The population statistics are the raw training frames' (:func:`population_statistics`); the trained model keeps
them as its Q-Formers' input statistics, so the same mapping is applied at inference with nothing more stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .collate import Example

MODES = ("none", "speaker", "recording")


@dataclass(frozen=True)
class FrameStats:
    """Per-dimension count, mean and (population) variance of a set of frames; :meth:`merge` pools two sets
    exactly, so statistics can be kept per file and added up, or updated online as frames arrive."""

    count: float
    mean: torch.Tensor  # (d,) float64
    var: torch.Tensor  # (d,) float64

    @classmethod
    def of(cls, frames: torch.Tensor) -> "FrameStats":
        """The statistics of ``frames`` (T, d)."""
        x = frames.double()
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"FrameStats.of needs frames (T > 0, d), got shape {tuple(frames.shape)}")
        return cls(float(x.shape[0]), x.mean(0), x.var(0, unbiased=False))

    def merge(self, other: "FrameStats") -> "FrameStats":
        """The statistics of both sets together (Chan et al.'s pairwise update)."""
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.var * self.count + other.var * other.count + delta.square() * (self.count * other.count / n)
        return FrameStats(n, mean, m2 / n)

    @property
    def std(self) -> torch.Tensor:
        return self.var.clamp_min(0).sqrt()


def population_statistics(examples) -> FrameStats:
    """The statistics of every frame of ``examples`` (the training population)."""
    return pooled(FrameStats.of(ex.audio) for ex in examples)


def pooled(stats) -> FrameStats:
    """Several :class:`FrameStats` merged into one."""
    out = None
    for s in stats:
        out = s if out is None else out.merge(s)
    if out is None:
        raise ValueError("no frames to pool")
    return out


def baseline_key(example: Example, mode: str) -> str | None:
    """Whose baseline ``example`` is measured against: ``speaker:<id>``, ``recording:<sample id>``, or None (the
    population's: mode "speaker" without a speaker, mode "none")."""
    if mode == "speaker":
        return f"speaker:{example.speaker}" if example.speaker is not None else None
    return f"recording:{example.id}" if mode == "recording" else None


def speaker_statistics(examples, mode: str) -> dict[str | None, FrameStats | None]:
    """The frame statistics of each baseline (:func:`baseline_key`) that ``examples`` call for (None -> None)."""
    check_mode(mode)
    out: dict[str | None, FrameStats | None] = {None: None}
    for ex in examples:
        key = baseline_key(ex, mode)
        if key is None:
            continue
        s = FrameStats.of(ex.audio)
        out[key] = out[key].merge(s) if key in out else s
    return out


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"model.speaker_normalization={mode!r} is not one of {', '.join(MODES)}")


def require_speakers(samples, source: str) -> None:
    """Every sample names its ``speaker`` (what ``speaker_normalization: speaker`` needs of a training manifest)."""
    from .folds import speaker_of

    for s in samples:
        speaker_of(s, source)


class SpeakerBaseline:
    """Maps frames from a speaker's baseline onto the population's (the module docstring's ``x'``).

    Args:
        prior_mean, prior_std: (d,) the population's per-dimension statistics.
        prior_frames: how many frames of the population the speaker's own statistics are pooled with
            (``speaker_prior_seconds`` times the frame rate); 0 trusts the speaker's frames alone.
    """

    def __init__(self, prior_mean: torch.Tensor, prior_std: torch.Tensor, prior_frames: float):
        if prior_frames < 0:
            raise ConfigError(f"model.speaker_prior_seconds must be >= 0, got a prior of {prior_frames} frames")
        self.prior = FrameStats(float(prior_frames), prior_mean.double(), prior_std.double().square())

    @classmethod
    def from_stats(cls, population: FrameStats, prior_frames: float) -> "SpeakerBaseline":
        return cls(population.mean, population.std, prior_frames)

    @classmethod
    def of_model(cls, model, frame_rate: float) -> "SpeakerBaseline":
        """The baseline a trained model's inputs are prepared with: its acoustic Q-Formers' input statistics as
        the population (stage 1 sets them from the raw training frames) and ``model.speaker_prior_seconds``."""
        cfg = model.config
        qformer = next(q for k, q in model.qformers.items() if k in ("global", "utterance"))
        return cls(qformer.input_mean.detach().cpu(), qformer.input_log_std.detach().cpu().exp(),
                   cfg.speaker_prior_seconds * frame_rate)

    def baseline(self, stats: FrameStats | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) of a speaker heard as ``stats``, shrunk toward the population; the population's for None."""
        s = self.prior if stats is None else stats.merge(self.prior) if self.prior.count > 0 else stats
        return s.mean, s.std.clamp_min(1e-6)

    def normalize(self, frames: torch.Tensor, stats: FrameStats | None) -> torch.Tensor:
        """``frames`` (T, d) from the speaker's baseline onto the population's, in their dtype."""
        mean, std = self.baseline(stats)
        x = (frames.double() - mean) / std * self.prior.std.clamp_min(1e-6) + self.prior.mean
        return x.to(frames.dtype)

    def apply(self, example: Example, stats: FrameStats | None) -> Example:
        """``example`` with its audio frames normalised (a new Example; the input is not changed); with ``stats``
        None (nothing known of the voice), ``example`` itself."""
        if stats is None:
            return example
        return dataclasses.replace(example, audio=self.normalize(example.audio, stats))

    def apply_all(self, examples, mode: str) -> list[Example]:
        """Each example normalised by the baseline that ``mode`` gives it, from ``examples`` themselves."""
        examples = list(examples)
        if mode == "none":
            return examples
        stats = speaker_statistics(examples, mode)
        return [self.apply(ex, stats[baseline_key(ex, mode)]) for ex in examples]
