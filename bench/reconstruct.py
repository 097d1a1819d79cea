"""Where the time of ``alto reconstruct`` goes, for one object of 3000 points.

Each repeat runs two fresh processes, in turn: the ``alto reconstruct`` command
(wall time end to end), and a probe that does the same work in stages and times
each one: importing torch, importing the rest (alto, trimesh, scipy, skimage),
reading the input, loading the checkpoint, preparing the points, encoding,
decoding (inside the field), extraction outside the decoder (band bookkeeping,
marching cubes, refinement arithmetic) and writing the mesh, once for each of the
attention decoder's inference paths asked for (``--paths``: the default ``blocked``
and the ``reference`` path it replaced), in turn. Medians over the repeats are
printed as a Markdown table.

The input is a demo object (``alto.data.demo``): ``--points`` area-uniform surface
points with Gaussian noise 0.005 (ALTO's ShapeNet inputs), scaled by 2 and moved off
the origin, so the object frame is exercised.

Run:  .venv/bin/python bench/reconstruct.py --checkpoint CKPT [--repeats 5] [--threads N]
(see docs/benchmarks_extract.md; a demo checkpoint: ``alto data demo data/demo`` then
``alto train config/experiments/demo_alto_objects.yaml``)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Noise of ALTO's ShapeNet inputs, in units of the object's longest side.
INPUT_NOISE = 0.005
#: The input's own frame: scale and offset applied to the unit-frame object.
INPUT_SCALE, INPUT_OFFSET = 2.0, (1.0, 2.0, 3.0)

PROBE = r"""
import json, sys, time
started = time.perf_counter()
import torch
torch_done = time.perf_counter()
threads = int(sys.argv[4])
if threads > 0:
    torch.set_num_threads(threads)
from alto.mesh import write_mesh
from alto.reconstruction import Reconstructor, load_model, read_point_cloud
imported = time.perf_counter()
points = read_point_cloud(sys.argv[1])
read = time.perf_counter()
model = load_model(sys.argv[2])
if hasattr(model.decoder, "inference_path"):
    model.decoder.inference_path = sys.argv[5]
loaded = time.perf_counter()
result = Reconstructor(model).run(points)
ran = time.perf_counter()
write_mesh(result.mesh, sys.argv[3])
written = time.perf_counter()
stages = {"import torch": torch_done - started, "import the rest": imported - torch_done, "read input": read - imported,
          "load checkpoint": loaded - read, **result.seconds, "write mesh": written - ran}
stages["sum"] = written - started
print(json.dumps({"stages": stages, "faces": len(result.mesh.faces)}))
"""


def make_input(path: Path, points: int, category: str, seed: int) -> None:
    """A noisy scan of demo object 0 of ``category`` in a frame of its own, as ``.npy``."""
    from alto.data.demo.objects import make_demo_object

    rng = np.random.default_rng(seed)
    surface, _ = make_demo_object(category, 0, seed).solid.sample_surface(points, rng)
    noisy = surface + rng.normal(0.0, INPUT_NOISE, surface.shape)
    np.save(path, noisy * INPUT_SCALE + np.asarray(INPUT_OFFSET))


def run(command: list[str], env: dict[str, str]) -> str:
    """Run ``command``; its stdout, or SystemExit with the end of its stderr."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="an ALTO checkpoint (e.g. the demo's)")
    parser.add_argument("--points", type=int, default=3000, help="input points")
    parser.add_argument("--category", default="03001627", help="demo category of the object (default: chair)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the probe (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--paths", default="blocked,reference", help="attention decoder inference paths to probe (comma-separated)"
    )
    args = parser.parse_args(argv)
    paths = args.paths.split(",")

    alto = str(Path(sys.executable).with_name("alto"))
    with tempfile.TemporaryDirectory() as scratch:
        source, mesh = Path(scratch) / "scan.npy", Path(scratch) / "mesh.ply"
        make_input(source, args.points, args.category, args.seed)
        env = dict(os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads > 0 else {}))
        walls: list[float] = []
        stages: dict[str, list[dict[str, float]]] = {path: [] for path in paths}
        faces = 0
        load_before = os.getloadavg()[0]
        for _ in range(args.repeats):
            started = time.perf_counter()
            run([alto, "reconstruct", str(source), "-m", args.checkpoint, "-o", str(mesh)], env)
            walls.append(time.perf_counter() - started)
            for path in paths:
                probe = [str(source), args.checkpoint, str(mesh), str(args.threads), path]
                command = [sys.executable, "-c", PROBE, *probe]
                record = json.loads(run(command, env).strip().splitlines()[-1])
                stages[path].append(record["stages"])
                faces = record["faces"]
        load_after = os.getloadavg()[0]

    threads = args.threads or "default"
    print(f"{args.points} points, demo category {args.category}, {faces:,} faces; torch threads {threads}; "
          f"{os.cpu_count()} cores, 1-minute load {load_before:.1f} before / {load_after:.1f} after; "
          f"median of {args.repeats}")
    print()
    print("| stage | " + " | ".join(f"seconds, {path} path" for path in paths) + " |")
    print("|---|" + "---|" * len(paths))
    print(f"| `alto reconstruct`, end to end | {statistics.median(walls):.2f} |" + " |" * (len(paths) - 1))
    for name in stages[paths[0]][0]:
        cells = [f"{statistics.median(s[name] for s in stages[path]):.2f}" for path in paths]
        print(f"| probe: {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
