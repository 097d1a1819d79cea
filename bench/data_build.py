"""Time the demo dataset build and item loading.

Builds the demo (objects, then rooms, as ``alto data demo`` does) with the
given sizes (default: :class:`~alto.data.demo.DemoConfig`'s) into a
temporary folder, then reports the build time of the objects and the rooms,
the size on disk, and the time to load items through
:func:`alto.data.build_dataset` in each mode (median over items).

    .venv/bin/python bench/data_build.py --workers 2
    .venv/bin/python bench/data_build.py --workers 2 --objects-per-category 10 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from alto.data import build_dataset
from alto.data.demo import DemoConfig
from alto.data.demo.objects import build_objects
from alto.data.demo.rooms import build_rooms
from alto.io import atomic_write

#: Items loaded per mode for the loading times.
ITEMS_TIMED = 20


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20


def _load_times(root: Path, mode: str) -> float:
    cfg = {"data": {"path": str(root), "input_type": "pointcloud", "pointcloud_n": 3000,
                    "pointcloud_noise": 0.005, "points_subsample": 2048}}  # fmt: skip
    dataset = build_dataset(cfg, mode)
    times = []
    for i in range(min(ITEMS_TIMED, len(dataset))):
        start = time.perf_counter()
        dataset[i]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = DemoConfig()
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--objects-per-category", type=int, default=d.objects_per_category)
    parser.add_argument("--rooms-per-class", type=int, default=d.rooms_per_class)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    ns = parser.parse_args()
    config = replace(d, workers=ns.workers, objects_per_category=ns.objects_per_category,
                     rooms_per_class=ns.rooms_per_class)  # fmt: skip
    config.validate()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        build_objects(out / "objects", config)
        objects_s = time.perf_counter() - start
        start = time.perf_counter()
        build_rooms(out / "rooms", config)
        rooms_s = time.perf_counter() - start
        numbers = {
            "config": {k: v for k, v in asdict(config).items() if k != "categories"},
            "objects_seconds": round(objects_s, 2),
            "rooms_seconds": round(rooms_s, 2),
            "total_seconds": round(objects_s + rooms_s, 2),
            "objects_mb": round(_size_mb(out / "objects"), 1),
            "rooms_mb": round(_size_mb(out / "rooms"), 1),
            "item_seconds": {mode: round(_load_times(out / "objects", mode), 4) for mode in ("train", "val", "test")},
        }
    text = json.dumps(numbers, indent=2)
    print(text)
    if ns.json is not None:
        with atomic_write(ns.json) as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
