"""AcoustEmo: open-vocabulary emotion reasoning with utterance-aware acoustic Q-Formers."""

__version__ = "0.2.0"


def load_pretrained(*args, **kwargs):
    """The trained ``small`` model shipped with the package (see :mod:`acoustemo.inference.pretrained`)."""
    from .inference.pretrained import load_pretrained

    return load_pretrained(*args, **kwargs)


__all__ = ["__version__", "load_pretrained"]
