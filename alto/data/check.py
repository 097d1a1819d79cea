"""``alto data check``: validate a dataset folder before training on it.

Every model listed in a split file must have readable occupancy samples
(``points.npz`` or ``points_iou/points_iou_XX.npz``) and surface samples
(``pointcloud.npz`` or ``pointcloud/pointcloud_XX.npz``) with the right keys,
shapes and dtypes, and multi files must be numbered 00, 01, ... without gaps
(the dataset draws their numbers from ``range(multi_files)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alto.data.formats import (
    POINTCLOUD_DIR,
    POINTCLOUD_FILE,
    POINTS_FILE,
    POINTS_IOU_DIR,
    read_occupancy_file,
    read_surface_file,
)
from alto.data.layout import SPLITS, Category, list_categories, read_metadata, read_split
from alto.errors import DataError

__all__ = ["CheckReport", "check_dataset", "check_model"]


@dataclass
class CheckReport:
    """Outcome of :func:`check_dataset`: sizes, counts and the problems found."""

    root: Path
    categories: list[Category] = field(default_factory=list)
    split_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    models_checked: int = 0
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [f"dataset {self.root}: {len(self.categories)} categories"]
        for cat in self.categories:
            sizes = self.split_sizes.get(cat.id, {})
            out.append(f"  {cat.id} ({cat.name}): " + ", ".join(f"{s} {n}" for s, n in sizes.items()))
        out.append(f"checked {self.models_checked} models, {self.files_checked} files: {len(self.problems)} problem(s)")
        out += [f"  {p}" for p in self.problems]
        return out


def _sample_files(model: Path, single: str, folder: str) -> list[Path]:
    """The model's files of one kind: the single file, or the numbered multi files."""
    if (model / single).is_file():
        return [model / single]
    multi = model / folder
    if not multi.is_dir():
        raise DataError(f"{model}: neither {single} nor {folder}/ found")
    pattern = re.compile(rf"{re.escape(folder)}_(\d+)\.npz")
    numbered = sorted((int(m.group(1)), p) for p in multi.iterdir() if (m := pattern.fullmatch(p.name)))
    if not numbered:
        raise DataError(f"{multi}: no {folder}_XX.npz files")
    if [n for n, _ in numbered] != list(range(len(numbered))):
        raise DataError(f"{multi}: files must be numbered 00..{len(numbered) - 1:02d} without gaps")
    return [p for _, p in numbered]


def check_model(model: Path, unpackbits: bool = True, occupancy: bool = True) -> tuple[int, list[str]]:
    """Validate the sample files of one model folder: (files checked, problems).

    ``occupancy=False`` checks the surface samples only (scans such as ScanNet have
    no occupancy ground truth).
    """
    if not model.is_dir():
        return 0, [f"{model}: model folder not found"]
    files, problems = 0, []
    kinds: list[tuple[str, str, Callable[[Path], object]]] = [(POINTCLOUD_FILE, POINTCLOUD_DIR, read_surface_file)]
    if occupancy:
        kinds.insert(0, (POINTS_FILE, POINTS_IOU_DIR, lambda p: read_occupancy_file(p, unpackbits)))
    for single, folder, reader in kinds:
        try:
            paths = _sample_files(model, single, folder)
        except DataError as err:
            problems.append(str(err))
            continue
        for path in paths:
            files += 1
            try:
                reader(path)
            except DataError as err:
                problems.append(str(err))
    return files, problems


def check_dataset(
    root: str | Path,
    splits: tuple[str, ...] = SPLITS,
    unpackbits: bool = True,
    limit: int | None = None,
    occupancy: bool = True,
) -> CheckReport:
    """Check every model of ``splits`` (at most ``limit`` per category and split) under ``root``."""
    report = CheckReport(Path(root))
    report.categories = read_metadata(report.root, list_categories(report.root))
    for cat in report.categories:
        sizes: dict[str, int] = {}
        for split in splits:
            try:
                models = read_split(report.root, cat.id, split)
            except DataError as err:
                report.problems.append(str(err))
                continue
            sizes[split] = len(models)
            for model in models[:limit]:
                files, problems = check_model(report.root / cat.id / model, unpackbits, occupancy)
                report.models_checked += 1
                report.files_checked += files
                report.problems += problems
        report.split_sizes[cat.id] = sizes
    return report
