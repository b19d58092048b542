"""Open-vocabulary emotion metrics: pure functions on label lists, no torch state.

- :mod:`acoustemo.metrics.lexicon` — the emotion-wheel lexicon shipped with the package.
"""

from .lexicon import Lexicon, Wheel, load_lexicon

__all__ = ["Lexicon", "Wheel", "load_lexicon"]
