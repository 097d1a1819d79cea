"""The dataset of the Occupancy Networks / ConvONet layout (upstream ``Shapes3dDataset``).

An item is a dict built from the dataset's fields: a field returning a dict
``{None: a, 'k': b}`` under the name ``f`` contributes the keys ``f`` and
``f.k``. The dataset is a plain map-style sequence (``__len__``,
``__getitem__``); PyTorch's ``DataLoader`` and its default collate turn items
into batches, so this module needs no torch.

Two deliberate differences from upstream:

* **Seeded sampling.** Every item draws from its own generator. In ``train``
  mode it is seeded by ``(seed, epoch, index)`` (call :meth:`ShapeDataset.set_epoch`
  before each epoch); in ``val``/``test`` mode by ``(seed, category, model)``, so
  an object gets the same input points, noise, IoU jitter and multi-file picks
  whatever the order, batch size or worker count. Each field draws from a stream
  of its own (the field name is part of the key), so adding a field does not
  change another's samples. Upstream draws from the global NumPy state, unseeded
  at test time.
* **Loud failures.** A missing or corrupt file raises
  :class:`~alto.errors.DataError` naming the file, where upstream logs a warning
  and silently drops the object from the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alto.config.defaults import DEFAULT_SEED
from alto.data.fields import Field
from alto.data.layout import Category, list_categories, read_metadata, read_split
from alto.data.seeding import make_rng
from alto.errors import DataError

__all__ = ["MODES", "ModelInfo", "ShapeDataset"]

#: Dataset modes. ``train`` reseeds per epoch; the others per object.
MODES = ("train", "val", "test")


@dataclass(frozen=True)
class ModelInfo:
    """Where an item comes from: its category (id, name, index), model name and folder."""

    category: str
    category_name: str
    category_index: int
    model: str
    model_path: Path


class ShapeDataset:
    """Models of ``categories`` listed in ``<category>/<split>.lst`` under ``root``.

    ``categories=None`` uses every sub-folder of ``root`` (sorted); ``split=None``
    every model sub-folder of each category.
    """

    def __init__(
        self,
        root: str | Path,
        fields: Mapping[str, Field],
        split: str | None,
        categories: Sequence[str] | None = None,
        mode: str = "test",
        seed: int = DEFAULT_SEED,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not fields:
            raise ValueError("a dataset needs at least one field")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.root = Path(root)
        self.fields = dict(fields)
        self.split = split
        self.mode = mode
        self.seed = int(seed)
        self.epoch = 0
        ids = list_categories(self.root) if categories is None else list(categories)
        self.categories: list[Category] = read_metadata(self.root, ids)
        self.models: list[ModelInfo] = [
            ModelInfo(cat.id, cat.name, cat.index, model, self.root / cat.id / model)
            for cat in self.categories
            for model in read_split(self.root, cat.id, split)
        ]

    def __len__(self) -> int:
        return len(self.models)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose draws ``train`` mode makes (no effect in val/test mode)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def model_info(self, index: int) -> ModelInfo:
        """Category, model name and folder of item ``index``."""
        return self.models[index]

    def rng(self, index: int, field_name: str) -> np.random.Generator:
        """The generator that field ``field_name`` of item ``index`` draws from."""
        if self.mode == "train":
            return make_rng(self.seed, "train", self.epoch, index, field_name)
        info = self.models[index]
        return make_rng(self.seed, "object", info.category, info.model, field_name)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.models):
            raise IndexError(f"item {index} out of range for a dataset of {len(self.models)} models")
        info = self.models[index]
        if not info.model_path.is_dir():
            raise DataError(
                f"{info.model_path}: model folder not found (listed in "
                f"{self.root / info.category / f'{self.split}.lst'})"
            )
        item: dict[str, Any] = {}
        for name, field in self.fields.items():
            value = field.load(info.model_path, index, self.rng(index, name))
            if isinstance(value, dict):
                for key, array in value.items():
                    item[name if key is None else f"{name}.{key}"] = array
            else:
                item[name] = value
        return item
