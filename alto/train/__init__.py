"""Training: the loop (:mod:`alto.train.trainer`), its records, batch order and DDP helpers."""

from alto.train.settings import TrainSettings
from alto.train.trainer import EXIT_AFTER_CODE, Trainer, TrainResult, occupancy_loss, train

__all__ = ["EXIT_AFTER_CODE", "TrainResult", "TrainSettings", "Trainer", "occupancy_loss", "train"]
