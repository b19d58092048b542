"""Open-vocabulary emotion metrics: pure functions on label lists, no torch state.

- :func:`score_grouped` — EMER Accuracy_s / Recall_s / Avg with per-sample synonym groups;
- :func:`score_wheel` — the OV-MER emotion-wheel metrics M1, M2, M3 (5 wheels x 2 levels), M-avg;
- :func:`score_embedding` — Accuracy_s / Recall_s with synonym groups from sentence embeddings
  (torch is imported only when its default embedder is first used);
- :func:`parse_labels`, :func:`read_labels`, :func:`read_grouping` — what predictions look like on
  disk; :func:`load_lexicon` — the emotion-wheel lexicon shipped with the package.

All scorers take ``{name: [label, ...]}`` dicts and return percentages::

    from acoustemo.metrics import score_wheel
    score_wheel({"s1": ["happy", "relieved"]}, {"s1": ["joyful"]})["M-avg"]
"""

from .embedding import DEFAULT_THRESHOLD, embedding_groups, pairwise_agreement, score_embedding
from .labels import normalize_label, parse_labels, read_grouping, read_labels
from .lexicon import Lexicon, Wheel, load_lexicon
from .scores import Overlap, ScoreWarning, overlap, score_grouped, score_wheel, wheel_metric_names

__all__ = [
    "DEFAULT_THRESHOLD",
    "Lexicon",
    "Overlap",
    "ScoreWarning",
    "Wheel",
    "embedding_groups",
    "load_lexicon",
    "normalize_label",
    "overlap",
    "pairwise_agreement",
    "parse_labels",
    "read_grouping",
    "read_labels",
    "score_embedding",
    "score_grouped",
    "score_wheel",
    "wheel_metric_names",
]
