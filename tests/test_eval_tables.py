"""Per-object CSV rows and the per-class aggregation with failures counted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import trimesh

from alto.errors import InputError
from alto.eval.evaluator import evaluate_object
from alto.eval.metrics import FAILURE_PENALTIES, METRIC_NAMES
from alto.eval.sampling import sample_surface
from alto.eval.tables import (
    GENERATION_SECONDS,
    MEAN_OF_CLASSES,
    MEAN_OF_OBJECTS,
    ROW_COLUMNS,
    aggregate_rows,
    read_rows_csv,
    write_rows_csv,
    write_table_csv,
)


def make_row(class_id: str, model: str, value: float | None, class_name: str | None = None) -> dict:
    """A row whose every metric is ``value``; ``None`` makes it a failed row with penalties."""
    failed = value is None
    metrics = dict(FAILURE_PENALTIES) if failed else dict.fromkeys(METRIC_NAMES, value)
    return {
        "class_id": class_id,
        "class_name": class_name or class_id,
        "model_name": model,
        "failed": failed,
        "failure_reason": "no mesh was generated" if failed else "",
        **metrics,
        "remove_wall": False,
        "n_vertices": 0 if failed else 10,
        "n_faces": 0 if failed else 16,
    }


def sample_rows() -> list[dict]:
    return [
        make_row("02691156", "a1", 0.8, "airplane"),
        make_row("02691156", "a2", 0.6, "airplane"),
        make_row("03001627", "c1", 0.9, "chair"),
        make_row("03001627", "c2", 0.5, "chair"),
        make_row("03001627", "c3", None, "chair"),
    ]


def test_aggregation_counts_failures_and_keeps_them_in_the_means():
    table = aggregate_rows(pd.DataFrame(sample_rows()))
    assert list(table.index) == ["airplane", "chair", MEAN_OF_CLASSES, MEAN_OF_OBJECTS]
    assert list(table["n_objects"]) == [2, 3, 5, 5]
    assert list(table["n_failed"]) == [0, 1, 1, 1]
    assert list(table["class_id"][:2]) == ["02691156", "03001627"]

    chair_iou = (0.9 + 0.5 + 0.0) / 3
    assert table.loc["airplane", "iou"] == pytest.approx(0.7)
    assert table.loc["chair", "iou"] == pytest.approx(chair_iou)
    assert table.loc[MEAN_OF_CLASSES, "iou"] == pytest.approx((0.7 + chair_iou) / 2)
    assert table.loc[MEAN_OF_OBJECTS, "iou"] == pytest.approx((0.8 + 0.6 + 0.9 + 0.5) / 5)

    chair_chamfer = (0.9 + 0.5 + math.sqrt(3)) / 3
    assert table.loc["chair", "chamfer_l1"] == pytest.approx(chair_chamfer)
    assert table.loc["chair", "chamfer_l1_x10"] == pytest.approx(10 * chair_chamfer)
    assert table.loc["chair", "chamfer_l1_x100"] == pytest.approx(100 * chair_chamfer)
    assert table.loc["chair", "normal_consistency"] == pytest.approx((0.9 + 0.5 - 1.0) / 3)


def test_rows_round_trip_through_csv_keeping_identifiers(tmp_path):
    rows = [
        make_row("02691156", "00000000", 0.25, "n/a"),
        make_row("rooms_04", "00000007", None, "NA"),
    ]
    paths = [tmp_path / "a" / "row0.csv", tmp_path / "b" / "row1.csv"]
    for row, path in zip(rows, paths, strict=True):
        write_rows_csv(row, path)
    frame = read_rows_csv(paths)
    assert list(frame.columns) == list(ROW_COLUMNS)
    assert list(frame["class_id"]) == ["02691156", "rooms_04"]
    assert list(frame["class_name"]) == ["n/a", "NA"]
    assert list(frame["model_name"]) == ["00000000", "00000007"]
    assert list(frame["failed"]) == [False, True]
    assert list(frame["failure_reason"]) == ["", "no mesh was generated"]
    for name in METRIC_NAMES:
        assert list(frame[name]) == [rows[0][name], rows[1][name]]


def test_extra_columns_are_kept_after_the_row_columns(tmp_path):
    row = {**make_row("rooms_05", "00000003", 0.5), "method": "alto"}
    write_rows_csv(row, tmp_path / "row.csv")
    frame = read_rows_csv(tmp_path / "row.csv")
    assert list(frame.columns) == [*ROW_COLUMNS, "method"]
    assert frame.loc[0, "method"] == "alto"


def test_aggregated_table_csv_reads_back(tmp_path):
    table = aggregate_rows(sample_rows())
    write_table_csv(table, tmp_path / "table.csv")
    back = pd.read_csv(tmp_path / "table.csv", index_col="class", dtype={"class_id": str})
    assert list(back.index) == list(table.index)
    np.testing.assert_allclose(back["iou"], table["iou"])
    assert list(back["n_failed"]) == list(table["n_failed"])


def test_rows_from_the_evaluator_aggregate_with_the_failure():
    mesh = trimesh.creation.icosphere(subdivisions=1, radius=0.3)
    gt = sample_surface(mesh.vertices, mesh.faces, 5000, np.random.default_rng(0))
    points = np.random.default_rng(1).uniform(-0.55, 0.55, (2000, 3))
    occ = np.linalg.norm(points, axis=1) < 0.29
    rows = [
        evaluate_object(model, gt.points, gt.normals, points, occ, rng=2, class_id="s", model_name=name)
        for model, name in ((mesh, "ok"), (None, "missing"))
    ]
    table = aggregate_rows(rows)
    assert table.loc["s", "n_failed"] == 1 and table.loc["s", "n_objects"] == 2
    assert table.loc["s", "iou"] == pytest.approx(rows[0]["iou"] / 2)


def test_nan_metric_is_rejected_naming_column_and_object():
    rows = sample_rows()
    rows[1]["chamfer_l2"] = float("nan")
    with pytest.raises(InputError, match=r"chamfer_l2.*02691156/a2"):
        aggregate_rows(rows)


def test_missing_column_is_rejected(tmp_path):
    path = tmp_path / "row.csv"
    pd.DataFrame(sample_rows()).drop(columns=["iou"]).to_csv(path, index=False)
    with pytest.raises(InputError, match=rf"{path.name}.*'iou'"):
        read_rows_csv([path])


def test_missing_row_file_is_rejected(tmp_path):
    with pytest.raises(InputError, match=r"row\.csv"):
        read_rows_csv([tmp_path / "row.csv"])


def test_duplicate_object_is_rejected(tmp_path):
    rows = sample_rows()
    write_rows_csv(rows[0], tmp_path / "x.csv")
    write_rows_csv(rows[0], tmp_path / "y.csv")
    with pytest.raises(InputError, match="02691156/a1 appears twice"):
        read_rows_csv([tmp_path / "x.csv", tmp_path / "y.csv"])


def test_class_id_with_two_names_is_rejected():
    rows = sample_rows()
    rows[0]["class_name"] = "plane"
    with pytest.raises(InputError, match="02691156"):
        aggregate_rows(rows)


def test_failed_flag_must_be_boolean():
    rows = sample_rows()
    rows[0]["failed"] = "maybe"
    with pytest.raises(InputError, match="failed"):
        aggregate_rows(rows)


def test_tables_per_experiment_average_extra_columns():
    rows = [
        {**make_row("c", "m1", 0.8), "experiment": "alto", GENERATION_SECONDS: 2.0},
        {**make_row("c", "m2", 0.6), "experiment": "alto", GENERATION_SECONDS: 4.0},
        {**make_row("c", "m1", 0.4), "experiment": "convonet", GENERATION_SECONDS: 1.0},
        {**make_row("c", "m2", None), "experiment": "convonet", GENERATION_SECONDS: 3.0},
    ]
    table = aggregate_rows(rows, keys=["experiment"], extra_means=[GENERATION_SECONDS])
    assert table.index.names == ["experiment", "class"]
    assert table.loc[("alto", MEAN_OF_CLASSES), "iou"] == pytest.approx(0.7)
    assert table.loc[("convonet", "c"), "iou"] == pytest.approx(0.2)
    assert table.loc[("convonet", "c"), "n_failed"] == 1
    assert table.loc[("alto", MEAN_OF_OBJECTS), GENERATION_SECONDS] == pytest.approx(3.0)
    assert table.loc[("convonet", "c"), GENERATION_SECONDS] == pytest.approx(2.0)
    with pytest.raises(InputError, match=r"c/m1 \(experiment alto\) appears twice"):
        aggregate_rows([*rows, rows[0]], keys=["experiment"])
    with pytest.raises(InputError, match="no column"):
        aggregate_rows(rows, extra_means=["seconds"], keys=["experiment"])


def test_iou_may_be_missing_but_no_other_metric():
    rows = [{**make_row("scenes", f"s{i}", 0.5), "iou": float("nan")} for i in range(2)]
    table = aggregate_rows(rows)
    assert math.isnan(table.loc[MEAN_OF_CLASSES, "iou"])
    assert table.loc[MEAN_OF_CLASSES, "chamfer_l1"] == pytest.approx(0.5)
    rows[0]["accuracy"] = float("nan")
    with pytest.raises(InputError, match="accuracy"):
        aggregate_rows(rows)
