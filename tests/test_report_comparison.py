"""The published numbers shipped with the workflow, and the comparison table built from them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from alto.errors import InputError
from alto.eval import MEAN_OF_CLASSES
from alto.report.comparison import COMPARISON_COLUMNS, paper_comparison, read_published_numbers

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_COPY = REPO / "workflow" / "resources" / "published-numbers.yaml"
#: The team's reference copy, laid beside every checkout and CI clone (``../shared``).
SHARED_COPY = REPO.parent / "shared" / "reference" / "published-numbers.yaml"
METRICS = ("iou", "chamfer_l1", "nc", "fscore")


def test_workflow_copy_of_the_published_numbers_is_in_step_with_the_reference() -> None:
    if not SHARED_COPY.is_file():
        pytest.skip(f"no reference copy at {SHARED_COPY} (only checkouts beside shared/ have one)")
    assert WORKFLOW_COPY.read_text() == SHARED_COPY.read_text(), (
        f"{WORKFLOW_COPY} differs from {SHARED_COPY}: copy the reference over it"
    )


def test_every_published_setting_has_rows_with_all_metrics_and_a_verification_flag() -> None:
    published = read_published_numbers(WORKFLOW_COPY)
    settings = {name: value for name, value in published.items() if isinstance(value, dict) and "rows" in value}
    assert {"shapenet", "synthetic_rooms"} <= set(settings)
    for name, setting in settings.items():
        assert setting["chamfer_scale"] in (10, 100), name
        for method, row in setting["rows"].items():
            assert set(METRICS) <= set(row), (name, method)
            assert isinstance(row["verified"], bool), (name, method)
            assert 0.0 < row["iou"] <= 1.0 and 0.0 < row["fscore"] <= 1.0, (name, method)


def _table(experiment: str, iou: float, chamfer_l1: float) -> pd.DataFrame:
    return pd.DataFrame([{
        "experiment": experiment, "class": MEAN_OF_CLASSES, "iou": iou, "chamfer_l1": chamfer_l1,
        "normal_consistency": 0.9, "fscore_1pct": 0.8, "n_objects": 21, "n_failed": 1,
    }])


def test_comparison_puts_our_rows_beside_the_published_ones_in_the_papers_scale() -> None:
    published = read_published_numbers(WORKFLOW_COPY)
    comparison = paper_comparison(
        {"shapenet": _table("alto_shapenet_3plane", 0.91, 0.0031)},
        published,
        {"shapenet": {"published": "shapenet", "methods": {"alto_shapenet_3plane": "ALTO"}}},
    )
    assert list(comparison.columns) == COMPARISON_COLUMNS
    ours = comparison[comparison["source"] == "alto"].iloc[0]
    assert ours["method"] == "ALTO" and ours["chamfer_l1_scaled"] == pytest.approx(0.31)
    assert ours["n_failed"] == 1 and bool(ours["verified"])
    theirs = comparison[(comparison["source"] == "published") & (comparison["method"] == "ALTO")].iloc[0]
    assert theirs["chamfer_l1_scaled"] == published["shapenet"]["rows"]["ALTO"]["chamfer_l1"]
    assert not bool(theirs["verified"])


def test_comparison_names_a_setting_missing_from_the_published_numbers() -> None:
    with pytest.raises(InputError, match="no setting 'scannet'"):
        paper_comparison(
            {"scans": _table("alto", 0.5, 0.01)},
            read_published_numbers(WORKFLOW_COPY),
            {"scans": {"published": "scannet", "methods": {}}},
        )
