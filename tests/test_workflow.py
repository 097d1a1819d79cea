"""The Snakemake workflow: DAGs of every shipped config, the tiny config for real, downloads.

Snakemake runs in a subprocess with a temporary working directory holding a copy
of config/, exactly as a user runs it from a checkout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch
import yaml

from alto.data.demo import DemoResult
from alto.data.scannet import list_scenes

pytestmark = pytest.mark.slow  # every test runs Snakemake in a subprocess

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CONFIGS = ["config.yaml", "paper.yaml", "pretrained.yaml", "test.yaml"]


def snakemake_command(workdir: Path, *args: str, config: str | Path = "config/test.yaml",
                      env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Command line and environment (the venv's tools on PATH) of snakemake on the repository's
    workflow in ``workdir``."""
    base = env if env is not None else dict(os.environ)
    env = {**base, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(workdir / config), "--cores", "2", *args]
    return command, env


def snakemake(workdir: Path, *args: str, config: str | Path = "config/test.yaml",
              timeout: float = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run snakemake on the repository's workflow in ``workdir``."""
    command, env = snakemake_command(workdir, *args, config=config, env=env)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run: rule -> number of jobs."""
    stats = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", stats, flags=re.M)}


def fresh_workdir(tmp_path: Path) -> Path:
    workdir = tmp_path / "work"
    shutil.copytree(REPO / "config", workdir / "config")
    return workdir


def write_config(workdir: Path, name: str, data: dict) -> str:
    (workdir / "config" / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return f"config/{name}"


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_every_shipped_config_builds_its_dag(tmp_path: Path, name: str) -> None:
    result = snakemake(fresh_workdir(tmp_path), "-n", "all", config=f"config/{name}")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["split_list"] == len(yaml.safe_load((REPO / "config" / name).read_text())["targets"])
    assert counts["table"] >= 1 and counts["all"] == 1


def test_any_dataset_table_can_be_asked_for_from_the_default_config(tmp_path: Path) -> None:
    result = snakemake(fresh_workdir(tmp_path), "-n", "results/tables/shapenet.csv", config="config/config.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout + result.stderr) == {"download_dataset": 1, "split_list": 1, "table": 1,
                                                         "total": 3}


def test_lint_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--lint"],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _job_resources(output: str) -> dict[str, set[str]]:
    """Rule -> the ``resources:`` lines of its jobs in a dry run's output."""
    found: dict[str, set[str]] = {}
    for rule, block in re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):\n(.*?)(?=\n\n)", output, flags=re.M | re.S):
        lines = re.findall(r"^\s+resources: (.*)$", block, flags=re.M)
        found.setdefault(rule, set()).update(lines)
    return found


