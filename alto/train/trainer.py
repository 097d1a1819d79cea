"""The training loop: one process on the CPU, or N GPU processes with DDP.

It follows the upstream protocol: binary cross-entropy with logits summed over
the query points and averaged over the batch; Adam; validation IoU on the IoU
points at ``test.threshold``; ``model.pt`` (last) and ``model_best.pt`` (best by
the selection metric) in the upstream checkpoint layout. On top of it:

* runs end (``training.max_iters``) and can stop before a cluster time limit
  (``training.exit_after``, exit code 3 as upstream's ``--exit-after``);
* checkpoints are written atomically and hold the position inside the epoch, so a
  killed run restarted from ``model.pt`` continues exactly as if never stopped;
* every random draw is seeded (model initialisation, batch order, sampling);
* validation is shared between processes; only the main process writes files.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from alto.config import DataConfig, ExperimentConfig, as_experiment
from alto.data import ShapeDataset, build_dataset
from alto.devices import resolve_device
from alto.errors import ConfigError
from alto.models import build_model, load_checkpoint, save_checkpoint
from alto.train.distributed import (
    ProcessInfo,
    check_replicas_identical,
    init_process_group,
    shutdown_process_group,
)
from alto.train.logbook import Logbook
from alto.train.sampler import EpochBatchSampler

__all__ = ["EXIT_AFTER_CODE", "TrainResult", "Trainer", "occupancy_loss", "select_device", "train"]

log = logging.getLogger(__name__)

#: Exit code of a run that stopped because ``training.exit_after`` seconds passed (as upstream).
EXIT_AFTER_CODE = 3
LAST_CHECKPOINT = "model.pt"
BEST_CHECKPOINT = "model_best.pt"


@dataclass(frozen=True)
class TrainResult:
    """How a run ended."""

    iterations: int
    epochs: int
    best_metric: float
    stopped_early: bool
    parameter_digest: str


def select_device(name: str, info: ProcessInfo) -> torch.device:
    """:func:`alto.devices.resolve_device` of ``training.device``; on CUDA each process
    uses the GPU of its local rank."""
    device = resolve_device(name, "training.device", ConfigError)
    if device.type != "cuda":
        return device
    torch.cuda.set_device(info.local_rank)
    return torch.device("cuda", info.local_rank)


def _to_channels_last(model: nn.Module) -> None:
    """Convert 2D and 3D convolution weights to the channels-last memory formats."""
    for module in model.modules():
        # torch's stubs leave out Module.to's memory_format keyword, which it accepts
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        elif isinstance(module, nn.Conv3d | nn.ConvTranspose3d):
            module.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]


def occupancy_loss(logits: torch.Tensor, occupancies: torch.Tensor) -> torch.Tensor:
    """Upstream's loss: BCE with logits summed over the query points, mean over the batch."""
    return F.binary_cross_entropy_with_logits(logits.float(), occupancies, reduction="none").sum(-1).mean()


def _non_empty(dataset: ShapeDataset, data: DataConfig, mode: str) -> ShapeDataset:
    if len(dataset) == 0:
        raise ConfigError(f"data.{mode}_split: the '{data.split(mode)}' split of {data.path} lists no objects")
    return dataset


def _collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return torch.utils.data.default_collate(samples)


