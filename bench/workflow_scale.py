"""Time planning the workflow at the paper's size, without any data.

Fabricates, in a temporary working directory, what a run of ``config/paper.yaml``
has on disk once every experiment is trained: the dataset stamps, split lists of
the real lengths (ShapeNet's 8751 test objects in 13 classes, Synthetic Rooms' 1000
scenes in 5 classes, a few hundred ScanNet scenes), the extensions stamp and every
experiment's ``train_summary.json``, all with old modification times. Then it times

* ``snakemake -n all``: planning every generation, evaluation, table and figure job;
* ``snakemake -n all`` again after fabricating every output of that plan (and the
  per-object meshes and records): the no-op rerun every later invocation pays.

Peak memory is the maximum resident set of the Snakemake process (``wait4``).
``--tree`` points at another checkout (e.g. one of the commit before a change) to
measure it with the same layout and the same command:

    .venv/bin/python bench/workflow_scale.py
    .venv/bin/python bench/workflow_scale.py --tree /tmp/alto-before
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
#: The 13 ShapeNet classes of the Occupancy Networks split, and its test size.
SHAPENET_CLASSES = ("02691156", "02828884", "02933112", "02958343", "03001627", "03211117", "03636649",
                    "03691459", "04090263", "04256520", "04379243", "04401088", "04530566")
SHAPENET_TEST_OBJECTS = 8751
#: Synthetic Rooms: 5 classes of 200 test scenes.
ROOM_CLASSES = ("rooms_04", "rooms_05", "rooms_06", "rooms_07", "rooms_08")
ROOMS_PER_CLASS = 200
#: ScanNet v2 scenes evaluated (its validation split has 312).
SCANNET_SCENES = 312
#: Modification times: inputs long ago, the outputs of the fabricated run now (newer
#: than the workflow's own scripts, which Snakemake compares with their outputs).
INPUT_MTIME = time.time() - 7 * 24 * 3600


def _touch(path: Path, mtime: float, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def _object_id(category: str, index: int) -> str:
    """A ShapeNet-like 32-hex-digit model id, the same on every run."""
    return hashlib.md5(f"{category}/{index}".encode()).hexdigest()


def split_lines(dataset: str) -> list[str]:
    """``category/object`` lines of the fabricated test split of ``dataset``."""
    if dataset == "shapenet":
        per_class, extra = divmod(SHAPENET_TEST_OBJECTS, len(SHAPENET_CLASSES))
        return [f"{c}/{_object_id(c, i)}" for n, c in enumerate(SHAPENET_CLASSES)
                for i in range(per_class + (n < extra))]
    if dataset == "synthetic_rooms":
        return [f"{c}/{i:08d}" for c in ROOM_CLASSES for i in range(ROOMS_PER_CLASS)]
    return [f"scenes/scene{i:04d}_00" for i in range(SCANNET_SCENES)]


def fabricate_trained(workdir: Path, tree: Path, config: dict) -> dict[str, list[str]]:
    """The on-disk state of ``config`` once everything is trained; returns the split lines."""
    shutil.copytree(tree / "config", workdir / "config")
    for file in (workdir / "config").rglob("*"):
        os.utime(file, (INPUT_MTIME, INPUT_MTIME))
    splits = {name: split_lines(name) for name in config["datasets"]}
    scannet = config["datasets"]["scannet"]
    for line in splits["scannet"]:
        scene = line.split("/")[1]
        (workdir / scannet["scans"] / scene).mkdir(parents=True, exist_ok=True)
        _touch(workdir / scannet["path"] / "scenes" / scene / "pointcloud.npz", INPUT_MTIME)
    for name, lines in splits.items():
        _touch(workdir / "results" / "datasets" / f"{name}.json", INPUT_MTIME, "{}")
        _touch(workdir / "results" / "splits" / f"{name}.txt", INPUT_MTIME + 60, "\n".join(lines) + "\n")
    _touch(workdir / "results" / "build" / "extensions.json", INPUT_MTIME, "{}")
    for experiment in config["experiments"]:
        _touch(workdir / "results" / "models" / experiment / "train_summary.json", INPUT_MTIME + 120, "{}")
    return splits


def fabricate_finished(workdir: Path, plan: str, config: dict, splits: dict[str, list[str]]) -> int:
    """Every output the dry run ``plan`` lists, plus each object's mesh and record; returns the count."""
    outputs = {path.strip() for line in re.findall(r"^\s+output: (.*)$", plan, flags=re.M)
               for path in line.split(",")}
    for name, dataset in config["datasets"].items():
        experiments = dataset.get("evaluate") or [e for e, exp in config["experiments"].items()
                                                  if exp["dataset"] == name]
        for experiment in experiments:
            for line in splits[name]:
                outputs.update(f"results/meshes/{name}/{experiment}/{line}{suffix}" for suffix in (".ply", ".json"))
    now = time.time()
    for path in outputs:
        _touch(workdir / path, now)
    return len(outputs)


def timed_snakemake(workdir: Path, tree: Path, *args: str) -> tuple[float, float, str]:
    """Seconds, peak resident MB and output of one ``snakemake`` run in ``workdir``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(tree / "Snakefile"), "-d", str(workdir),
               "--configfile", str(workdir / "config" / "paper.yaml"), "--cores", "2", *args]
    with tempfile.TemporaryFile("w+") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read()
    if process.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed ({process.returncode}):\n{text[-4000:]}")
    return seconds, usage.ru_maxrss / 1024, text


def job_total(output: str) -> int:
    """The 'total' line of a dry run's job stats (0 when nothing is to be done)."""
    found = re.search(r"^total\s+(\d+)$", output, flags=re.M)
    return int(found.group(1)) if found else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout whose Snakefile and config/ are timed")
    parser.add_argument("--keep", type=Path, help="fabricate into this (empty) folder and keep it")
    args = parser.parse_args(argv)
    tree = args.tree.resolve()
    config = yaml.safe_load((tree / "config" / "paper.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="alto-scale-") as scratch:
        workdir = args.keep or Path(scratch) / "work"
        splits = fabricate_trained(workdir, tree, config)
        print(f"tree {tree}: " + ", ".join(f"{n} {len(lines)} test objects" for n, lines in splits.items()))
        seconds, peak, plan = timed_snakemake(workdir, tree, "-n", "all")
        print(f"dry run of all:   {seconds:7.1f} s  {peak:7.0f} MB  {job_total(plan)} jobs")
        created = fabricate_finished(workdir, plan, config, splits)
        seconds, peak, again = timed_snakemake(workdir, tree, "-n", "all")
        print(f"no-op rerun:      {seconds:7.1f} s  {peak:7.0f} MB  {job_total(again)} jobs "
              f"({created} files fabricated)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
