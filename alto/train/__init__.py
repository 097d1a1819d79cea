"""Training: the loop (:mod:`alto.train.trainer`), its records, batch order and DDP helpers.

The loop's settings are the ``training`` section of the typed config
(:class:`alto.config.TrainingConfig`).
"""

from alto.train.trainer import EXIT_AFTER_CODE, Trainer, TrainResult, occupancy_loss, train

__all__ = ["EXIT_AFTER_CODE", "TrainResult", "Trainer", "occupancy_loss", "train"]