def test_cluster_partitions_and_account_reach_every_cluster_job(tmp_path: Path) -> None:
    workdir = fresh_workdir(tmp_path)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["cluster"] = {"gpu_partition": "gpu_nodes", "account": "project7"}
    env = {key: value for key, value in os.environ.items() if not key.startswith("SBATCH_")}
    env["SBATCH_PARTITION"] = "cpu_nodes"  # what the config leaves out comes from the environment
    result = snakemake(workdir, "-n", "all", config=write_config(workdir, "cluster.yaml", config), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    resources = _job_resources(result.stdout + result.stderr)
    expected = {"demo_data": "cpu_nodes", "train": "gpu_nodes"}
    for rule, partition in expected.items():
        assert resources[rule], rule
        for line in resources[rule]:
            assert f"slurm_partition={partition}" in line and "slurm_account=project7" in line, (rule, line)
    for local_rule in ("compile_extensions", "demo_dataset"):
        assert not any("slurm_" in line for line in resources[local_rule])


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    workdir = fresh_workdir(tmp_path)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"]["demo_objects"]["max_object_per_class"] = 2
    result = snakemake(workdir, "-n", config=write_config(workdir, "typo.yaml", config))
    assert result.returncode != 0 and "max_object_per_class" in result.stdout + result.stderr
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["experiments"]["test_alto_objects"]["dataset"] = "shapenett"
    result = snakemake(workdir, "-n", config=write_config(workdir, "ref.yaml", config))
    assert result.returncode != 0
    assert "experiments.test_alto_objects.dataset: unknown dataset 'shapenett'" in result.stdout + result.stderr


def test_tiny_config_runs_the_whole_chain_and_reruns_only_what_changed(tmp_path: Path) -> None:
    workdir = fresh_workdir(tmp_path)
    result = snakemake(workdir, "all")
    assert result.returncode == 0, result.stderr[-5000:]
    results = workdir / "results"
    objects = (results / "splits" / "demo_objects.txt").read_text().split()
    table = pd.read_csv(results / "tables" / "demo_objects.csv", dtype={"class_id": str})
    assert set(table["experiment"]) == {"test_alto_objects", "test_convonet_objects"}
    means = table[table["class"] == "mean_of_classes"].set_index("experiment")
    assert (means["n_objects"] == len(objects)).all()
    assert means["generation_seconds"].gt(0).all()
    rooms = pd.read_csv(results / "tables" / "demo_rooms.csv")
    assert set(rooms["experiment"]) == {"test_alto_rooms"}
    assert "rooms_04" in set(rooms["class"])  # rooms are named by their class folder
    comparison = pd.read_csv(results / "tables" / "paper_comparison.csv")
    assert set(comparison["source"]) == {"alto"} and len(comparison) == 3
    for figure in ["runtime_vs_iou", "training_curves", "demo_objects_qualitative", "demo_rooms_per_class"]:
        assert (results / "figures" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
        assert (results / "figures" / f"{figure}.pdf").read_bytes()[:4] == b"%PDF"

    again = snakemake(workdir, "-n", "all")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    report = workdir / "report.html"
    built = snakemake(workdir, "--report", str(report))
    assert built.returncode == 0, built.stderr[-3000:]
    html = report.read_text(errors="replace")
    for name in ("demo_objects.csv", "demo_rooms.csv", "paper_comparison.csv", "runtime_vs_iou.png"):
        assert name in html

    _deleting_a_mesh_reruns_its_chunk_once(workdir, sorted(objects))
    rooms = sorted((results / "splits" / "demo_rooms.txt").read_text().split())
    _a_killed_chunk_keeps_its_finished_meshes(workdir, rooms)
    _other_chunk_sizes_give_the_same_tables(workdir)


def _tables(workdir: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(workdir / "results" / "tables" / f"{name}.csv", dtype={"class_id": str})
            for name in ("demo_objects", "demo_rooms")}


def without_timings(table: pd.DataFrame) -> pd.DataFrame:
    """A table without its timing column (seconds differ between any two runs), in a fixed row order."""
    return table.drop(columns=["generation_seconds"]).sort_values(["experiment", "class"]).reset_index(drop=True)


def _nothing_to_do(workdir: Path, config: str = "config/test.yaml") -> bool:
    again = snakemake(workdir, "-n", "all", config=config)
    return again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def _deleting_a_mesh_reruns_its_chunk_once(workdir: Path, objects: list[str]) -> None:
    """Exactly the chunk of a deleted mesh runs (regenerating only that mesh), its evaluation
    chunk and the tables; the run after that has nothing to do."""
    before = _tables(workdir)
    meshes = workdir / "results" / "meshes" / "demo_objects" / "test_alto_objects"
    (meshes / f"{objects[0]}.ply").unlink()
    planned = snakemake(workdir, "-n", "all")
    counts = job_counts(planned.stdout + planned.stderr)
    assert counts["generate_chunk"] == 1 and counts["evaluate_chunk"] == 1 and counts["table"] == 1, counts
    assert not {"train", "demo_data", "split_list"} & set(counts)
    result = snakemake(workdir, "all")
    assert result.returncode == 0, result.stderr[-3000:]
    log = (workdir / "logs" / "generate" / "demo_objects" / "test_alto_objects" / "0000.log").read_text()
    assert f"/2 {objects[1]}: skipped" in log and f"/2 {objects[0]}: 300 points in" in log
    assert (meshes / f"{objects[0]}.ply").is_file()
    after = _tables(workdir)
    for name, table in before.items():
        pd.testing.assert_frame_equal(without_timings(after[name]), without_timings(table))
    assert _nothing_to_do(workdir)


def _kill_generation(snakemake_pid: int) -> int:
    """Kill the `alto generate` processes below a Snakemake process; returns how many."""
    killed = 0
    for process in psutil.Process(snakemake_pid).children(recursive=True):
        try:
            if "generate" in process.cmdline():
                process.kill()
                killed += 1
        except psutil.NoSuchProcess:
            continue
    return killed


def _a_killed_chunk_keeps_its_finished_meshes(workdir: Path, rooms: list[str]) -> None:
    """A chunk job killed after its first object (a time limit, a lost node) fails; the rerun
    generates only the object it had not finished."""
    meshes = workdir / "results" / "meshes" / "demo_rooms" / "test_alto_rooms"
    manifest = meshes / "chunks" / "0000.json"
    first, second = rooms[:2]  # chunk 0000: two rooms
    for room in (first, second):
        (meshes / f"{room}.ply").unlink()
        (meshes / f"{room}.json").unlink()
    command, env = snakemake_command(workdir, "all")
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while not (meshes / f"{first}.json").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _kill_generation(run.pid), "the chunk job was not running"
    assert run.wait(timeout=120) != 0
    assert (meshes / f"{first}.json").is_file() and not (meshes / f"{second}.json").exists()
    assert not manifest.exists()

    result = snakemake(workdir, "all")
    assert result.returncode == 0, result.stderr[-3000:]
    log = (workdir / "logs" / "generate" / "demo_rooms" / "test_alto_rooms" / "0000.log").read_text()
    assert f"/2 {first}: skipped" in log and f"/2 {second}: 300 points in" in log
    assert manifest.is_file() and _nothing_to_do(workdir)


def _other_chunk_sizes_give_the_same_tables(workdir: Path) -> None:
    """Chunks of 1 (generation) and 3 (evaluation) objects instead of 2 and 4: every chunk job
    runs again, finds the meshes up to date, and the tables are the same to the last digit."""
    before = _tables(workdir)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["chunks"] = {"generate": 1, "evaluate": 3}
    rechunked = write_config(workdir, "rechunked.yaml", config)
    result = snakemake(workdir, "all", config=rechunked)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["generate_chunk"] == 3 * 2 + 5 and "train" not in counts  # 3 objects x 2 experiments, 5 rooms
    log = (workdir / "logs" / "generate" / "demo_objects" / "test_alto_objects" / "0002.log").read_text()
    assert "1/1" in log and "skipped (mesh and record up to date)" in log
    after = _tables(workdir)
    for name, table in before.items():
        pd.testing.assert_frame_equal(after[name], table)
    assert _nothing_to_do(workdir, rechunked)


def _rooms_archive(demo: DemoResult, path: Path, extra: dict[str, bytes] | None = None) -> str:
    """A zip laid out like ConvONet's synthetic_room_dataset.zip, made of the demo rooms."""
    rooms = Path(demo.rooms_root)
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(rooms.rglob("*")):
            if file.is_file():
                archive.write(file, f"synthetic_room_dataset/{file.relative_to(rooms)}")
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download_config(workdir: Path, url: str, sha256: str | None) -> str:
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"]["synthetic_rooms"] = {
        "source": "download", "download": "synthetic_rooms", "url": url, "sha256": sha256,
        "path": "data/synthetic_room_dataset", "kind": "rooms",
    }
    return write_config(workdir, "download.yaml", config)


def test_download_rule_verifies_and_unpacks(tmp_path: Path, demo_dataset: DemoResult) -> None:
    workdir = fresh_workdir(tmp_path)
    digest = _rooms_archive(demo_dataset, tmp_path / "rooms.zip")
    url = (tmp_path / "rooms.zip").as_uri()

    bad = snakemake(workdir, "results/datasets/synthetic_rooms.json",
                    config=_download_config(workdir, url, "0" * 64))
    assert bad.returncode != 0
    log = (workdir / "logs" / "data" / "synthetic_rooms.log").read_text()
    assert "checksum mismatch" in log and digest in log
    assert not (workdir / "data" / "synthetic_room_dataset").exists()

    good = snakemake(workdir, "results/datasets/synthetic_rooms.json",
                     config=_download_config(workdir, url, digest))
    assert good.returncode == 0, good.stderr[-3000:]
    assert (workdir / "data" / "synthetic_room_dataset" / "rooms_04" / "test.lst").is_file()
    assert (workdir / "results" / "datasets" / "synthetic_rooms.json").is_file()


def test_a_dataset_inside_a_larger_archive_is_found_by_its_subfolder(tmp_path: Path, demo_dataset: DemoResult) -> None:
    """ConvONet's demo archive unpacks to demo/{synthetic_room_dataset, Matterport3D_processed}."""
    workdir = fresh_workdir(tmp_path)
    rooms = Path(demo_dataset.rooms_root)
    with zipfile.ZipFile(tmp_path / "demo_data.zip", "w") as archive:
        for file in sorted(rooms.rglob("*")):
            if file.is_file():
                archive.write(file, f"demo/synthetic_room_dataset/{file.relative_to(rooms)}")
        archive.writestr("demo/Matterport3D_processed/README", "scans")
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"]["convonet_demo"] = {
        "source": "download", "download": "demo", "url": (tmp_path / "demo_data.zip").as_uri(),
        "path": "data/convonet_demo", "subfolder": "synthetic_room_dataset", "kind": "rooms",
    }
    result = snakemake(workdir, "results/datasets/convonet_demo.json",
                       config=write_config(workdir, "demo_archive.yaml", config))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workdir / "data" / "convonet_demo" / "Matterport3D_processed" / "README").is_file()
    stamp = json.loads((workdir / "results" / "datasets" / "convonet_demo.json").read_text())
    assert stamp["path"].endswith("data/convonet_demo/synthetic_room_dataset")
    assert "rooms_04" in stamp["categories"]


