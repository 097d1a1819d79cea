"""`alto train`, `alto generate` and `alto evaluate` end to end from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import trimesh
from test_train import tiny_config

from alto.cli.main import main as alto_main
from alto.data.demo import DemoResult
from alto.data.layout import read_split

pytestmark = pytest.mark.slow  # every test trains a model first


def test_train_generate_evaluate_from_the_command_line(tmp_path: Path, demo_dataset: DemoResult) -> None:
    config = str(tiny_config(tmp_path, demo_dataset, max_iters=4))
    assert alto_main(["train", config]) == 0
    run = tmp_path / "run"
    assert (run / "model_best.pt").is_file() and (run / "train_summary.json").is_file()

    category = sorted(demo_dataset.objects)[0]
    models = read_split(Path(demo_dataset.objects_root), category, "test")
    meshes = tmp_path / "meshes"
    low_res = ["--set", "generation.extractor={method: region_growing, resolution: 16, refinement_steps: 1}"]
    assert alto_main(["generate", config, "--out-dir", str(meshes), *low_res]) == 0
    generated = sorted(meshes.rglob("*.ply"))
    assert len(generated) == len(demo_dataset.objects)  # one test object per category in the tiny demo
    record = json.loads((meshes / category / f"{models[0]}.json").read_text())
    assert record["category"] == category and record["total_seconds"] > 0
    assert len(trimesh.load(generated[0], process=False).vertices) == record["vertices"]

    rows, table = tmp_path / "rows.csv", tmp_path / "table.csv"
    assert alto_main(["evaluate", config, "--meshes", str(meshes), "--experiment", "tiny",
                      "--out", str(rows), "--table", str(table)]) == 0
    frame = pd.read_csv(rows, dtype={"class_id": str})
    assert len(frame) == len(generated) and frame["generation_seconds"].gt(0).all()
    summary = pd.read_csv(table)
    assert set(summary["class"]) >= {"mean_of_classes", "mean_of_objects"}

    one = tmp_path / "one.csv"
    assert alto_main(["evaluate", config, "--object", f"{category}/{models[0]}", "--mesh",
                      str(meshes / category / f"{models[0]}.ply"), "--out", str(one)]) == 0
    single = pd.read_csv(one, dtype={"class_id": str})
    row = frame[frame["model_name"] == models[0]]
    assert single["iou"].iloc[0] == row["iou"].iloc[0]  # seeded per object, whatever the batch
    assert alto_main(["evaluate", config, "--object", f"{category}/nonexistent", "--out", str(one)]) == 2


def test_a_chunk_resumes_where_it_stopped_and_redoes_all_for_another_model(
    tmp_path: Path, demo_dataset: DemoResult
) -> None:
    """--resume skips objects whose mesh and record match the checkpoint and config; --manifest lists the chunk."""
    config = str(tiny_config(tmp_path, demo_dataset, max_iters=2))
    assert alto_main(["train", config]) == 0
    objects = sorted(f"{category}/{model}" for category in demo_dataset.objects
                     for model in read_split(Path(demo_dataset.objects_root), category, "test"))
    meshes, manifest = tmp_path / "meshes", tmp_path / "chunk.json"
    low_res = ["--set", "generation.extractor={method: region_growing, resolution: 8, refinement_steps: 0}"]
    chunk = [arg for name in objects for arg in ("--object", name)]
    command = ["generate", config, "--out-dir", str(meshes), *chunk, "--resume", "--manifest", str(manifest), *low_res]
    assert alto_main(command) == 0
    listed = json.loads(manifest.read_text())
    assert [entry["object"] for entry in listed["objects"]] == objects and listed["generated"] == len(objects)
    records = {name: meshes / f"{name}.json" for name in objects}
    written = {name: record.stat().st_mtime_ns for name, record in records.items()}

    (meshes / f"{objects[0]}.ply").unlink()  # a chunk killed before its first object was written
    assert alto_main(command) == 0
    assert json.loads(manifest.read_text())["skipped"] == len(objects) - 1
    assert records[objects[0]].stat().st_mtime_ns > written[objects[0]]
    assert all(records[name].stat().st_mtime_ns == written[name] for name in objects[1:])

    assert alto_main([*command, "--set", "test.threshold=0.3"]) == 0  # other settings: every mesh is redone
    assert json.loads(manifest.read_text())["generated"] == len(objects)
    fingerprints = {json.loads(record.read_text())["fingerprint"] for record in records.values()}
    assert len(fingerprints) == 1 and fingerprints != {listed["fingerprint"]}
