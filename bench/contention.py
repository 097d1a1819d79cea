"""Speed beside other processes: decoding and ``alto reconstruct`` on an idle machine,
beside a busy loop and beside a numpy process, with alto's thread policy off and on.

The model is the demo ALTO triplane model (config/experiments/demo_alto_objects.yaml),
seeded and fitted for a few hundred steps to a torus whose bounding box is the unit
frame, so that its field has one surface where the object is (a model with random
weights has surface almost everywhere, and extraction would measure that instead).
The input is 3000 noisy points on that torus. Both are written to ``--workdir`` once
and reused when they are there.

Every measurement runs in a fresh process, whose environment carries no thread
settings except the policy's:

* ``off``: ``ALTO_THREAD_POLICY=off``, torch's and OpenMP's defaults (the behaviour
  before :mod:`alto.threads`: threads that spin at every barrier);
* ``on``: alto's default (:mod:`alto.threads`);
* ``on-1``: alto's default with ``ALTO_NUM_THREADS=1``, for comparison.

and each measurement is two numbers: ``decode``, the median of ``--repeats`` decodes of
100k points (in a process that loaded the model and encoded the input first), and
``reconstruct``, the wall time of ``alto reconstruct`` end to end. The loads beside
them are ``idle`` (nothing of ours), ``busy`` (one Python ``while True`` loop) and
``numpy`` (one process multiplying 1500 x 1500 matrices on one thread). Rounds go
through every load and policy in turn, so that other work on the machine falls on all
of them alike; the table gives medians over the rounds and each time over the same
policy's idle time.

    .venv/bin/python bench/contention.py                       # 3 rounds, off and on
    .venv/bin/python bench/contention.py --rounds 1 --policies on,on-1 --loads idle,busy
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from alto.threads import (
    ALTO_THREADS_VAR,
    CHOSEN_VAR,
    OMP_THREADS_VAR,
    POLICY_OFF,
    POLICY_VAR,
    WAIT_POLICY_VAR,
    configure_threads,
)

logger = logging.getLogger("bench.contention")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "experiments" / "demo_alto_objects.yaml"
SEED = 0
#: the input: points on the torus, with the noise of ALTO's ShapeNet inputs
INPUT_POINTS, INPUT_NOISE = 3000, 0.005
#: the torus: centred, 1 wide in x and z (the unit frame alto reconstruct puts it in)
TORUS_MAJOR, TORUS_MINOR = 0.35, 0.15
#: fitting: Adam steps, learning rate, query points per step (half uniform, half near the surface)
FIT_STEPS, FIT_LEARNING_RATE, FIT_QUERIES = 300, 1e-3, 4096
#: the queries' box (the model's padded unit cube) and the spread of the near-surface ones
QUERY_HALF_EXTENT, NEAR_SURFACE_SIGMA = 0.55, 0.02
#: decode: query points and the points of the warm-up decode
DECODE_POINTS, WARMUP_POINTS = 100_000, 5000
#: seconds a load process runs before the measurements beside it start
LOAD_WARMUP_SECONDS = 1.0
#: the thread settings a measurement's process starts without (the policy sets its own)
THREAD_VARS = (WAIT_POLICY_VAR, OMP_THREADS_VAR, CHOSEN_VAR, POLICY_VAR, ALTO_THREADS_VAR, "GOMP_SPINCOUNT",
               "MKL_NUM_THREADS")
POLICIES: dict[str, dict[str, str]] = {
    "off": {POLICY_VAR: POLICY_OFF},
    "on": {},
    "on-1": {ALTO_THREADS_VAR: "1"},
}
LOADS: dict[str, str | None] = {
    "idle": None,
    "busy": "while True:\n    pass\n",
    "numpy": "import numpy as np\na = np.random.default_rng(0).random((1500, 1500))\nwhile True:\n    a @ a\n",
}
#: environment of the load processes: numpy's BLAS on one thread (one busy core)
LOAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DECODE_MARKER = "DECODE_SECONDS"
RECONSTRUCT_DECODE = re.compile(r"decode ([0-9.]+) s")


def prepare(workdir: Path) -> tuple[Path, Path]:
    """The fitted checkpoint and the input points (3000, 3) in ``workdir``, made once."""
    checkpoint, inputs = workdir / "alto_demo_torus.pt", workdir / "torus_3000.npy"
    if checkpoint.is_file() and inputs.is_file():
        return checkpoint, inputs
    import torch  # on use, after alto (which sets OpenMP's wait policy before torch loads it)
    import torch.nn.functional as F

    from alto.config import load_config
    from alto.mesh.analytic import Torus, surface_points
    from alto.models import build_model, save_checkpoint

    configure_threads()
    rng = np.random.default_rng(SEED)
    torus = Torus(major=TORUS_MAJOR, minor=TORUS_MINOR)
    points = surface_points(torus, INPUT_POINTS, rng) + rng.normal(0, INPUT_NOISE, (INPUT_POINTS, 3))
    model = build_model(load_config(CONFIG))
    optimizer = torch.optim.Adam(model.parameters(), lr=FIT_LEARNING_RATE)
    cloud = torch.as_tensor(points, dtype=torch.float32)[None]
    started = time.perf_counter()
    for step in range(FIT_STEPS):
        near = surface_points(torus, FIT_QUERIES // 2, rng) + rng.normal(0, NEAR_SURFACE_SIGMA, (FIT_QUERIES // 2, 3))
        uniform = rng.uniform(-QUERY_HALF_EXTENT, QUERY_HALF_EXTENT, (FIT_QUERIES - len(near), 3))
        queries = torch.as_tensor(np.concatenate([near, uniform]), dtype=torch.float32)
        labels = (torus.distance(queries) < 0).float()
        loss = F.binary_cross_entropy_with_logits(model(queries[None], cloud)[0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == FIT_STEPS - 1:
            logger.info("fitting step %d/%d: loss %.4f (%.0f s)", step + 1, FIT_STEPS, loss.item(),
                        time.perf_counter() - started)
    workdir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(checkpoint, model.eval(), it=FIT_STEPS)
    np.save(inputs, points.astype(np.float32))
    return checkpoint, inputs


def decode_worker(checkpoint: Path, inputs: Path, repeats: int) -> None:
    """Load, encode, decode 100k points ``repeats`` times; print the seconds (one line)."""
    configure_threads()
    import torch

    from alto.models import load_checkpoint

    model = load_checkpoint(checkpoint)["model"].eval()
    generator = torch.Generator().manual_seed(SEED)
    queries = (torch.rand(1, DECODE_POINTS, 3, generator=generator) - 0.5) * 2 * QUERY_HALF_EXTENT
    seconds = []
    with torch.no_grad():
        features = model.encode(torch.as_tensor(np.load(inputs))[None])
        model.decode(queries[:, :WARMUP_POINTS], features)
        for _ in range(repeats):
            started = time.perf_counter()
            model.decode(queries, features)
            seconds.append(time.perf_counter() - started)
    print(DECODE_MARKER, json.dumps({"seconds": seconds, "threads": torch.get_num_threads()}))


def _environment(policy: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARS}
    return {**env, **POLICIES[policy]}


def measure_decode(policy: str, checkpoint: Path, inputs: Path, repeats: int, timeout: float) -> float:
    """Median seconds of a 100k-point decode in a fresh process under ``policy``; inf on timeout."""
    command = [sys.executable, __file__, "--decode-worker", "--checkpoint", str(checkpoint), "--inputs", str(inputs),
               "--repeats", str(repeats)]
    try:
        done = subprocess.run(command, env=_environment(policy), capture_output=True, text=True, timeout=timeout,
                              check=True)
    except subprocess.TimeoutExpired:
        return float("inf")
    line = next(line for line in done.stdout.splitlines() if line.startswith(DECODE_MARKER))
    return statistics.median(json.loads(line.removeprefix(DECODE_MARKER))["seconds"])


def measure_reconstruct(policy: str, checkpoint: Path, inputs: Path, output: Path, timeout: float) -> float:
    """Wall seconds of ``alto reconstruct`` end to end under ``policy``; inf on timeout."""
    command = [sys.executable, "-m", "alto", "reconstruct", str(inputs), "-m", str(checkpoint), "-o", str(output)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=_environment(policy), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"alto reconstruct failed ({done.returncode}):\n{done.stderr[-2000:]}")
    logger.debug("%s", done.stdout.strip())
    return seconds


def _start_load(name: str) -> subprocess.Popen[bytes] | None:
    code = LOADS[name]
    if code is None:
        return None
    process = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **LOAD_ENV})
    time.sleep(LOAD_WARMUP_SECONDS)
    return process


def run(args: argparse.Namespace) -> dict[str, dict[str, dict[str, list[float]]]]:
    """times[load][policy][measure] over the rounds."""
    checkpoint, inputs = prepare(args.workdir)
    measures = ["decode"] + ([] if args.skip_reconstruct else ["reconstruct"])
    times = {load: {policy: {m: [] for m in measures} for policy in args.policies} for load in args.loads}
    for round_ in range(args.rounds):
        for load in args.loads:
            background = os.getloadavg()[0]
            process = _start_load(load)
            try:
                for policy in args.policies:
                    record = times[load][policy]
                    record["decode"].append(measure_decode(policy, checkpoint, inputs, args.repeats, args.timeout))
                    if "reconstruct" in record:
                        record["reconstruct"].append(measure_reconstruct(
                            policy, checkpoint, inputs, args.workdir / "mesh.ply", args.timeout))
                    logger.info("round %d, %s, %s: %s (load average before: %.2f)", round_ + 1, load, policy,
                                ", ".join(f"{m} {v[-1]:.2f} s" for m, v in record.items()), background)
            finally:
                if process is not None:
                    process.kill()
                    process.wait()
    return times


def table(times: dict[str, dict[str, dict[str, list[float]]]], timeout: float) -> str:
    """Markdown: per load and policy, the median seconds and the ratio to the policy's idle
    time (``> timeout`` where the median run did not finish)."""
    loads = list(times)
    policies = list(times[loads[0]])
    measures = list(times[loads[0]][policies[0]])
    head = ["load"] + [f"{m} {p}" for m in measures for p in policies]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for load in loads:
        cells = [load]
        for measure in measures:
            for policy in policies:
                value = statistics.median(times[load][policy][measure])
                idle = statistics.median(times[loads[0]][policy][measure])
                if math.isinf(value):
                    cells.append(f"> {timeout:.0f} s")
                else:
                    cells.append(f"{value:.2f} s ({value / idle:.1f}x)" if math.isfinite(idle) else f"{value:.2f} s")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _names(known: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names from ``known``."""

    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"expected names from {', '.join(known)}, got {text!r}")
        return names

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="passes over every load and policy (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="timed decodes per measurement (default 2)")
    parser.add_argument("--policies", type=_names(list(POLICIES)), default=["off", "on"],
                        help=f"comma-separated, from {', '.join(POLICIES)} (default off,on)")
    parser.add_argument("--loads", type=_names(list(LOADS)), default=list(LOADS),
                        help=f"comma-separated, from {', '.join(LOADS)}; the first is the baseline (default all)")
    parser.add_argument("--skip-reconstruct", action="store_true", help="decode only")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement before giving up")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "alto-bench-contention",
                        help="where the fitted checkpoint and the input are kept (made when missing)")
    parser.add_argument("--output", type=Path, help="also write the raw times as JSON")
    parser.add_argument("--decode-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.decode_worker:
        decode_worker(args.checkpoint, args.inputs, args.repeats)
        return 0
    logger.info("load average at the start: %s", " ".join(f"{v:.2f}" for v in os.getloadavg()))
    times = run(args)
    print(table(times, args.timeout))
    if args.output is not None:
        args.output.write_text(json.dumps(times, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
