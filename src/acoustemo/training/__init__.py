"""Training: the loop (:mod:`.loop`), AdamW groups / schedule / data order (:mod:`.optim`) and pickle-free
checkpoints that resume exactly (:mod:`.checkpoint`)."""

from .loop import LOG_NAME, Trainer, TrainResult, train

__all__ = ["LOG_NAME", "Trainer", "TrainResult", "train"]
