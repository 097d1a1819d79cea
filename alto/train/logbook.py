"""What a training run records in its folder.

* ``metrics.csv``: one row per validation (iteration, epoch, learning rate, mean
  training loss since the previous validation, validation IoU and loss, whether
  it was a new best, wall-clock seconds);
* ``loss.csv``: the mean training loss every ``training.print_every`` iterations;
* ``train_summary.json`` when a run finishes (iterations, epochs, best metric,
  parameter digest): the file the workflow's train rule waits for;
* ``tensorboard/`` when ``training.tensorboard`` is set.

Both CSV files are rewritten atomically, so a killed run never leaves a broken
file; on resume, rows newer than the checkpoint are dropped so the curves
continue without duplicates.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from alto.errors import ConfigError
from alto.io import atomic_write

__all__ = ["Logbook", "Progress"]

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
LOSS_FILE = "loss.csv"
SUMMARY_FILE = "train_summary.json"
METRICS_COLUMNS = ["it", "epoch", "lr", "train_loss", "val_iou", "val_loss", "best", "seconds"]
LOSS_COLUMNS = ["it", "epoch", "lr", "train_loss", "seconds"]


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write_rows(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


class Progress:
    """A tqdm bar on a terminal; nothing otherwise (plain log lines come from the logbook)."""

    def __init__(self, total: int | None, initial: int, interactive: bool) -> None:
        self._bar = tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True) if interactive else None

    def update(self, loss: float, lr: float) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.3g}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class Logbook:
    """Training records of the main process (other processes get a disabled logbook)."""

    def __init__(self, out_dir: Path, enabled: bool = True, tensorboard: bool = False) -> None:
        self.out_dir = out_dir
        self.enabled = enabled
        self._started = time.monotonic()
        # rows read back from the CSV hold strings, rows of this run numbers
        self._metrics: list[dict[str, Any]] = [*_read_rows(out_dir / METRICS_FILE)] if enabled else []
        self._losses: list[dict[str, Any]] = [*_read_rows(out_dir / LOSS_FILE)] if enabled else []
        self._offset = max((float(rows[-1]["seconds"]) for rows in (self._metrics, self._losses) if rows), default=0.0)
        self._writer = None
        if enabled:
            out_dir.mkdir(parents=True, exist_ok=True)
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError as err:
                    raise ConfigError(
                        "training.tensorboard: true needs the 'tensorboard' package (pip install tensorboard)"
                    ) from err
                self._writer = SummaryWriter(str(out_dir / "tensorboard"))

    def _seconds(self) -> float:
        return round(self._offset + time.monotonic() - self._started, 3)

    def truncate_after(self, iteration: int) -> None:
        """Forget rows logged after ``iteration`` (they belong to a run that was lost)."""
        self._metrics = [r for r in self._metrics if int(r["it"]) <= iteration]
        self._losses = [r for r in self._losses if int(r["it"]) <= iteration]

    def progress(self, total: int | None, initial: int, interactive: bool) -> Progress:
        return Progress(total, initial, interactive and self.enabled)

    def train_loss(self, it: int, epoch: int, lr: float, loss: float) -> None:
        if not self.enabled:
            return
        row = {"it": it, "epoch": epoch, "lr": lr, "train_loss": loss, "seconds": self._seconds()}
        self._losses.append(row)
        _write_rows(self.out_dir / LOSS_FILE, LOSS_COLUMNS, self._losses)
        log.info("iteration %d (epoch %d): loss %.4f, lr %.3g", it, epoch, loss, lr)
        if self._writer is not None:
            self._writer.add_scalar("train/loss", loss, it)
            self._writer.add_scalar("train/lr", lr, it)

    def validation(
        self, it: int, epoch: int, lr: float, train_loss: float, metrics: dict[str, float], best: bool
    ) -> None:
        if not self.enabled:
            return
        row = {
            "it": it, "epoch": epoch, "lr": lr, "train_loss": train_loss, "val_iou": metrics["iou"],
            "val_loss": metrics["loss"], "best": int(best), "seconds": self._seconds(),
        }
        self._metrics.append(row)
        _write_rows(self.out_dir / METRICS_FILE, METRICS_COLUMNS, self._metrics)
        if self._writer is not None:
            for name, value in metrics.items():
                self._writer.add_scalar(f"val/{name}", value, it)

    def summary(self, result: Any) -> None:
        """Write ``train_summary.json``: how the finished run ended (the workflow's output)."""
        if not self.enabled:
            return
        record = {**dataclasses.asdict(result), "seconds": self._seconds()}
        with atomic_write(self.out_dir / SUMMARY_FILE) as handle:
            json.dump(record, handle, indent=2)
            handle.write("\n")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
