"""The prepared GPU check (bench/gpu/) in its CPU mode, so that it cannot rot between GPU sessions,
and the wheel helper's checks (offline)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from alto.errors import InputError
from alto.models.reference import PARITY_TOLERANCE

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is not installed with the package: import it from the checkout
    sys.path.insert(0, str(REPO))
from bench.gpu import check, fetch_wheels  # noqa: E402


def _stages(out: Path) -> dict:
    return json.loads((out / check.RESULTS_JSON).read_text())["stages"]


@pytest.mark.slow
def test_quick_cpu_check_runs_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "ALTO_WHEELS": str(tmp_path / "no_wheels")}
    result = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu" / "check.sh"), "--device", "cpu", "--quick", "--out", str(out),
         "--work", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stages = _stages(out)
    assert list(stages) == list(check.STAGES)
    assert {name: s["status"] for name, s in stages.items()} == dict.fromkeys(check.STAGES, "ok")

    env_stage = stages["env"]
    assert env_stage["matmul_tflops"]["fp32"] > 0 and env_stage["copy_gb_per_s"] > 0
    assert env_stage["packages"]["trimesh"] != "missing"

    parity = stages["parity"]
    assert [r["case"] for r in parity["rows"]] == list(check.QUICK.parity_cases)
    assert all(r["within_tolerance"] and r["finite"] for r in parity["rows"])
    assert 0 < parity["max_abs_error_fp32"] < PARITY_TOLERANCE

    steps = stages["train_step"]["rows"]
    assert [(r["config"], r["precision"]) for r in steps] == [
        (c, p) for c in check.PAPER_EXPERIMENTS for p in check.PRECISIONS
    ]
    for row in steps:
        if row["precision"] == "fp16":  # the trainer refuses fp16 without CUDA: skipped with the reason
            assert "CUDA" in row["skipped"] and "step_ms" not in row
        else:
            assert row["step_ms"] > 0 and row["gflop"] > 0 and row["tflops_per_s"] > 0
            assert row["batch"] == 1 and row["input_points"] == 300 and row["query_points"] == 128
    gflop = {r["config"]: r["gflop"] for r in steps if r["precision"] == "fp32"}
    assert gflop["alto_rooms_grid64"] > gflop["convonet_rooms_grid64"]  # the attention decoder costs FLOPs

    torchrun = stages["torchrun"]
    assert torchrun["backend"] == "gloo" and torchrun["nproc"] == 2 and torchrun["resume_ok"]
    assert [(x["iterations"], x["resumed"]) for x in torchrun["launches"]] == [
        (check.QUICK.torchrun_iters[0], False), (check.QUICK.torchrun_iters[1], True)
    ]
    assert torchrun["iteration_ms"] > 0
    assert torchrun["single_rank_ddp"]["all_reduce"] == 1.0

    generation = {r["scene"]: r for r in stages["generation"]["rows"]}
    assert set(generation) == {"room", "object"}
    for row in generation.values():
        assert row["fit_iterations"] == check.QUICK.fit_iters and row["input_points"] == 300
        assert row["method"] == "region_growing" and row["points_evaluated"] > 0
        parts = row["encode_seconds"] + row["decode_seconds"] + row["extract_seconds"]
        assert row["total_seconds"] == pytest.approx(parts, rel=1e-6)

    reconstruct = stages["reconstruct"]
    assert reconstruct["wall_s"] > 0 and reconstruct["checkpoint"] == "torchrun"
    assert "points in" in reconstruct["summary"]

    markdown = (out / check.RESULTS_MD).read_text()
    for heading in ("## Stages", "## Device", "## Parity", "## Training step", "## torchrun", "## Generation",
                    "## alto reconstruct"):
        assert heading in markdown
    assert result.stdout.strip().endswith(markdown.strip().splitlines()[-1])  # the tables are printed last
    assert (out / check.LOG_FILE).stat().st_size > 0


def test_spent_budget_skips_every_stage_and_still_writes_results(tmp_path: Path) -> None:
    code = check.main(["--device", "cpu", "--quick", "--budget-s", "0", "--out", str(tmp_path)])
    assert code == 0
    stages = _stages(tmp_path)
    assert {s["status"] for s in stages.values()} == {"skipped"} and list(stages) == list(check.STAGES)
    assert all("time budget" in s["reason"] for s in stages.values())
    assert "| env | skipped |" in (tmp_path / check.RESULTS_MD).read_text()


def test_budget_running_out_inside_a_stage_keeps_its_measurements(tmp_path: Path) -> None:
    runner = check.Check(torch.device("cpu"), check.QUICK, tmp_path, budget_s=60, work=tmp_path / "work")

    measured = {"config": "alto_shapenet_3plane", "precision": "fp32", "step_ms": 12.5}

    def body(record: dict) -> None:
        record["rows"] = [measured]
        runner.deadline = 0.0  # the budget runs out during the stage
        runner.check_time()
        record["rows"].append({**measured, "precision": "bf16"})

    runner.run_stage("train_step", body)
    stage = _stages(tmp_path)["train_step"]
    assert stage["status"] == "partial" and stage["rows"] == [measured]
    assert "| alto_shapenet_3plane | fp32 | – | 12.5 |" in (tmp_path / check.RESULTS_MD).read_text()


def test_a_failing_stage_is_recorded_and_the_next_one_runs(tmp_path: Path) -> None:
    runner = check.Check(torch.device("cpu"), check.QUICK, tmp_path, budget_s=60, work=tmp_path / "work")
    runner.run_stage("parity", lambda record: [][1])
    runner.run_stage("env", lambda record: record.update(card="x"))
    stages = _stages(tmp_path)
    assert stages["parity"]["status"] == "error" and "IndexError" in stages["parity"]["error"]
    assert stages["env"]["status"] == "ok"


@pytest.mark.slow
def test_a_fit_cut_short_by_its_time_box_still_times_the_generation(tmp_path: Path) -> None:
    """The fit stops after its first step (``training.exit_after``): no validation, no best
    model, and the generation is timed all the same."""
    plan = dataclasses.replace(check.QUICK, fit_seconds=1e-3)
    runner = check.Check(torch.device("cpu"), plan, tmp_path, budget_s=300, work=tmp_path / "work")
    runner.run_stage("generation", lambda record: runner.stage_generation(record))
    stage = _stages(tmp_path)["generation"]
    assert stage["status"] == "ok"
    for row in stage["rows"]:
        assert row["fit_stopped_early"] and row["fit_iterations"] == 1 and row["fit_val_iou"] is None
        assert row["total_seconds"] > 0 and row["points_evaluated"] > 0
    assert not (tmp_path / "work" / "fit_object" / "model_best.pt").exists()


def _wheel(directory: Path, name: str, version: str, requires: list[str]) -> Path:
    path = directory / f"{name}-{version}-py3-none-any.whl"
    metadata = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
        name, version, "".join(f"Requires-Dist: {r}\n" for r in requires))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA", metadata)
    return path


def test_wheel_dependencies_must_travel_or_be_on_the_device(tmp_path: Path) -> None:
    pins = {"trimesh": "5.2.0", "jsonschema": "4.26.0"}
    wheels = [
        _wheel(tmp_path, "trimesh", "5.2.0", ["numpy>=1.21", "rtree; extra == 'easy'"]),
        _wheel(tmp_path, "jsonschema", "4.26.0", ["attrs>=22", "rpds-py>=0.25", "tomli; python_version < '3.11'"]),
    ]
    unmet = fetch_wheels.unmet_dependencies(wheels, pins)
    assert unmet == ["jsonschema-4.26.0-py3-none-any.whl needs rpds-py>=0.25"]
    assert fetch_wheels.unmet_dependencies(wheels, {**pins, "rpds-py": "2026.9.1"}) == []


def test_prune_keeps_one_version_of_each_pinned_wheel(tmp_path: Path) -> None:
    keep = _wheel(tmp_path, "trimesh", "5.2.0", [])
    _wheel(tmp_path, "trimesh", "4.0.0", [])
    _wheel(tmp_path, "other", "1.0", [])
    assert fetch_wheels.prune({"trimesh": "5.2.0"}, tmp_path) == [keep]
    assert sorted(p.name for p in tmp_path.iterdir()) == [keep.name]
    with pytest.raises(InputError, match="rpds-py"):
        fetch_wheels.prune({"trimesh": "5.2.0", "rpds-py": "1.0"}, tmp_path)


def test_requirements_are_exact_pins(tmp_path: Path) -> None:
    pins = fetch_wheels.read_requirements()
    assert {"trimesh", "jsonschema", "libigl"} <= set(pins)
    bad = tmp_path / "requirements.txt"
    bad.write_text("# comment\ntrimesh>=4\n")
    with pytest.raises(InputError, match=r"requirements.txt:2: expected 'name==version'"):
        fetch_wheels.read_requirements(bad)
