"""The dataset folder layout: categories, ``metadata.yaml`` and split lists.

::

    <root>/
      metadata.yaml            optional: {category: {id: ..., name: ...}} (ShapeNet: JSON syntax)
      <category>/
        train.lst val.lst test.lst   one model folder name per line
        <model>/                     the model's sample files

Reading follows Occupancy Networks / ConvONet, with two changes: the metadata is
read with ``yaml.safe_load`` (upstream's bare ``yaml.load`` fails on PyYAML 6),
and categories found by listing the folder are sorted, so category indices do
not depend on the file system's listing order.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from alto.errors import DataError
from alto.io import atomic_write

__all__ = [
    "METADATA_FILE",
    "OBJECT_SPLIT",
    "SPLITS",
    "Category",
    "check_fractions",
    "list_categories",
    "read_metadata",
    "read_split",
    "split_counts",
    "split_file",
    "write_metadata",
    "write_split",
]

logger = logging.getLogger(__name__)

#: File of category ids and names at the dataset root (optional).
METADATA_FILE = "metadata.yaml"
#: Split names of the layout, in their conventional order.
SPLITS = ("train", "val", "test")
#: Default train/val/test fractions of objects: Occupancy Networks' ``create_split.py``
#: (``--r_val 0.1 --r_test 0.2``).
OBJECT_SPLIT = (0.7, 0.1, 0.2)
#: Slack when flooring ``n * fraction``: 10 * 0.3 is 2.9999999999999996 in floating point.
_FLOOR_SLACK = 1e-9
#: How far from 1 the sum of split fractions may be (fractions typed with a few decimals).
_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Category:
    """A category folder: its ``id`` (folder name), display ``name`` and ``index`` in the dataset."""

    id: str
    name: str
    index: int


def list_categories(root: Path) -> list[str]:
    """Sorted names of the sub-folders of ``root`` (the categories when none are configured)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_metadata(root: Path, categories: Sequence[str]) -> list[Category]:
    """The :class:`Category` of each of ``categories``, named from ``root/metadata.yaml`` if present.

    A category without a name (no metadata file, as for the rooms, or no entry in it)
    is named by its id, as upstream's evaluation names the room classes: upstream's
    dataset calls them all ``n/a``, which would merge them in per-class tables.
    """
    path = Path(root) / METADATA_FILE
    names: Mapping[str, object] = {}
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise DataError(f"{path}: cannot parse the metadata file ({err})") from err
        if not isinstance(loaded, dict):
            raise DataError(f"{path}: expected a mapping {{category: {{id, name}}}}, got {type(loaded).__name__}")
        names = loaded
    out = []
    for index, cat in enumerate(categories):
        entry = names.get(cat)
        if path.is_file() and entry is None:
            logger.warning("%s has no entry for category %r; naming it by its id", path, cat)
        if entry is not None and not (isinstance(entry, dict) and isinstance(entry.get("name", ""), str)):
            raise DataError(f"{path}: entry {cat!r} must be a mapping with a string 'name', got {entry!r}")
        name = entry.get("name", cat) if entry else cat
        out.append(Category(id=cat, name=name, index=index))
    return out


def split_file(root: Path, category: str, split: str) -> Path:
    """Path of the split list ``<root>/<category>/<split>.lst``."""
    return Path(root) / category / f"{split}.lst"


def read_split(root: Path, category: str, split: str | None) -> list[str]:
    """Model names of ``category`` in ``split``; with ``split=None`` every model sub-folder (sorted).

    Blank lines and surrounding whitespace (e.g. Windows line ends) are dropped.
    """
    folder = Path(root) / category
    if not folder.is_dir():
        raise DataError(f"{folder}: category folder not found (category {category!r} of {root})")
    if split is None:
        return sorted(p.name for p in folder.iterdir() if p.is_dir())
    path = split_file(root, category, split)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise DataError(f"{path}: split list not found (expected one model name per line)") from err
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the split list ({err})") from err
    return [line.strip() for line in text.splitlines() if line.strip()]


def write_split(root: Path, category: str, split: str, models: Sequence[str]) -> None:
    """Write ``<root>/<category>/<split>.lst``: one model name per line."""
    with atomic_write(split_file(root, category, split), encoding="utf-8") as f:
        f.write("\n".join(models) + ("\n" if models else ""))


def write_metadata(root: Path, names: Mapping[str, str]) -> None:
    """Write ``metadata.yaml`` in ShapeNet's JSON syntax: ``{id: {"id": id, "name": name}}``."""
    content = {cat: {"id": cat, "name": name} for cat, name in names.items()}
    with atomic_write(Path(root) / METADATA_FILE, encoding="utf-8") as f:
        f.write(json.dumps(content, indent=2) + "\n")


def check_fractions(fractions: Sequence[float]) -> None:
    """Raise :class:`ValueError` unless ``fractions`` are non-negative and sum to 1."""
    if not fractions or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=_SUM_TOLERANCE):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {list(fractions)}")


def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` items by ``fractions`` (one per split; the first split takes the rest).

    Every later split gets ``floor(n * fraction)`` items, but at least one when its
    fraction is positive and enough items remain, so a small dataset still has
    validation and test items; e.g. 1000 by (.75, .05, .2) gives (750, 50, 200)
    and 10 gives (7, 1, 2).
    """
    check_fractions(fractions)
    counts = [0] * len(fractions)
    remaining = n
    keep_first = 1 if fractions[0] > 0 else 0  # the first split keeps an item when it has a share
    for i in range(len(fractions) - 1, 0, -1):
        want = math.floor(n * fractions[i] + _FLOOR_SLACK)
        if fractions[i] > 0 and want == 0 and remaining > keep_first:
            want = 1
        counts[i] = min(want, max(remaining - keep_first, 0))
        remaining -= counts[i]
    counts[0] = remaining
    return counts
