"""Time one training step and one inference pass of the six reference models.

For each reference config (tests/data/reference: ALTO and ConvONet, ShapeNet
triplane, rooms triplane, rooms volume) this measures, on the CPU in float32:

* one training step at batch 4 (3000 input points for ShapeNet, 10000 for rooms,
  2048 query points): forward, binary cross-entropy summed over the queries,
  backward, Adam step; median over the repeats;
* one inference pass: encode one point cloud and decode 100k query points
  (decoded in the model's chunks), without gradients; median; for ALTO's attention
  decoder by both of its inference paths, interleaved (``blocked``, the default, and
  ``reference``, see :class:`alto.models.decoder.AttentionDecoder`);
* the step's floating-point operations, counted by ``torch.utils.flop_counter``;
* the rate of a 2048 x 2048 fp32 matmul measured right before each config, and the
  fraction of it that the step reaches (FLOP count / step time / matmul rate).

Other processes on the machine make timings noisy: always compare a step time with
the matmul rate of the same run.

    python bench/model_step.py                     # all six, default repeats
    python bench/model_step.py --quick             # fewer repeats
    python bench/model_step.py --configs alto_shapenet_3plane convonet_room_grid64
    python bench/model_step.py --compile           # also ALTO's inference with torch.compile
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from alto.models import build_model
from alto.models.decoder import INFERENCE_PATHS, AttentionDecoder
from alto.models.reference import load_reference, reference_names

logger = logging.getLogger("bench.model_step")

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"
#: side of the square matmul that calibrates the machine's fp32 rate
MATMUL_SIZE = 2048
#: training batch, query points per sample, query points of the inference pass
BATCH, QUERIES, INFERENCE_POINTS = 4, 2048, 100_000
#: repeats (after one warm-up) for normal and --quick runs; volume models are slow
REPEATS = {"normal": 5, "quick": 2}
VOLUME_REPEATS = {"normal": 2, "quick": 1}
MATMUL_REPEATS = 20
#: learning rate of the timed Adam steps (upstream's)
LEARNING_RATE = 1e-4


def _mm_flops(a: torch.Tensor, b: torch.Tensor, *args: object, out_val: object = None, **kwargs: object) -> int:
    """FLOPs of ``a @ b``: ``2 * nnz * N`` when ``a`` is sparse (the row maps of
    :mod:`alto.ops.sparse`), which the default formula would count as dense."""
    if a.layout != torch.strided:
        return 2 * a._nnz() * b.shape[-1]
    return 2 * a.shape[0] * a.shape[1] * b.shape[-1]


_mm_flops._get_raw = True  # type: ignore[attr-defined]  # FlopCounterMode: pass tensors, not shapes


def median_seconds(
    fn: Callable[[], object], repeats: int, warmup: int = 1, device: torch.device | None = None
) -> float:
    """Median wall-clock seconds of ``fn`` over ``repeats`` calls after ``warmup`` calls.

    On a CUDA ``device`` the clock is read only after the device has finished the
    queued work (kernels run asynchronously).
    """

    def sync() -> None:
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of one call of ``fn`` (matmuls and convolutions, forward
    and backward, as ``torch.utils.flop_counter`` counts them; sparse row maps by their non-zeros)."""
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.mm: _mm_flops})
    with counter:
        fn()
    return counter.get_total_flops()


def matmul_rate(
    size: int = MATMUL_SIZE,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
    repeats: int = MATMUL_REPEATS,
) -> float:
    """GFLOP/s of a ``size`` x ``size`` matmul in ``dtype`` on ``device`` (default: the CPU),
    on seeded random data (median of repeated runs)."""
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=gen).to(device=device, dtype=dtype) for _ in range(2))
    seconds = median_seconds(lambda: a @ b, repeats, device=a.device)
    return 2 * size**3 / seconds / 1e9


