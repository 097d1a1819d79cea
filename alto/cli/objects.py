"""Test objects for ``alto generate`` and ``alto evaluate``: which ones, loaded how.

Both commands take objects as ``--object CATEGORY/MODEL`` (a chunk of the workflow
passes many), select them from the test split of the dataset in one way
(:func:`select_test_objects`), read the next object's data in a background thread
while the current one is worked on (:func:`prefetched`), and log one progress line
per object with an estimate of the time left (:class:`ProgressLog`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from alto.config import ExperimentConfig, as_experiment
from alto.data.dataset import ModelInfo, ShapeDataset
from alto.errors import InputError

__all__ = ["ProgressLog", "TestObjects", "prefetched", "select_test_objects", "split_object"]

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")
#: an object of a split: (category folder, model folder)
ObjectKey = tuple[str, str]


def split_object(spec: str) -> tuple[str, str]:
    """``'category/model'`` -> ``('category', 'model')``."""
    category, sep, model = spec.partition("/")
    if not sep or not category or not model or "/" in model:
        raise InputError(f"object {spec!r}: expected CATEGORY/MODEL, e.g. 02691156/1a04e3eab45ca15dd86060f189eb133")
    return category, model


@dataclass(frozen=True)
class TestObjects:
    """The selected objects of a test split and the dataset that loads them."""

    dataset: ShapeDataset
    """The test split, limited to the categories of the selected objects."""
    selected: list[ObjectKey]
    """The objects to work on, in the order asked for (the whole split when none was named)."""
    index: dict[ObjectKey, int]
    """Item of ``dataset`` of every object of the (limited) split."""

    def info(self, key: ObjectKey) -> ModelInfo:
        """Category name and folders of ``key``."""
        return self.dataset.model_info(self.index[key])

    def load(self, key: ObjectKey) -> dict[str, Any]:
        """The dataset item of ``key`` (its inputs drawn with the object's own seed)."""
        return self.dataset[self.index[key]]


def select_test_objects(cfg: ExperimentConfig | Mapping[str, Any], specs: Sequence[str]) -> TestObjects:
    """The objects ``specs`` (``CATEGORY/MODEL``; none: all) of the test split the config's ``data`` describes.

    Only the named objects' categories are listed, so a chunk of a large split does not
    read every category's list; an object missing from the split is an error naming it.
    """
    from alto.data import build_dataset

    wanted = [split_object(spec) for spec in specs]
    experiment = as_experiment(cfg)
    if wanted:
        experiment = experiment.with_overrides({"data": {"classes": sorted({category for category, _ in wanted})}})
    dataset = build_dataset(experiment, "test")
    index = {(info.category, info.model): i for i, info in enumerate(map(dataset.model_info, range(len(dataset))))}
    missing = [f"{c}/{m}" for c, m in wanted if (c, m) not in index]
    if missing:
        raise InputError(f"not in the test split of {experiment.data.path}: {', '.join(missing)}")
    return TestObjects(dataset, wanted or list(index), index)


def prefetched(items: Sequence[Item], load: Callable[[Item], Loaded]) -> Iterator[tuple[Item, Loaded]]:
    """``(item, load(item))`` in order, the next item loading in a background thread
    while the caller works on the current one."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        pending = pool.submit(load, items[0])
        for position, item in enumerate(items):
            loaded = pending.result()
            if position + 1 < len(items):
                pending = pool.submit(load, items[position + 1])
            yield item, loaded


class ProgressLog:
    """One log line per object: ``n/N category/model: ..., s, ETA`` over the objects worked on."""

    def __init__(self, total: int, logger: logging.Logger) -> None:
        self.total = total
        self.logger = logger
        self.done = 0
        self.worked = 0
        self.work_seconds = 0.0
        self._started = time.perf_counter()

    def start(self) -> None:
        """Mark the start of the next object."""
        self._started = time.perf_counter()

    def skipped(self, name: str, reason: str) -> None:
        self.done += 1
        self.logger.info("%d/%d %s: skipped (%s)", self.done, self.total, name, reason)

    def finished(self, name: str, summary: str) -> None:
        seconds = time.perf_counter() - self._started
        self.done += 1
        self.worked += 1
        self.work_seconds += seconds
        eta = self.work_seconds / self.worked * (self.total - self.done)
        self.logger.info("%d/%d %s: %s, %.2f s, ETA %.0f s", self.done, self.total, name, summary, seconds, eta)

