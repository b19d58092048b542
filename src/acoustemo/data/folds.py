"""Speaker-disjoint cross-validation: the protocol by which recipe choices are judged.

A model that is judged on the same held-out speakers every day is tuned to them. Recipe choices are made by
cross-validation inside the training speakers instead, each fold holding out whole speakers, and the held-out
speakers are scored once, at the end.

    folds = speaker_folds(samples, 5)             # [{speakers of fold 0}, ...], every speaker in exactly one
    for train, test in split_by_folds(samples, folds): ...

Speakers are read from the manifests' ``speaker`` field (the corpus builders write it). They are dealt to the
folds in a fixed order: sorted by id, then speaker ``i`` to fold ``i mod k``, so that neighbouring ids (RAVDESS
alternates male and female actors) spread over the folds and the split does not change when a corpus gains
samples.
"""

from __future__ import annotations

from ..errors import InputError


def speaker_of(sample, source: str = "manifest") -> str:
    """``sample.speaker``, or an error naming the sample and the field."""
    if getattr(sample, "speaker", None) is None:
        raise InputError(f"{source}: sample {sample.id!r}, field 'speaker': missing (speaker-disjoint folds and "
                         f"speaker baselines need it; the corpus builders write it)")
    return sample.speaker


def speaker_folds(samples, k: int, *, source: str = "manifest") -> list[set[str]]:
    """The speakers of each of ``k`` folds (see the module docstring); ``k`` at most the number of speakers."""
    speakers = sorted({speaker_of(s, source) for s in samples}, key=_natural)
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if len(speakers) < k:
        raise InputError(f"{source}: {len(speakers)} speakers cannot fill {k} speaker-disjoint folds")
    return [set(speakers[i::k]) for i in range(k)]


def split_by_folds(samples, folds: list[set[str]]):
    """For each fold: (the samples of the other folds' speakers, the samples of its own)."""
    for held in folds:
        yield [s for s in samples if s.speaker not in held], [s for s in samples if s.speaker in held]


def _natural(speaker: str):
    """Sort key: digit runs as numbers, so ``ravdess_2`` comes before ``ravdess_10``."""
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", speaker)]
