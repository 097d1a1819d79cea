"""The prepared GPU check: alto's CUDA paths run for real, with their numbers.

Stages, in order of value; each is guarded (an error is recorded and the next stage
runs) and starts only while the time budget lasts; long stages also stop between
their measurements when it runs out, keeping what they measured:

1. ``env``: versions, the card, and its ceilings measured here (matmul rate in fp32,
   TF32, bf16 and fp16; device-to-device copy bandwidth counting bytes read and written).
2. ``parity``: the six reference cases (``tests/data/reference``) on the device, fp32
   with TF32 off and on: logits and feature planes against the published models.
3. ``train_step``: one training step (the trainer's own ``train_step``) of each of the six
   paper experiment configs at the paper batch sizes, on batches of the demo data, in
   fp32, bf16 and fp16 (GradScaler): median time, peak memory, FLOPs against the rate.
4. ``torchrun``: the demo ALTO objects model trained through ``torchrun`` (one process
   per GPU, NCCL; gloo with two processes on the CPU), then resumed for more iterations;
   then one DistributedDataParallel step in a one-rank group of the device's backend (with
   one GPU, torchrun starts no process group: that step is NCCL's only use there).
5. ``generation``: a 10,000-point demo room with the ALTO rooms 64³ model (region growing
   256³, 10 refinement steps: the paper's protocol) and a 3000-point demo object with the
   ALTO ShapeNet triplane model, split into encode / decode / extract seconds. Each model
   is first fitted for a few hundred steps to its scene (time-boxed), so that the field
   has a surface where the scene has one (untrained weights put one almost everywhere).
6. ``reconstruct``: ``alto reconstruct`` of a point-cloud file through the CLI, end to end.

``results.json`` (every number) and ``results.md`` (the tables) in ``--out`` are rewritten
after every measurement; the tables are printed last.

    bench/gpu/check.sh                                         # on the GPU machine (docs/benchmarks_gpu.md)
    python -m bench.gpu.check --device cpu --quick --out DIR   # the CPU smoke run (tests/test_bench_gpu.py)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import importlib.metadata
import json
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import trimesh
from torch.utils.data import default_collate

import alto
from alto.config import load_config, merge_configs
from alto.data import build_dataset
from alto.data.demo import DemoConfig, DemoResult, build_demo
from alto.devices import resolve_device
from alto.errors import InputError
from alto.io import atomic_write
from alto.mesh import MeshGenerator
from alto.mesh.registry import extractor_from_config
from alto.models.reference import PARITY_TOLERANCE, load_reference, reference_model, reference_names
from alto.train import Trainer
from alto.train.distributed import torchrun_command
from bench.model_step import count_flops, matmul_rate, median_seconds

log = logging.getLogger("bench.gpu.check")

REPO = Path(__file__).resolve().parents[2]
REFERENCE_DIR = REPO / "tests" / "data" / "reference"
EXPERIMENTS = REPO / "config" / "experiments"
#: the six published setups (config/experiments), timed at their own batch sizes
PAPER_EXPERIMENTS = (
    "alto_shapenet_3plane", "alto_rooms_3plane", "alto_rooms_grid64",
    "convonet_shapenet_3plane", "convonet_rooms_3plane", "convonet_rooms_grid64",
)
PRECISIONS = ("fp32", "bf16", "fp16")
MATMUL_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: relative error ‖out − ref‖ / ‖ref‖ expected of TF32 arithmetic (METHOD.md: near 3e-4)
TF32_RELATIVE_TOLERANCE = 1e-3
#: the paper's runtime figure: seconds for one 10,000-point scene (ALTO vs POCO, GPU not stated)
PAPER_SCENE_SECONDS = {"ALTO": 10.5, "POCO": 36.8}
#: learning rate of the short fits that give the generation models a realistic field
FIT_LR = 1e-3
STATUSES = ("ok", "partial", "error", "skipped")
RESULTS_JSON, RESULTS_MD, LOG_FILE = "results.json", "results.md", "check.log"
MIB = 2**20
#: query points of the decoder warm-up before generation is timed
WARMUP_QUERIES = 1000
#: lines of a failed subprocess's output kept in the results
LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class Plan:
    """Sizes of one mode: the real check on a GPU, or the CPU smoke run (``--quick``)."""

    name: str
    matmul_size: int
    matmul_repeats: int
    copy_mib: int
    parity_cases: tuple[str, ...] | None  # None: all six
    parity_samples: int | None  # None: every sample of a case
    step_warmup: int
    step_repeats: int
    demo: DemoConfig
    torchrun_iters: tuple[int, int]  # first launch, then resumed up to
    torchrun_sets: tuple[str, ...]
    fit_iters: int
    fit_seconds: float
    generation_repeats: int
    reconstruct_args: tuple[str, ...]
    #: merged over every experiment config of the stages (the smoke run shrinks the models)
    overrides: dict[str, Any] = field(default_factory=dict)
    #: a stage starts only with at least this much of the budget left
    min_stage_seconds: float = 0.0


FULL = Plan(
    name="full",
    matmul_size=8192, matmul_repeats=10, copy_mib=1024,
    parity_cases=None, parity_samples=None,
    step_warmup=2, step_repeats=5,
    demo=DemoConfig(seed=0, objects_per_category=5, object_points=100_000, object_surface_points=20_000,
                    rooms_per_class=1, room_files=1, room_points=100_000, room_surface_points=100_000,
                    workers=max(1, len(os.sched_getaffinity(0)))),
    torchrun_iters=(200, 300), torchrun_sets=("training.n_workers=4",),  # loader workers, pinned memory
    fit_iters=300, fit_seconds=45.0, generation_repeats=2, reconstruct_args=(),
    min_stage_seconds=15.0,
)
QUICK = Plan(
    name="quick",
    matmul_size=256, matmul_repeats=5, copy_mib=16,
    parity_cases=("alto_shapenet_3plane", "convonet_shapenet_3plane"), parity_samples=1,
    step_warmup=0, step_repeats=1,
    demo=DemoConfig(seed=0, categories=("02691156", "03001627"), objects_per_category=5, object_points=3000,
                    object_surface_points=2000, rooms_per_class=1, room_files=1, room_points=3000,
                    room_surface_points=3000),
    torchrun_iters=(2, 4),
    torchrun_sets=("training.batch_size=2", "training.print_every=1", "training.validate_every=2",
                   "training.checkpoint_every=2", "training.val_max_objects=1", "data.pointcloud_n=200",
                   "data.points_subsample=64", "generation.batch_size=2000"),
    fit_iters=3, fit_seconds=30.0, generation_repeats=1, reconstruct_args=("--resolution", "24"),
    overrides={
        "data": {"pointcloud_n": 300, "points_subsample": 128},
        "model": {"encoder_kwargs": {"plane_resolution": 16, "grid_resolution": 8,
                                     "unet_kwargs": {"depth": 2, "start_filts": 8},
                                     "unet3d_kwargs": {"num_levels": 2, "f_maps": 8}}},
        "training": {"batch_size": 1},
        "generation": {"extractor": {"method": "region_growing", "resolution": 24, "refinement_steps": 2,
                                     "threshold": 0.5, "box": "input_bbox"}},
    },
)


class OutOfTime(Exception):
    """The time budget ran out inside a stage; what it measured so far is kept."""


# --------------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 for CUDA matmuls and cuDNN convolutions on or off inside the block (restored after)."""
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def copy_bandwidth(mib: int, device: torch.device, repeats: int) -> float:
    """GB/s of a device-to-device copy of ``mib`` MiB of seeded random data, counting bytes read plus written."""
    source = torch.randn(mib * MIB // 4, generator=torch.Generator(device=device).manual_seed(1), device=device)
    target = torch.empty_like(source)
    seconds = median_seconds(lambda: target.copy_(source), repeats, device=device)
    return 2 * source.numel() * source.element_size() / seconds / 1e9


def package_versions() -> dict[str, str]:
    """Versions of the packages the check runs on (a missing carried wheel shows up here)."""
    versions = {}
    for dist in ("torch", "numpy", "scipy", "scikit-image", "trimesh", "jsonschema", "libigl", "pyyaml"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "missing"
    return versions


def driver_version() -> str | None:
    """The NVIDIA driver as ``nvidia-smi`` reports it (None without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
    result = subprocess.run(query, capture_output=True, text=True, check=False)
    return result.stdout.strip().splitlines()[0] if result.returncode == 0 and result.stdout.strip() else None


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def subprocess_env() -> dict[str, str]:
    """The environment of the check's subprocesses: the repository importable (alto is not installed there)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def raise_row_errors(rows: Sequence[dict[str, Any]]) -> None:
    """Fail the stage (its rows kept) if any of its measurements failed."""
    failed = [row for row in rows if "error" in row]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(rows)} measurements failed, the first: {failed[0]['error']}")


def _extraction(settings: dict[str, Any] | None) -> str:
    """``resolution³, N refinement steps`` of an extractor's settings."""
    if not settings:
        return "–"
    steps = settings.get("refinement_steps")
    return f"{settings.get('resolution', '?')}³" + (f", {steps} refinement steps" if steps is not None else "")


def _fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats to ``digits`` significant digits (whole numbers from 1000 on)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.0f}" if math.isfinite(value) and abs(value) >= 10**digits else f"{value:.{digits}g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


# ----------------------------------------------------------------------------------------- check
class Check:
    """Runs the stages on one device within a time budget and keeps the results current on disk."""

    def __init__(self, device: torch.device, plan: Plan, out: Path, budget_s: float, work: Path) -> None:
        self.device = device
        self.plan = plan
        self.out = out
        self.work = work
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.demo: DemoResult | None = None
        self.results: dict[str, Any] = {
            "summary": "",
            "mode": plan.name,
            "device": str(device),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "budget_s": budget_s,
            "elapsed_s": 0.0,
            "stages": {},
        }

    # ------------------------------------------------------------------------------ bookkeeping
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_time(self) -> None:
        """Raise :class:`OutOfTime` once the budget is spent (called between measurements)."""
        if self.remaining() <= 0:
            raise OutOfTime

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def write(self) -> None:
        self.results["elapsed_s"] = round(time.monotonic() - self.started, 1)
        self.results["summary"] = self.summary()
        with atomic_write(self.out / RESULTS_JSON) as handle:
            json.dump(self.results, handle, indent=1, default=str)
            handle.write("\n")
        with atomic_write(self.out / RESULTS_MD) as handle:
            handle.write(self.markdown())

    def run_stage(self, name: str, body: Callable[[dict[str, Any]], None]) -> None:
        """Run ``body(record)``; ``record`` (the stage's entry in the results) is filled as it goes."""
        record: dict[str, Any] = {"status": "skipped"}
        self.results["stages"][name] = record
        if self.remaining() < max(self.plan.min_stage_seconds, 1e-9):
            record["reason"] = f"time budget spent ({self.remaining():.0f} s left)"
            log.warning("%s: skipped, %s", name, record["reason"])
            self.write()
            return
        log.info("%s: started (%.0f s of the budget left)", name, self.remaining())
        started = time.monotonic()
        try:
            body(record)
            record["status"] = "ok"
        except OutOfTime:
            record["status"] = "partial"
            record["reason"] = "stopped at the end of the time budget"
        except Exception as error:  # a stage's failure is a result; the next stage still runs
            record["status"] = "error"
            record["error"] = f"{type(error).__name__}: {error}"
            record["traceback"] = traceback.format_exc(limit=8)
            log.exception("%s: failed", name)
        finally:
            record["seconds"] = round(time.monotonic() - started, 2)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            log.info("%s: %s after %.1f s", name, record["status"], record["seconds"])
            self.write()

    # ----------------------------------------------------------------------------------- shared
    def guarded(self, row: dict[str, Any], measure: Callable[[], Any]) -> Any:
        """``measure()`` (which fills ``row``); an error is recorded in the row and the stage goes on
        with its next measurement (an out-of-memory in one config says nothing about the others)."""
        try:
            return measure()
        except OutOfTime:
            raise
        except Exception as error:
            row["error"] = f"{type(error).__name__}: {error}"
            log.exception("%s: failed", row)
            return None
        finally:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def demo_data(self) -> DemoResult:
        """The demo dataset of the plan, built once (seconds) into the work folder."""
        if self.demo is None:
            self.demo = build_demo(self.work / "demo", self.plan.demo)
        return self.demo

    def experiment(self, name: str, out_dir: Path, **sections: dict[str, Any]) -> dict[str, Any]:
        """Paper experiment ``name`` on the demo data (objects or rooms, as the config's kind),
        on this device, writing into ``out_dir``; ``sections`` are merged last."""
        demo = self.demo_data()
        rooms = "rooms" in name
        # the demo has one room per class, all in the train split: it also serves as validation
        data = ({"path": str(demo.rooms_root), "multi_files": demo.config.room_files, "val_split": "train"} if rooms
                else {"path": str(demo.objects_root), "classes": None})
        base = {"data": data, "training": {"out_dir": str(out_dir), "device": self.device.type, "n_workers": 0,
                                           "n_workers_val": 0}}
        overrides = merge_configs(merge_configs(base, self.plan.overrides), sections)
        return load_config(EXPERIMENTS / f"{name}.yaml", overrides=[overrides])

    def batch(self, trainer: Trainer, size: int) -> dict[str, torch.Tensor]:
        """A training batch of ``size`` demo items (repeated as needed), already on the device."""
        items = [trainer.train_set[i % len(trainer.train_set)] for i in range(size)]
        return {k: v.to(self.device) for k, v in default_collate(items).items() if isinstance(v, torch.Tensor)}

    # ----------------------------------------------------------------------------------- stages
    def stage_env(self, record: dict[str, Any]) -> None:
        record["python"] = platform.python_version()
        record["alto"] = alto.__version__
        record["packages"] = package_versions()
        record["cuda"] = torch.version.cuda
        record["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        record["cpu_count"] = os.cpu_count()
        record["torch_threads"] = torch.get_num_threads()
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(self.device)
            record["card"] = props.name
            record["capability"] = f"{props.major}.{props.minor}"
            record["multiprocessors"] = props.multi_processor_count
            record["memory_gib"] = round(props.total_memory / 2**30, 1)
            record["driver"] = driver_version()
            record["tf32_default"] = {"matmul": torch.backends.cuda.matmul.allow_tf32,
                                      "cudnn": torch.backends.cudnn.allow_tf32}
        else:
            record["card"] = platform.processor() or platform.machine()
        rates: dict[str, float] = {}
        record["matmul_tflops"] = rates
        kinds = MATMUL_DTYPES if self.device.type == "cuda" else {"fp32": torch.float32, "bf16": torch.bfloat16}
        for kind, dtype in kinds.items():
            self.check_time()
            with tf32(kind == "tf32"):
                rates[kind] = matmul_rate(self.plan.matmul_size, dtype, self.device, self.plan.matmul_repeats) / 1e3
        record["matmul_size"] = self.plan.matmul_size
        record["copy_gb_per_s"] = copy_bandwidth(self.plan.copy_mib, self.device, self.plan.matmul_repeats)
        record["copy_mib"] = self.plan.copy_mib

    def stage_parity(self, record: dict[str, Any]) -> None:
        rows: list[dict[str, Any]] = []
        record["rows"] = rows
        record["tolerance_fp32"] = PARITY_TOLERANCE
        record["tolerance_tf32_relative"] = TF32_RELATIVE_TOLERANCE
        modes = (False, True) if self.device.type == "cuda" else (False,)
        for name in self.plan.parity_cases or reference_names(REFERENCE_DIR):
            self.check_time()
            case = load_reference(REFERENCE_DIR, name)
            model = reference_model(case).to(self.device)
            samples = self.plan.parity_samples or len(case.inputs)
            expected = case.logits[:samples].double()
            for enabled in modes:
                with tf32(enabled), torch.no_grad():
                    features = model.encode(case.inputs[:samples].to(self.device))
                    logits = model.decode(case.query[:samples].to(self.device), features).cpu().double()
                difference = logits - expected
                feature_error = max(
                    ((features[plane][0].cpu() - plane_expected).abs().max().item()
                     for plane, plane_expected in case.features.items()),
                    default=None,
                )
                max_abs = difference.abs().max().item()
                relative = (difference.norm() / expected.norm()).item()
                within = max_abs < PARITY_TOLERANCE if not enabled else relative < TF32_RELATIVE_TOLERANCE
                rows.append({"case": name, "tf32": enabled, "samples": samples, "max_abs_error": max_abs,
                             "relative_error": relative, "feature_max_abs_error": feature_error,
                             "finite": bool(torch.isfinite(logits).all()), "within_tolerance": within})
                self.write()
        for enabled in modes:
            errors = [r["max_abs_error"] for r in rows if r["tf32"] == enabled]
            record[f"max_abs_error_{'tf32' if enabled else 'fp32'}"] = max(errors)

    def stage_train_step(self, record: dict[str, Any]) -> None:
        rows: list[dict[str, Any]] = []
        record["rows"] = rows
        for name in PAPER_EXPERIMENTS:
            flops = None
            for precision in PRECISIONS:
                self.check_time()
                row: dict[str, Any] = {"config": name, "precision": precision}
                rows.append(row)
                if precision == "fp16" and self.device.type != "cuda":
                    row["skipped"] = "fp16 needs CUDA (the trainer refuses it on the CPU)"
                    continue
                flops = self.guarded(row, lambda r=row, f=flops: self.time_step(r, f)) or flops
                self.write()
        raise_row_errors(rows)

    def time_step(self, row: dict[str, Any], flops: int | None) -> int:
        """Fill ``row`` with the step time of its config and precision; return the step's FLOPs
        (counted when ``flops`` is None: the same in every precision)."""
        cfg = self.experiment(row["config"], self.work / "steps" / f"{row['config']}_{row['precision']}",
                              training={"precision": row["precision"]})
        trainer = Trainer(cfg)
        batch = self.batch(trainer, trainer.settings.batch_size)
        losses: list[float] = []

        def step() -> None:
            losses.append(trainer.train_step(batch))

        row.update(batch=trainer.settings.batch_size, input_points=batch["inputs"].shape[1],
                   query_points=batch["points"].shape[1])
        if flops is None:  # this call is also a warm-up step
            flops = count_flops(step)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        seconds = median_seconds(step, self.plan.step_repeats, warmup=self.plan.step_warmup, device=self.device)
        achieved = flops / seconds / 1e12
        rate = self.results["stages"].get("env", {}).get("matmul_tflops", {}).get(row["precision"])
        row.update(step_ms=1e3 * seconds, gflop=flops / 1e9, tflops_per_s=achieved, loss=losses[-1],
                   of_matmul_rate=achieved / rate if rate else None,
                   peak_mib=torch.cuda.max_memory_allocated(self.device) / MIB if self.device.type == "cuda" else None)
        return flops

    def stage_torchrun(self, record: dict[str, Any]) -> None:
        demo = self.demo_data()
        run_dir = self.work / "torchrun"
        nproc = torch.cuda.device_count() if self.device.type == "cuda" else 2
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        record.update(nproc=nproc, process_group=nproc > 1,
                      backend=backend if nproc > 1 else "no process group (one process)")
        launches: list[dict[str, Any]] = []
        record["launches"] = launches
        sets = [arg for setting in self.plan.torchrun_sets for arg in ("--set", setting)]
        for iterations in self.plan.torchrun_iters:
            self.check_time()
            argv = ["train", str(EXPERIMENTS / "demo_alto_objects.yaml"), "--data", str(demo.objects_root),
                    "--out-dir", str(run_dir), "--device", self.device.type, "--max-iters", str(iterations), *sets]
            logfile = self.work / f"torchrun_{iterations}.log"
            started = time.monotonic()
            with logfile.open("w") as handle:
                try:
                    code = subprocess.run(torchrun_command(nproc, argv), stdout=handle, stderr=subprocess.STDOUT,
                                          env=subprocess_env(), timeout=max(self.remaining(), 1), check=False
                                          ).returncode
                except subprocess.TimeoutExpired as expired:
                    raise OutOfTime from expired
            text = logfile.read_text(errors="replace")
            if code != 0:
                raise RuntimeError(f"torchrun exited with {code}:\n{log_tail(logfile)}")
            summary = json.loads((run_dir / "train_summary.json").read_text())
            launches.append({"max_iters": iterations, "wall_s": time.monotonic() - started,
                             "iterations": summary["iterations"], "resumed": "resumed from" in text,
                             "parameter_digest": summary["parameter_digest"][:12]})
            self.write()
        first, last = self.plan.torchrun_iters
        losses = read_csv(run_dir / "loss.csv")
        its = [int(r["it"]) for r in losses]
        seconds = [float(r["seconds"]) for r in losses]
        metrics = read_csv(run_dir / "metrics.csv")
        record["iteration_ms"] = 1e3 * statistics.median(
            (s1 - s0) / (i1 - i0) for i0, i1, s0, s1 in zip(its, its[1:], seconds, seconds[1:], strict=False))
        record["val_iou"] = float(metrics[-1]["val_iou"])
        problems = []
        if [launch["iterations"] for launch in launches] != [first, last]:
            problems.append(f"iterations {[launch['iterations'] for launch in launches]}, expected {[first, last]}")
        if launches[0]["resumed"] or not launches[1]["resumed"]:
            problems.append("the second launch (only) should resume from model.pt")
        if its != sorted(set(its)) or its[-1] != last or not any(i <= first for i in its):
            problems.append(f"loss.csv iterations {its} do not continue the first run up to {last}")
        record["resume_ok"] = not problems
        if problems:
            raise RuntimeError("; ".join(problems))
        self.check_time()
        record["single_rank_ddp"] = self.single_rank_ddp_step()

    def single_rank_ddp_step(self) -> dict[str, Any]:
        """One DistributedDataParallel step in a one-rank group of the device's backend
        (NCCL on CUDA), as torchrun starts none for a single process."""
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        backend = "nccl" if self.device.type == "cuda" else "gloo"
        store_path = self.work / "ddp_store"
        store_path.unlink(missing_ok=True)
        store = dist.FileStore(str(store_path), 1)
        dist.init_process_group(backend, store=store, rank=0, world_size=1)
        try:
            cfg = self.experiment("alto_shapenet_3plane", self.work / "ddp", training={"batch_size": 2})
            trainer = Trainer(cfg)
            trainer.ddp_model = DistributedDataParallel(
                trainer.model, device_ids=[self.device.index or 0] if self.device.type == "cuda" else None)
            batch = self.batch(trainer, 2)
            losses = [trainer.train_step(batch) for _ in range(2)]
            total = torch.ones(1, device=self.device)
            dist.all_reduce(total)
            self.sync()
            return {"backend": backend, "losses": losses, "all_reduce": float(total)}
        finally:
            dist.destroy_process_group()

    def fit_and_generate(self, row: dict[str, Any], scene: dict[str, Any]) -> None:
        """Fit the experiment of ``row`` to one demo scene (``scene``: data overrides), then time its mesh."""
        plan = self.plan
        seconds = min(plan.fit_seconds, max(self.remaining() / 4, 1.0))
        cfg = self.experiment(row["config"], self.work / f"fit_{row['scene']}", data=scene, training={
            "max_iters": plan.fit_iters, "exit_after": seconds, "lr": FIT_LR, "lr_schedule": "constant",
            "batch_size": 1, "print_every": plan.fit_iters, "validate_every": plan.fit_iters,
            "checkpoint_every": plan.fit_iters, "val_max_objects": 1,
        })
        trainer = Trainer(cfg)
        result = trainer.fit()
        row.update(fit_iterations=result.iterations, fit_stopped_early=result.stopped_early,
                   fit_val_iou=result.best_metric if math.isfinite(result.best_metric) else None)
        test_cfg = merge_configs(cfg, {"data": {"test_split": cfg["data"]["train_split"]}})
        inputs = torch.as_tensor(build_dataset(test_cfg, "test")[0]["inputs"])
        row["input_points"] = int(inputs.shape[0])
        extractor = extractor_from_config(cfg)
        row["extractor"] = {name: getattr(extractor, name) for name in extractor.parameter_names()}
        generator = MeshGenerator(trainer.model, extractor, self.device)
        model = trainer.model.eval()
        with torch.no_grad():  # warm-up: kernels loaded and tuned before the clock runs
            batch = inputs[None].to(self.device)
            model.decode(batch[:, :WARMUP_QUERIES], model.encode(batch))
        self.sync()
        records = []
        for _ in range(plan.generation_repeats):
            if records:
                self.check_time()
            records.append(generator.generate(inputs).record.as_dict())
        middle = sorted(records, key=lambda r: r["total_seconds"])[(len(records) - 1) // 2]
        row.update(middle, repeats=len(records), totals=[r["total_seconds"] for r in records])

    def stage_generation(self, record: dict[str, Any]) -> None:
        rows: list[dict[str, Any]] = []
        record["rows"] = rows
        record["paper_scene_seconds"] = PAPER_SCENE_SECONDS
        demo = self.demo_data()
        room_class = sorted(demo.rooms)[0]
        scenes = (
            ("room", "alto_rooms_grid64", {"classes": [room_class]}),
            ("object", "alto_shapenet_3plane", {"classes": [sorted(demo.objects)[0]], "val_split": "train"}),
        )
        for label, name, scene in scenes:
            self.check_time()
            row: dict[str, Any] = {"scene": label, "config": name}
            rows.append(row)
            self.guarded(row, lambda r=row, d=scene: self.fit_and_generate(r, d))
            self.write()
        raise_row_errors(rows)

    def stage_reconstruct(self, record: dict[str, Any]) -> None:
        demo = self.demo_data()
        candidates = [self.work / "torchrun" / "model_best.pt", self.work / "fit_object" / "model_best.pt"]
        checkpoint = next((c for c in candidates if c.is_file()), None)
        if checkpoint is None:
            raise RuntimeError(f"no trained model to reconstruct with (looked for {[str(c) for c in candidates]})")
        category = sorted(demo.objects)[0]
        source = demo.objects_root / category / demo.objects[category]["test"][0] / "pointcloud.npz"
        output = self.work / "reconstruct.ply"
        command = [sys.executable, "-m", "alto", "reconstruct", str(source), "-m", str(checkpoint), "-o", str(output),
                   "--device", self.device.type, *self.plan.reconstruct_args]
        record.update(checkpoint=checkpoint.parent.name, input=str(source.relative_to(self.work)))
        started = time.monotonic()
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=subprocess_env(),
                                    timeout=max(self.remaining(), 1), check=False)
        except subprocess.TimeoutExpired as expired:
            raise OutOfTime from expired
        record["wall_s"] = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError(f"alto reconstruct exited with {result.returncode}:\n{result.stderr[-3000:]}")
        record["summary"] = result.stdout.strip().splitlines()[-1]
        mesh = trimesh.load(output, force="mesh")
        record.update(vertices=len(mesh.vertices), faces=len(mesh.faces))

    # ---------------------------------------------------------------------------------- reports
    def summary(self) -> str:
        stages = self.results["stages"]
        counts = {s: sum(r["status"] == s for r in stages.values()) for s in STATUSES}
        parts = [", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no stage run"]
        parity = stages.get("parity", {})
        if "max_abs_error_fp32" in parity:
            parts.append(f"parity max |Δlogit| {parity['max_abs_error_fp32']:.1e} fp32"
                         + (f", {parity['max_abs_error_tf32']:.1e} TF32" if "max_abs_error_tf32" in parity else ""))
        for row in stages.get("generation", {}).get("rows", []):
            if "total_seconds" in row:
                parts.append(f"{row['scene']} {row['input_points']} points {row['total_seconds']:.1f} s")
        if "iteration_ms" in stages.get("torchrun", {}):
            parts.append(f"torchrun resume {'ok' if stages['torchrun'].get('resume_ok') else 'FAILED'}")
        return "; ".join(parts)

    def markdown(self) -> str:
        r = self.results
        stages = r["stages"]
        env = stages.get("env", {})
        lines = [f"# alto GPU check: {env.get('card', r['device'])} ({r['mode']} mode, {r['date']})", "",
                 f"Summary: {r['summary']}", ""]
        lines += ["## Stages", "", *_table(["stage", "status", "seconds", "note"], [
            (name, s["status"], s.get("seconds"), (s.get("error") or s.get("reason") or "").splitlines()[0]
             if (s.get("error") or s.get("reason")) else "") for name, s in stages.items()]), ""]
        if env.get("matmul_tflops"):
            lines += ["## Device", "", *_table(["item", "value"], [
                ("card", env.get("card")), ("driver / CUDA / cuDNN", f"{env.get('driver')} / {env.get('cuda')} / "
                                                                      f"{env.get('cudnn')}"),
                ("multiprocessors, memory GiB", f"{env.get('multiprocessors')}, {env.get('memory_gib')}"),
                ("python, torch", f"{env.get('python')}, {env.get('packages', {}).get('torch')}"),
                *((f"matmul {env['matmul_size']}³ {kind} TFLOP/s", rate)
                  for kind, rate in env["matmul_tflops"].items()),
                (f"copy {env.get('copy_mib')} MiB, GB/s (read + write)", env.get("copy_gb_per_s")),
            ]), ""]
        if stages.get("parity", {}).get("rows"):
            p = stages["parity"]
            lines += ["## Parity with the published models", "",
                      f"Tolerances: fp32 max |Δ| < {p['tolerance_fp32']:g}; TF32 relative < "
                      f"{p['tolerance_tf32_relative']:g}.", "",
                      *_table(["case", "TF32", "max abs error", "relative error", "features max abs", "within"],
                              [(x["case"], x["tf32"], x["max_abs_error"], x["relative_error"],
                                x["feature_max_abs_error"], x["within_tolerance"]) for x in p["rows"]]), ""]
        if stages.get("train_step", {}).get("rows"):
            lines += ["## Training step at the paper batch sizes", "", *_table(
                ["config", "precision", "batch", "step ms", "peak MiB", "GFLOP", "TFLOP/s", "of matmul rate", "note"],
                [(x["config"], x["precision"], x.get("batch"), x.get("step_ms"), x.get("peak_mib"), x.get("gflop"),
                  x.get("tflops_per_s"), x.get("of_matmul_rate"), x.get("skipped") or x.get("error", ""))
                 for x in stages["train_step"]["rows"]]), ""]
        t = stages.get("torchrun", {})
        if t.get("launches"):
            lines += [f"## torchrun ({t['nproc']} process(es), {t['backend']})", "", *_table(
                ["max iters", "iterations", "wall s", "resumed", "parameters"],
                [(x["max_iters"], x["iterations"], x["wall_s"], x["resumed"], x["parameter_digest"])
                 for x in t["launches"]]), ""]
            if "iteration_ms" in t:
                lines += [f"ms per iteration {_fmt(t['iteration_ms'])}, last validation IoU {_fmt(t['val_iou'])}, "
                          f"resume {'ok' if t['resume_ok'] else 'FAILED'}"
                          + (f"; one-rank {t['single_rank_ddp']['backend']} DDP step ok"
                             if "single_rank_ddp" in t else ""), ""]
        g = stages.get("generation", {})
        if g.get("rows"):
            lines += ["## Generation", "", f"Paper, one 10,000-point scene: ALTO {PAPER_SCENE_SECONDS['ALTO']} s, "
                      f"POCO {PAPER_SCENE_SECONDS['POCO']} s (GPU not stated).", "", *_table(
                ["scene", "config", "points", "fit iters", "fit IoU", "extraction", "encode s", "decode s",
                 "extract s", "total s", "evaluations", "faces", "note"],
                [(x["scene"], x["config"], x.get("input_points"), x.get("fit_iterations"), x.get("fit_val_iou"),
                  _extraction(x.get("extractor")), x.get("encode_seconds"), x.get("decode_seconds"),
                  x.get("extract_seconds"), x.get("total_seconds"), x.get("points_evaluated"), x.get("faces"),
                  x.get("error", ""))
                 for x in g["rows"]]), ""]
        c = stages.get("reconstruct", {})
        if "summary" in c:
            lines += ["## alto reconstruct", "", f"`{c['input']}` with `{c['checkpoint']}`: {_fmt(c['wall_s'])} s "
                      f"end to end (process start included); {c['summary']}", ""]
        return "\n".join(lines)


STAGES: dict[str, Callable[[Check, dict[str, Any]], None]] = {
    "env": Check.stage_env,
    "parity": Check.stage_parity,
    "train_step": Check.stage_train_step,
    "torchrun": Check.stage_torchrun,
    "generation": Check.stage_generation,
    "reconstruct": Check.stage_reconstruct,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the CPU smoke run of the test suite")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json, results.md, check.log")
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="seconds after which no further measurement starts (default %(default)s)")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES), help="stages to run")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed at the end)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(args.out / LOG_FILE, mode="w")])
    try:
        device = resolve_device(args.device)
    except InputError as error:
        parser.error(f"{error} (or --device cpu --quick for the smoke run)")
    plan = QUICK if args.quick else FULL
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="alto_gpu_check_")))
        work.mkdir(parents=True, exist_ok=True)
        check = Check(device, plan, args.out, args.budget_s, work)
        for name in args.stages:
            check.run_stage(name, lambda record, stage=STAGES[name]: stage(check, record))
    print(check.markdown())
    return 1 if any(s["status"] == "error" for s in check.results["stages"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
