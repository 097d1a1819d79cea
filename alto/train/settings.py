"""Typed view of the training part of an experiment config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alto.config.defaults import DEFAULT_SEED
from alto.errors import ConfigError

__all__ = ["TrainSettings"]


@dataclass(frozen=True)
class TrainSettings:
    """Everything the training loop reads from a validated experiment config.

    ``batch_size`` is the global batch: with ``N`` processes each one takes
    ``batch_size / N`` samples, so the optimisation is the same as one process with
    the whole batch (upstream ALTO's two-GPU ``DataParallel`` split one batch the
    same way).
    """

    out_dir: Path
    seed: int
    batch_size: int
    max_iters: int | None
    max_epochs: int | None
    lr: float
    lr_schedule: str
    lr_cosine_epochs: int
    lr_min: float
    print_every: int
    checkpoint_every: int
    validate_every: int
    backup_every: int
    model_selection_metric: str
    model_selection_mode: str
    n_workers: int
    n_workers_val: int
    device: str
    precision: str
    channels_last: bool
    deterministic: bool
    val_max_objects: int | None
    exit_after: float | None
    tensorboard: bool
    threshold: float
    eval_points_per_chunk: int

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> TrainSettings:
        training = cfg["training"]
        settings = cls(
            out_dir=Path(training["out_dir"]),
            seed=int(cfg.get("seed", DEFAULT_SEED)),
            batch_size=int(training["batch_size"]),
            max_iters=training.get("max_iters"),
            max_epochs=training.get("max_epochs"),
            lr=float(training.get("lr", 1e-4)),
            lr_schedule=training.get("lr_schedule", "constant"),
            lr_cosine_epochs=int(training.get("lr_cosine_epochs", 2500)),
            lr_min=float(training.get("lr_min", 1e-8)),
            print_every=int(training["print_every"]),
            checkpoint_every=int(training["checkpoint_every"]),
            validate_every=int(training["validate_every"]),
            backup_every=int(training["backup_every"]),
            model_selection_metric=training["model_selection_metric"],
            model_selection_mode=training["model_selection_mode"],
            n_workers=int(training["n_workers"]),
            n_workers_val=int(training["n_workers_val"]),
            device=training.get("device", "auto"),
            precision=training.get("precision", "fp32"),
            channels_last=bool(training.get("channels_last", False)),
            deterministic=bool(training.get("deterministic", False)),
            val_max_objects=training.get("val_max_objects"),
            exit_after=training.get("exit_after"),
            tensorboard=bool(training.get("tensorboard", False)),
            threshold=float(cfg["test"]["threshold"]),
            eval_points_per_chunk=int(cfg["generation"]["batch_size"]),
        )
        expected_mode = {"iou": "maximize", "loss": "minimize"}[settings.model_selection_metric]
        if settings.model_selection_mode != expected_mode:
            raise ConfigError(
                f"training.model_selection_mode: '{settings.model_selection_metric}' must be "
                f"'{expected_mode}'d, got '{settings.model_selection_mode}'"
            )
        return settings

    @property
    def selection_sign(self) -> float:
        """+1 when larger values of the selection metric are better, -1 otherwise."""
        return 1.0 if self.model_selection_mode == "maximize" else -1.0