def bench_config(name: str, quick: bool, compile_attention: bool = False) -> dict[str, float | str]:
    """Step and inference timings of reference config ``name``; with ``compile_attention`` also
    the blocked inference with the attention under ``torch.compile`` (first call, then steady
    state, interleaved with the eager attention)."""
    case = load_reference(REFERENCE_DIR, name)
    model = build_model(case.config)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.rand(BATCH, case.n_input_points, 3, generator=gen) - 0.5
    queries = torch.rand(BATCH, QUERIES, 3, generator=gen) * 1.1 - 0.55
    occupancy = (queries.norm(dim=-1) < 0.3).float()
    dense = torch.rand(1, INFERENCE_POINTS, 3, generator=gen) * 1.1 - 0.55

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = model(queries, inputs)
        loss = F.binary_cross_entropy_with_logits(logits, occupancy, reduction="none").sum(-1).mean()
        loss.backward()
        optimizer.step()

    def infer() -> torch.Tensor:
        with torch.no_grad():
            return model.decode(dense, model.encode(inputs[:1]))

    mode = "quick" if quick else "normal"
    repeats = (VOLUME_REPEATS if model.planes == ("grid",) else REPEATS)[mode]
    flops = count_flops(step)
    step_seconds = median_seconds(step, repeats)
    paths = INFERENCE_PATHS if isinstance(model.decoder, AttentionDecoder) else (None,)
    infer_times: dict[str | None, list[float]] = {path: [] for path in paths}
    for _ in range(repeats):  # the paths interleaved, so that load drifts hit both alike
        for path in paths:
            if path is not None:
                model.decoder.inference_path = path
            infer_times[path].append(median_seconds(infer, 1))
    row: dict[str, float | str] = {
        "config": name,
        "step_s": step_seconds,
        "gflop": flops / 1e9,
        "gflops_per_s": flops / step_seconds / 1e9,
        "inference_s": statistics.median(infer_times[paths[0]]),
    }
    if "reference" in infer_times:
        row["inference_reference_s"] = statistics.median(infer_times["reference"])
    if compile_attention and isinstance(model.decoder, AttentionDecoder):
        model.decoder.inference_path = "blocked"
        eager = model.decoder._attention
        start = time.perf_counter()
        model.decoder._attention = torch.compile(eager, dynamic=True)  # type: ignore[method-assign]
        infer()
        row["compile_first_s"] = time.perf_counter() - start
        compiled, plain = [], []
        for _ in range(repeats):
            compiled.append(median_seconds(infer, 1, warmup=0))
            model.decoder._attention = eager  # type: ignore[method-assign]
            plain.append(median_seconds(infer, 1, warmup=0))
            model.decoder._attention = torch.compile(eager, dynamic=True)  # type: ignore[method-assign]
        row["inference_compiled_s"] = statistics.median(compiled)
        row["inference_eager_s"] = statistics.median(plain)
    return row


def main(argv: Sequence[str] | None = None) -> int:
    names = reference_names(REFERENCE_DIR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=names,
        default=names,
        metavar="NAME",
        help=f"reference configs to time (default: all of {', '.join(names)})",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--compile", action="store_true", help="also time ALTO's inference with the attention under torch.compile"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logger.info("torch %s, %d threads", torch.__version__, torch.get_num_threads())
    rows = []
    for name in args.configs:
        rate = matmul_rate()  # right before each config: the machine's load drifts
        row = bench_config(name, args.quick, args.compile)
        row["matmul_gflops_per_s"] = rate
        row["matmul_fraction"] = row["gflops_per_s"] / rate
        rows.append(row)
        logger.info("%s: done", name)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(
        "| config | step (s) | GFLOP/step | GFLOP/s | matmul GFLOP/s | of matmul rate "
        "| inference 100k (s) | reference path (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        reference = f"{r['inference_reference_s']:.2f}" if "inference_reference_s" in r else "-"
        print(
            f"| {r['config']} | {r['step_s']:.2f} | {r['gflop']:.0f} | {r['gflops_per_s']:.1f} "
            f"| {r['matmul_gflops_per_s']:.0f} | {100 * r['matmul_fraction']:.0f}% "
            f"| {r['inference_s']:.2f} | {reference} |"
        )
    compiled = [r for r in rows if "inference_compiled_s" in r]
    if compiled:
        print("\n| config | first compiled inference (s) | compiled (s) | eager (s) |\n|---|---|---|---|")
        for r in compiled:
            print(
                f"| {r['config']} | {r['compile_first_s']:.1f} | {r['inference_compiled_s']:.2f} "
                f"| {r['inference_eager_s']:.2f} |"
            )
    if args.json is not None:
        args.json.write_text(json.dumps({"torch": torch.__version__, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
