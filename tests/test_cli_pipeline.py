"""`alto train`, `alto generate` and `alto evaluate` end to end from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import trimesh
from test_train import tiny_config

from alto.cli.main import main as alto_main
from alto.data.demo import DemoResult
from alto.data.layout import read_split


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
