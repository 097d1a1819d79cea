"""Per-object overhead of a chunk job against one process per object, on the demo.

Builds the demo data (objects and rooms at the demo's sizes, more rooms so that a
chunk of rooms is as long as the paper's), trains the demo's
ConvONet models for a few steps (the overhead does not depend on the weights), then
for each dataset times, as the workflow runs them:

* one ``alto generate`` process for a chunk of N objects, and K single-object processes;
* one ``alto evaluate`` process for the same chunk, and K single-object processes.

Overhead per object = (wall seconds - the model's or evaluator's own seconds) / objects:
the model's seconds are each record's ``total_seconds`` (encode, decode, extraction),
the evaluator's the per-object seconds of the evaluation's progress lines. What is left
is imports, the CUDA/model load, reading the inputs and ground truth, and writing.

    .venv/bin/python bench/chunk_overhead.py --datasets objects --objects 40 --singles 6
    .venv/bin/python bench/chunk_overhead.py --datasets rooms --objects 20 --singles 6
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALTO = [str(Path(sys.executable).parent / "alto")]
#: dataset -> (demo subfolder, experiment config of the demo workflow)
DATASETS = {
    "objects": ("objects", REPO / "config" / "experiments" / "demo_convonet_objects.yaml"),
    "rooms": ("rooms", REPO / "config" / "experiments" / "demo_convonet_rooms.yaml"),
}
#: Training steps of the benchmark models (enough for a checkpoint and a surface).
TRAIN_STEPS = 20
#: A progress line of `alto generate` / `alto evaluate`: "n/N category/model: ..., 1.23 s, ETA 4 s".
PROGRESS = re.compile(r"(\d+)/(\d+) (\S+): .*, ([\d.]+) s, ETA")


@dataclass
class Timing:
    objects: int
    wall: float
    work: float

    @property
    def overhead(self) -> float:
        """Seconds per object outside the model's or evaluator's own work."""
        return (self.wall - self.work) / self.objects


def alto(*args: str | Path) -> tuple[float, str]:
    """Wall seconds and log (stderr) of one ``alto`` process."""
    started = time.perf_counter()
    result = subprocess.run([*ALTO, *map(str, args)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"alto {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return seconds, result.stderr


def generation_seconds(meshes: Path, objects: Sequence[str]) -> float:
    return sum(json.loads((meshes / f"{name}.json").read_text())["total_seconds"] for name in objects)


def evaluation_seconds(log: str) -> float:
    return sum(float(match.group(4)) for match in PROGRESS.finditer(log))


def object_args(objects: Sequence[str]) -> list[str]:
    return [arg for name in objects for arg in ("--object", name)]


def measure(work: Path, name: str, objects: int, singles: int) -> dict[str, Timing]:
    """Chunk and single-process timings of generation and evaluation on one demo dataset."""
    folder, config = DATASETS[name]
    data = work / "data" / folder
    model_dir = work / "models" / name
    steps = [f"training.{key}={TRAIN_STEPS}" for key in ("max_iters", "validate_every", "checkpoint_every")]
    alto("train", config, "--out-dir", model_dir, "--data", data, *[a for s in steps for a in ("--set", s)])
    listing = work / f"{name}.txt"
    alto("data", "list", data, "--split", "test", "--out", listing)
    chosen = sorted(listing.read_text().split())[:objects]
    common = [config, "--data", data]
    checkpoint = ["--checkpoint", model_dir / "model_best.pt"]

    chunk_meshes = work / "chunk" / name
    wall, _ = alto("generate", *common, *checkpoint, *object_args(chosen), "--out-dir", chunk_meshes)
    timings = {"generate, chunk": Timing(len(chosen), wall, generation_seconds(chunk_meshes, chosen))}
    wall, log = alto("evaluate", *common, *object_args(chosen), "--meshes", chunk_meshes, "--out", work / "rows.csv")
    timings["evaluate, chunk"] = Timing(len(chosen), wall, evaluation_seconds(log))

    single_meshes = work / "single" / name
    alone = chosen[:singles]
    walls, logs = [], []
    for obj in alone:
        walls.append(alto("generate", *common, *checkpoint, "--object", obj, "--out-dir", single_meshes)[0])
    timings["generate, one process each"] = Timing(len(alone), sum(walls), generation_seconds(single_meshes, alone))
    walls = []
    for obj in alone:
        wall, log = alto("evaluate", *common, "--object", obj, "--meshes", single_meshes, "--out", work / "one.csv")
        walls.append(wall)
        logs.append(log)
    timings["evaluate, one process each"] = Timing(len(alone), sum(walls), evaluation_seconds("".join(logs)))
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=40, help="objects (rooms) per chunk, at most the test split")
    parser.add_argument("--singles", type=int, default=6, help="objects run one process each")
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=sorted(DATASETS))
    parser.add_argument("--rooms-per-class", type=int, default=30,
                        help="demo rooms per class (a sixth are test rooms; the demo itself has 6)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="alto-chunks-") as scratch:
        work = Path(scratch)
        seconds, _ = alto("data", "demo", work / "data", "--seed", "0", "--mesh-resolution", "0",
                          "--rooms-per-class", str(args.rooms_per_class))
        print(f"demo data: {seconds:.0f} s")
        print("| dataset | run | objects | wall (s) | model/evaluator work (s) | overhead per object (s) |")
        print("|---|---|---|---|---|---|")
        for name in args.datasets:
            for run, timing in measure(work, name, args.objects, args.singles).items():
                print(f"| {name} | {run} | {timing.objects} | {timing.wall:.2f} | {timing.work:.2f} | "
                      f"{timing.overhead:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
