"""AcoustEmo: open-vocabulary emotion reasoning with utterance-aware acoustic Q-Formers."""

__version__ = "0.1.0"