@pytest.mark.parametrize("form", ["catalog", "url"])
def test_published_checkpoint_is_downloaded_and_converted(tmp_path: Path, form: str) -> None:
    """config/pretrained.yaml's path: a catalog model (from a file:// mirror here) or a
    checkpoint URL, fetched and converted through alto's model cache."""
    from alto.models.reference import load_reference

    workdir = fresh_workdir(tmp_path)
    case = load_reference(REPO / "tests" / "data" / "reference", "convonet_shapenet_3plane")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    upstream = mirror / "convonet-shapenet-3plane.pt"
    torch.save({"model": case.upstream_state, "it": 42}, upstream)
    (workdir / "config" / "published_model.yaml").write_text(yaml.safe_dump(case.config))
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"]["demo_rooms"].pop("evaluate", None)
    source = {"model": "convonet-shapenet-3plane"} if form == "catalog" else {
        "checkpoint": upstream.as_uri(), "checkpoint_sha256": hashlib.sha256(upstream.read_bytes()).hexdigest()}
    config["experiments"] = {"published": {
        "config": "config/published_model.yaml", "dataset": "demo_objects", "method": "ConvONet", **source}}
    env = {**os.environ, "ALTO_MODEL_CACHE": str(tmp_path / "cache"), "ALTO_MODEL_MIRROR": mirror.as_uri()}
    result = snakemake(workdir, "results/models/published/train_summary.json",
                       config=write_config(workdir, "published.yaml", config), env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    converted = torch.load(workdir / "results" / "models" / "published" / "model_best.pt", weights_only=True)
    assert converted["format"] == "alto-checkpoint" and converted["it"] == 42
    summary = json.loads((workdir / "results" / "models" / "published" / "train_summary.json").read_text())
    assert summary["source_format"] == "upstream" and summary["iterations"] == 42
    assert summary["upstream_sha256"] == hashlib.sha256(upstream.read_bytes()).hexdigest()
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1


def test_download_rule_refuses_a_malicious_archive(tmp_path: Path, demo_dataset: DemoResult) -> None:
    workdir = fresh_workdir(tmp_path)
    digest = _rooms_archive(demo_dataset, tmp_path / "evil.zip", extra={"../escaped.txt": b"gotcha"})
    result = snakemake(workdir, "results/datasets/synthetic_rooms.json",
                       config=_download_config(workdir, (tmp_path / "evil.zip").as_uri(), digest))
    assert result.returncode != 0
    assert "refusing to extract" in (workdir / "logs" / "data" / "synthetic_rooms.log").read_text()
    assert not (workdir / "data" / "escaped.txt").exists() and not (workdir / "escaped.txt").exists()
    assert not (workdir / "data" / "synthetic_room_dataset").exists()


def test_unreachable_data_fails_fast_saying_where_to_put_it(tmp_path: Path) -> None:
    workdir = fresh_workdir(tmp_path)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"]["shapenet"]["url"] = "http://127.0.0.1:9/dataset_small_v1.1.zip"  # nothing listens there
    started = time.monotonic()
    result = snakemake(workdir, "results/tables/shapenet.csv", config=write_config(workdir, "offline.yaml", config))
    assert result.returncode != 0
    assert time.monotonic() - started < 120
    log = (workdir / "logs" / "data" / "shapenet.log").read_text()
    assert "data/ShapeNet" in log and "dataset_small_v1.1.zip" in log


def test_missing_scannet_fails_fast_with_instructions(tmp_path: Path) -> None:
    workdir = fresh_workdir(tmp_path)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"]["scannet"] = {"source": "scannet", "scans": "data/scannet/scans",
                                     "path": "data/scannet/processed", "kind": "scenes"}
    result = snakemake(workdir, "results/datasets/scannet.json", config=write_config(workdir, "scannet.yaml", config))
    assert result.returncode != 0
    log = (workdir / "logs" / "data" / "scannet.log").read_text()
    assert "cannot be downloaded automatically" in log and "data/scannet/scans" in log


