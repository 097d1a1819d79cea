"""The procedural demo dataset: objects in the ShapeNet layout and synthetic rooms, no downloads.

``build_demo(out, config)`` writes ``out/objects`` (see :mod:`~alto.data.demo.objects`)
and ``out/rooms`` (see :mod:`~alto.data.demo.rooms`). Everything is seeded by
``config.seed`` and item keys, so the same config gives byte-identical files
whatever the number of workers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from alto.data.demo.config import DemoConfig
from alto.data.demo.objects import build_objects
from alto.data.demo.rooms import build_rooms
from alto.data.demo.shapes import DEMO_CATEGORIES, ROOM_CATEGORIES

__all__ = ["DEMO_CATEGORIES", "OBJECTS_DIR", "ROOMS_DIR", "ROOM_CATEGORIES", "DemoConfig", "DemoResult", "build_demo"]

logger = logging.getLogger(__name__)

#: Sub-folders of the demo output: the object dataset and the room dataset.
OBJECTS_DIR = "objects"
ROOMS_DIR = "rooms"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo was written, with what config, and what it contains (category -> split -> names)."""

    config: DemoConfig
    objects_root: Path
    rooms_root: Path | None
    objects: dict[str, dict[str, list[str]]]
    rooms: dict[str, dict[str, list[str]]]


def build_demo(out: str | Path, config: DemoConfig | None = None) -> DemoResult:
    """Write the demo dataset under ``out`` (rooms only if ``config.rooms_per_class`` > 0)."""
    config = config or DemoConfig()
    config.validate()
    out = Path(out)
    start = time.perf_counter()
    objects = build_objects(out / OBJECTS_DIR, config)
    logger.info(
        "wrote %d objects in %d categories to %s (%.1f s)",
        sum(len(m) for splits in objects.values() for m in splits.values()),
        len(objects),
        out / OBJECTS_DIR,
        time.perf_counter() - start,
    )
    rooms: dict[str, dict[str, list[str]]] = {}
    rooms_root = None
    if config.rooms_per_class:
        start = time.perf_counter()
        rooms_root = out / ROOMS_DIR
        rooms = build_rooms(rooms_root, config)
        logger.info(
            "wrote %d rooms in %d classes to %s (%.1f s)",
            sum(len(m) for splits in rooms.values() for m in splits.values()),
            len(rooms),
            rooms_root,
            time.perf_counter() - start,
        )
    return DemoResult(config, out / OBJECTS_DIR, rooms_root, objects, rooms)
