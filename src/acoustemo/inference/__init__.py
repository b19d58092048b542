"""Using a trained model: loading it, the shipped one, labelling media, scoring a test split, explaining answers.

- :mod:`~acoustemo.inference.loading`     a checkpoint folder -> its config and :class:`~acoustemo.model.AcoustEmo`
- :mod:`~acoustemo.inference.pretrained`  the trained ``small`` model shipped inside the package
- :mod:`~acoustemo.inference.predictor`   :class:`Predictor`: media -> utterances -> features -> answer, per file
- :mod:`~acoustemo.inference.evaluation`  answers for a manifest and their scores (``acoustemo evaluate``)
- :mod:`~acoustemo.inference.explain`     per-utterance evidence and attention (``predict --explain``)
- :mod:`~acoustemo.inference.service`     a predictor answering requests within limits (``acoustemo serve``)

Nothing here trains; it reads features through :mod:`acoustemo.data` and answers through :mod:`acoustemo.model`.
"""

from .loading import checkpoint_config, load_model
from .predictor import MediaPrediction, Predictor
from .pretrained import load_pretrained, pretrained_path

__all__ = ["MediaPrediction", "Predictor", "checkpoint_config", "load_model", "load_pretrained", "pretrained_path"]