def test_scannet_scenes_are_preprocessed_one_job_each(tmp_path: Path) -> None:
    from test_scannet import write_scan

    workdir = fresh_workdir(tmp_path)
    for scene in ("scene0000_00", "scene0001_00"):
        write_scan(workdir / "data" / "scannet" / "scans", scene=scene)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"]["scannet"] = {"source": "scannet", "scans": "data/scannet/scans", "points": 2000,
                                     "path": "data/scannet/processed", "kind": "scenes"}
    result = snakemake(workdir, "results/datasets/scannet.json", config=write_config(workdir, "scannet.yaml", config))
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout + result.stderr)["scannet_scene"] == 2
    processed = workdir / "data" / "scannet" / "processed" / "scenes"
    assert (processed / "test.lst").read_text().split() == ["scene0000_00", "scene0001_00"]
    with np.load(processed / "scene0001_00" / "pointcloud.npz") as scene:
        assert scene["points"].shape == (2000, 3)


def test_train_rule_launches_ddp_when_given_two_gpus(tmp_path: Path) -> None:
    """Two 'GPUs' for the train rule: torchrun with two processes (gloo, on the CPU here)."""
    workdir = fresh_workdir(tmp_path)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["experiments"]["test_convonet_objects"]["train_resources"] = {"gpu": 2}
    target = "results/models/test_convonet_objects/train_summary.json"
    result = snakemake(workdir, target, "--workflow-profile", "none", "--resources", "gpu=2",
                       config=write_config(workdir, "ddp.yaml", config))
    assert result.returncode == 0, result.stderr[-3000:]
    log = (workdir / "logs" / "train" / "test_convonet_objects.log").read_text()
    assert "launching 2 processes" in log and "--nproc-per-node=2" in log
    summary = yaml.safe_load((workdir / target).read_text())
    assert summary["iterations"] == 3