class Trainer:
    """Trains one experiment config into ``training.out_dir``."""

    def __init__(self, cfg: ExperimentConfig | Mapping[str, Any]) -> None:
        self.config = as_experiment(cfg)
        #: the ``training`` section (the loop's settings)
        self.settings = self.config.training
        self.info = ProcessInfo.from_env()
        self.device = select_device(self.settings.device, self.info)
        self.info = init_process_group(self.device)
        s = self.settings
        if s.precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("training.precision: fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
        if s.deterministic:
            torch.use_deterministic_algorithms(True)
        self.out_dir = s.out_dir
        self.model = build_model(self.config).to(self.device)  # initialised from the config's seed
        if s.channels_last:
            _to_channels_last(self.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=s.lr)
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=s.lr_cosine_epochs, eta_min=s.lr_min)
            if s.lr_schedule == "cosine"
            else None
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=s.precision == "fp16")
        data = self.config.data
        self.train_set = _non_empty(build_dataset(self.config, "train"), data, "train")
        self.val_set = _non_empty(build_dataset(self.config, "val"), data, "val")
        self.it = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best = -math.inf * s.selection_sign
        self.logbook = Logbook(self.out_dir, enabled=self.info.is_main, tensorboard=s.tensorboard)
        self._resume()
        self.ddp_model: nn.Module = (
            DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            if self.info.distributed
            else self.model
        )

    # ----------------------------------------------------------------------------------------- state
    def _state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch_it": self.epoch,
            "it": self.it,
            "loss_val_best": self.best,
            "batch_in_epoch": self.batch_in_epoch,
        }

    def _save(self, name: str) -> None:
        if self.info.is_main:
            save_checkpoint(self.out_dir / name, self.model, config=self.config.to_dict(), **self._state())

    def _resume(self) -> None:
        path = self.out_dir / LAST_CHECKPOINT
        if not path.exists():
            return
        ckpt = load_checkpoint(path, self.model, map_location=self.device)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.it = int(ckpt["it"])
        self.epoch = int(ckpt["epoch_it"])
        self.batch_in_epoch = int(ckpt.get("batch_in_epoch", 0))
        self.best = float(ckpt["loss_val_best"])
        self.logbook.truncate_after(self.it)
        log.info("resumed from %s at iteration %d (epoch %d, batch %d)", path, self.it, self.epoch,
                 self.batch_in_epoch)

    # ------------------------------------------------------------------------------------------ data
    def _loader(self, epoch: int, start: int) -> DataLoader:
        sampler = EpochBatchSampler(
            len(self.train_set), self.settings.batch_size, self.config.seed, epoch, start,
            rank=self.info.rank, world_size=self.info.world_size,
        )
        self.train_set.set_epoch(epoch)
        # ShapeDataset is a map-style dataset by duck typing (it does not import torch)
        return DataLoader(
            cast(Dataset[dict[str, Any]], self.train_set), batch_sampler=sampler, num_workers=self.settings.n_workers,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
        )

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.batch_in_epoch = 0
        if self.scheduler is not None:
            self.scheduler.step()

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        precision = self.settings.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------------------------------ steps
    def train_step(self, batch: dict[str, Any]) -> float:
        """One optimisation step; returns the batch loss."""
        self.ddp_model.train()
        inputs = batch["inputs"].to(self.device, non_blocking=True)
        points = batch["points"].to(self.device, non_blocking=True)
        occupancies = batch["points.occ"].to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            logits = self.ddp_model(points, inputs)
        loss = occupancy_loss(logits, occupancies)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.detach())

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """IoU (at ``test.threshold``) and mean per-point BCE on the validation IoU points.

        Objects are shared round-robin between processes and the sums reduced, so
        every process returns the same numbers.
        """
        self.model.eval()
        count = len(self.val_set)
        if self.settings.val_max_objects is not None:
            count = min(count, self.settings.val_max_objects)
        threshold = self.config.test.threshold
        threshold_logit = math.log(threshold / (1.0 - threshold))
        chunk = self.config.generation.batch_size
        totals = torch.zeros(3, dtype=torch.float64)  # IoU sum, loss sum, objects with a defined IoU
        for index in range(self.info.rank, count, self.info.world_size):
            sample = _collate([self.val_set[index]])
            inputs = sample["inputs"].to(self.device)
            points = sample["points_iou"].to(self.device)
            occupancies = sample["points_iou.occ"].to(self.device)
            with self._autocast():
                features = self.model.encode(inputs)
                logits = torch.cat(
                    [self.model.decode(points[:, i : i + chunk], features).float()
                     for i in range(0, points.shape[1], chunk)],
                    dim=1,
                )
            truth = occupancies >= 0.5
            predicted = logits >= threshold_logit
            union = (truth | predicted).sum()
            if union > 0:
                totals[0] += float((truth & predicted).sum() / union)
                totals[2] += 1
            totals[1] += float(F.binary_cross_entropy_with_logits(logits, occupancies))
        if self.info.distributed:
            torch.distributed.all_reduce(totals)
        return {
            "iou": float(totals[0] / totals[2]) if totals[2] > 0 else math.nan,
            "loss": float(totals[1] / max(count, 1)),
        }

    # ------------------------------------------------------------------------------------------- loop
    def _validate_and_select(self, train_loss: float) -> None:
        metrics = self.validate()
        metric = metrics[self.settings.model_selection_metric]
        improved = not math.isnan(metric) and self.settings.selection_sign * (metric - self.best) > 0
        if improved:
            self.best = metric
        self.logbook.validation(self.it, self.epoch, self._lr(), train_loss, metrics, improved)
        log.info("iteration %d: validation iou %.4f, loss %.4f%s", self.it, metrics["iou"], metrics["loss"],
                 " (new best)" if improved else "")
        if improved:
            self._save(BEST_CHECKPOINT)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _finished(self) -> bool:
        s = self.settings
        return (s.max_iters is not None and self.it >= s.max_iters) or (
            s.max_epochs is not None and self.epoch >= s.max_epochs
        )

    def fit(self) -> TrainResult:
        """Train until ``max_iters`` / ``max_epochs`` (or ``exit_after`` seconds); report how it ended.

        ``it``, ``epoch`` and ``batch_in_epoch`` only ever count batches that were
        trained on, so a checkpoint taken at any point resumes at the next batch.
        """
        s = self.settings
        started = time.monotonic()
        stopped_early = False
        progress = self.logbook.progress(total=s.max_iters, initial=self.it,
                                         interactive=self.info.is_main and sys.stderr.isatty())
        running_loss, running_count = 0.0, 0
        last_validation = self.it if (self.out_dir / BEST_CHECKPOINT).exists() else -1
        try:
            while not self._finished() and not stopped_early:
                for batch in self._loader(self.epoch, self.batch_in_epoch):
                    loss = self.train_step(batch)
                    self.it += 1
                    self.batch_in_epoch += 1
                    running_loss += loss
                    running_count += 1
                    progress.update(loss, self._lr())
                    if self.it % s.print_every == 0:
                        self.logbook.train_loss(self.it, self.epoch, self._lr(), running_loss / running_count)
                    if self.it % s.validate_every == 0:
                        self._validate_and_select(running_loss / running_count)
                        running_loss, running_count = 0.0, 0
                        last_validation = self.it
                    if self.it % s.checkpoint_every == 0:
                        self._save(LAST_CHECKPOINT)
                    if self.it % s.backup_every == 0:
                        self._save(f"model_{self.it}.pt")
                    stopped_early = s.exit_after is not None and time.monotonic() - started > s.exit_after
                    if stopped_early or self._finished():
                        break
                else:
                    self._end_epoch()
        finally:
            progress.close()
        if not stopped_early and last_validation != self.it:
            self._validate_and_select(running_loss / max(running_count, 1))
        self._save(LAST_CHECKPOINT)
        digest = check_replicas_identical(self.model, self.info)
        result = TrainResult(self.it, self.epoch, self.best, stopped_early, digest)
        log.info("%s after %d iterations (%d epochs); best %s %.4f; parameters %s",
                 "stopped (exit_after)" if stopped_early else "finished", self.it, self.epoch,
                 s.model_selection_metric, self.best, digest[:12])
        if not stopped_early:
            self.logbook.summary(result)
        self.logbook.close()
        return result


def train(cfg: ExperimentConfig | Mapping[str, Any]) -> TrainResult:
    """Train ``cfg`` in this process (joining a ``torchrun`` group if there is one)."""
    trainer = Trainer(cfg)
    try:
        result = trainer.fit()
    except BaseException:
        shutdown_process_group()
        raise
    shutdown_process_group(synchronize=True)
    return result

