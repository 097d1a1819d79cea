"""Our numbers beside the published ones.

The published values come from ``published-numbers.yaml`` (the papers' headline
tables, with a ``verified`` flag and a ``confidence`` per row): every row of the
comparison keeps that provenance visible, so an unverified number is never
mistaken for a checked one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from alto.errors import InputError
from alto.eval import MEAN_OF_CLASSES

__all__ = ["COMPARISON_COLUMNS", "paper_comparison", "read_published_numbers", "read_table"]

COMPARISON_COLUMNS = [
    "dataset", "setting", "method", "source", "experiment", "iou", "chamfer_l1_scaled", "chamfer_scale",
    "normal_consistency", "fscore_1pct", "n_objects", "n_failed", "verified", "confidence",
]


def read_published_numbers(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse the published-numbers YAML; errors name the file and the entry."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"{path}: cannot read the published numbers ({err})") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    for name, setting in data.items():
        if isinstance(setting, dict) and "rows" in setting and "chamfer_scale" not in setting:
            raise InputError(f"{path}: setting '{name}' has rows but no chamfer_scale")
    return data


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A per-dataset table written by the workflow (index: experiment, class)."""
    table = pd.read_csv(path, dtype={"class_id": str}, keep_default_na=False, na_values=["", "nan", "NaN"])
    missing = {"experiment", "class", "iou", "chamfer_l1"} - set(table.columns)
    if missing:
        raise InputError(f"{path}: not a per-experiment table (missing columns {sorted(missing)})")
    return table


def paper_comparison(
    tables: Mapping[str, pd.DataFrame],
    published: Mapping[str, Any],
    datasets: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """One row per (dataset, method): the published numbers and ours (mean of class means).

    ``tables`` maps dataset names to their per-experiment tables; ``datasets`` maps
    them to ``{"published": <setting name or None>, "methods": {experiment: method}}``.
    Chamfer-L1 is given in the scale the paper of that setting prints
    (``chamfer_scale``); our datasets without a published setting use ×100.
    """
    rows: list[dict[str, Any]] = []
    default_scale = 100
    for dataset, info in datasets.items():
        setting_name = info.get("published")
        setting = published.get(setting_name) if setting_name else None
        if setting_name and setting is None:
            raise InputError(f"dataset '{dataset}': no setting '{setting_name}' in the published numbers")
        scale = setting["chamfer_scale"] if setting else default_scale
        if setting:
            for method, values in setting["rows"].items():
                rows.append({
                    "dataset": dataset, "setting": setting_name, "method": method, "source": "published",
                    "experiment": "", "iou": values.get("iou"), "chamfer_l1_scaled": values.get("chamfer_l1"),
                    "chamfer_scale": scale, "normal_consistency": values.get("nc"),
                    "fscore_1pct": values.get("fscore"), "verified": bool(values.get("verified", False)),
                    "confidence": values.get("confidence", ""),
                })
        table = tables[dataset]
        means = table[table["class"] == MEAN_OF_CLASSES]
        for _, mean in means.iterrows():
            experiment = mean["experiment"]
            method = info["methods"].get(experiment, experiment)
            rows.append({
                "dataset": dataset, "setting": setting_name or "", "method": method, "source": "alto",
                "experiment": experiment, "iou": mean["iou"],
                "chamfer_l1_scaled": scale * mean["chamfer_l1"], "chamfer_scale": scale,
                "normal_consistency": mean["normal_consistency"], "fscore_1pct": mean["fscore_1pct"],
                "n_objects": int(mean["n_objects"]), "n_failed": int(mean["n_failed"]),
                "verified": True, "confidence": "measured",
            })
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