def test_scannet_scenes_are_those_alto_lists(tmp_path: Path) -> None:
    """The workflow asks alto which scene folders there are: hidden folders are not scenes."""
    workdir = fresh_workdir(tmp_path)
    scans = workdir / "data" / "scannet" / "scans"
    for folder in ("scene0000_00", "scene0001_00", ".ipynb_checkpoints"):
        (scans / folder).mkdir(parents=True)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"]["scannet"] = {"source": "scannet", "scans": "data/scannet/scans",
                                     "path": "data/scannet/processed", "kind": "scenes"}
    result = snakemake(workdir, "-n", "results/datasets/scannet.json",
                       config=write_config(workdir, "scannet.yaml", config))
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(result.stdout + result.stderr)["scannet_scene"] == len(list_scenes(scans)) == 2


def _schema_resource_defaults(stage: str) -> dict[str, int]:
    """The defaults the workflow schema gives the ``resources.<stage>`` keys."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema["properties"]["resources"]["properties"][stage]["properties"]
    return {key: spec["default"] for key, spec in keys.items()}


def test_resources_left_out_of_the_config_are_the_schema_defaults(tmp_path: Path) -> None:
    """The schema is the one home of the resource defaults; an experiment's train_resources wins key by key."""
    workdir = fresh_workdir(tmp_path)
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    del config["resources"]
    config["experiments"]["test_convonet_objects"]["train_resources"] = {"runtime": 7}
    result = snakemake(workdir, "-n", "all", config=write_config(workdir, "defaults.yaml", config))
    assert result.returncode == 0, result.stderr[-3000:]
    resources = {rule: [dict(pair.split("=", 1) for pair in line.split(", ")) for line in lines]
                 for rule, lines in _job_resources(result.stdout + result.stderr).items()}
    data = _schema_resource_defaults("data")
    assert [{key: int(found[key]) for key in ("mem_mb", "runtime")} for found in resources["demo_data"]] == [
        {"mem_mb": data["mem_mb"], "runtime": data["runtime"]}]
    train = _schema_resource_defaults("train")
    expected = {key: train[key] for key in ("mem_mb", "runtime", "gpu")}
    found = sorted(({key: int(job[key]) for key in expected} for job in resources["train"]), key=lambda r: r["runtime"])
    assert found == sorted([expected, {**expected, "runtime": 7}], key=lambda r: r["runtime"])
