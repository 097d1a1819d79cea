"""Per-object rows on disk and the per-class tables made from them.

The workflow evaluates each object in its own job and writes a one-row CSV
(:func:`write_rows_csv`); a gather step reads them all (:func:`read_rows_csv`)
and aggregates (:func:`aggregate_rows`). Failed objects stay in every mean with
their penalty values, and every table counts them in ``n_failed``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from alto.errors import InputError
from alto.eval.metrics import CHAMFER_L1_SCALES, METRIC_NAMES
from alto.io import atomic_write

__all__ = [
    "GENERATION_SECONDS",
    "MEAN_OF_CLASSES",
    "MEAN_OF_OBJECTS",
    "OPTIONAL_METRICS",
    "ROW_COLUMNS",
    "aggregate_rows",
    "check_rows",
    "read_rows_csv",
    "write_rows_csv",
    "write_table_csv",
]

_TEXT_COLUMNS = ("class_id", "class_name", "model_name", "failure_reason")
_FLAG_COLUMNS = ("failed", "remove_wall")
_COUNT_COLUMNS = ("n_vertices", "n_faces")

#: Columns of a per-object row, in file order.
ROW_COLUMNS: tuple[str, ...] = (
    "class_id",
    "class_name",
    "model_name",
    "failed",
    "failure_reason",
    *METRIC_NAMES,
    "remove_wall",
    *_COUNT_COLUMNS,
)

#: Column of a per-object row holding the object's generation time (from the generator's
#: record), averaged like a metric in the tables.
GENERATION_SECONDS = "generation_seconds"

#: Label of the table row holding the mean of the per-class means (the paper's "mean").
MEAN_OF_CLASSES = "mean_of_classes"
#: Label of the table row holding the mean over all objects (classes weighted by size).
MEAN_OF_OBJECTS = "mean_of_objects"

_NAN_STRINGS = ["", "nan", "NaN"]

#: Metrics that may be NaN: the IoU of objects without occupancy ground truth (ScanNet).
OPTIONAL_METRICS = ("iou",)


def check_rows(frame: pd.DataFrame, source: str = "rows", keys: Sequence[str] = ()) -> pd.DataFrame:
    """Validate per-object rows; return them with the row columns first, in order.

    Every column of :data:`ROW_COLUMNS` must be present (others, such as a method
    name added by the workflow, are kept after them), metrics must be finite
    (failures carry penalties, never NaN) except the IoU, which is NaN for datasets
    without occupancy ground truth (ScanNet), and each (class_id, model_name) must
    occur once per value of the ``keys`` columns. ``source`` names the file or object
    in error messages.
    """
    missing = [column for column in ROW_COLUMNS if column not in frame.columns]
    if missing:
        raise InputError(f"{source}: missing columns {missing}; expected {list(ROW_COLUMNS)}")
    extra = [column for column in frame.columns if column not in ROW_COLUMNS]
    frame = frame.loc[:, [*ROW_COLUMNS, *extra]].reset_index(drop=True)
    for column in METRIC_NAMES:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        may_be_nan = np.isnan(values) if column in OPTIONAL_METRICS else np.zeros(len(values), dtype=bool)
        bad = np.flatnonzero(~np.isfinite(values) & ~may_be_nan)
        if len(bad):
            first = frame.iloc[bad[0]]
            raise InputError(
                f"{source}: column {column!r} of {first['class_id']}/{first['model_name']} is "
                f"{first[column]!r}; expected a finite number (failed objects carry penalty values)"
            )
        frame[column] = values
    for column in _FLAG_COLUMNS:
        if not frame[column].isin([True, False]).all():
            raise InputError(f"{source}: column {column!r} must hold True/False values")
        frame[column] = frame[column].astype(bool)
    missing_keys = [key for key in keys if key not in frame.columns]
    if missing_keys:
        raise InputError(f"{source}: missing key columns {missing_keys}")
    duplicated = frame.duplicated(subset=[*keys, "class_id", "model_name"])
    if duplicated.any():
        first = frame.loc[duplicated.idxmax()]
        where = "".join(f" ({key} {first[key]})" for key in keys)
        raise InputError(f"{source}: object {first['class_id']}/{first['model_name']}{where} appears twice")
    return frame.astype(dict.fromkeys(_TEXT_COLUMNS, str))


def _rows_frame(rows: Mapping[str, object] | Iterable[Mapping[str, object]] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        rows = [rows]
    return pd.DataFrame(list(rows))


def write_rows_csv(
    rows: Mapping[str, object] | Iterable[Mapping[str, object]] | pd.DataFrame,
    path: str | os.PathLike[str],
) -> None:
    """Write one or more per-object rows to a CSV file, atomically."""
    frame = check_rows(_rows_frame(rows), source=str(path))
    with atomic_write(path, "w", newline="") as handle:
        frame.to_csv(handle, index=False)


def read_rows_csv(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], keys: Sequence[str] = ()
) -> pd.DataFrame:
    """Read and concatenate per-object CSVs written by :func:`write_rows_csv`.

    Identifiers keep their text (ShapeNet synsets keep leading zeros, a class name
    ``n/a`` stays a name); each file is validated with :func:`check_rows`.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise InputError("read_rows_csv: no row files given")
    frames = []
    for path in map(Path, paths):
        if not path.is_file():
            raise InputError(f"row file not found: {path}")
        frame = pd.read_csv(
            path,
            dtype=dict.fromkeys(_TEXT_COLUMNS, str),
            keep_default_na=False,
            na_values=dict.fromkeys(METRIC_NAMES, _NAN_STRINGS),
        )
        frames.append(check_rows(frame, source=str(path)))
    return check_rows(pd.concat(frames, ignore_index=True), source=f"{len(paths)} row files", keys=keys)


def _aggregate_one(frame: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    names = frame.groupby("class_id")["class_name"].nunique()
    if (names > 1).any():
        raise InputError(f"aggregate_rows: class id {names.idxmax()!r} has several class names")
    grouped = frame.groupby("class_id", sort=True)
    per_class = pd.concat(
        [
            grouped["class_name"].first(),
            grouped.size().rename("n_objects"),
            grouped["failed"].sum().rename("n_failed"),
            grouped[metrics].mean(),
        ],
        axis=1,
    ).reset_index()
    clashes = {MEAN_OF_CLASSES, MEAN_OF_OBJECTS} & set(per_class["class_name"])
    if clashes:
        raise InputError(f"aggregate_rows: class name {sorted(clashes)} is reserved for summary rows")
    totals = {"class_id": "", "n_objects": len(frame), "n_failed": int(frame["failed"].sum())}
    summary = pd.DataFrame(
        [
            {**totals, "class_name": MEAN_OF_CLASSES, **per_class[metrics].mean().to_dict()},
            {**totals, "class_name": MEAN_OF_OBJECTS, **frame[metrics].mean().to_dict()},
        ]
    )
    return pd.concat([per_class, summary], ignore_index=True)


def aggregate_rows(
    rows: pd.DataFrame | Iterable[Mapping[str, object]],
    keys: Sequence[str] = (),
    extra_means: Sequence[str] = (),
) -> pd.DataFrame:
    """Per-class table: one row per class, then the mean of class means and over objects.

    Indexed by class name (``class``), with columns ``class_id``, ``n_objects``,
    ``n_failed``, the mean of every metric (failed objects included with their
    penalties) and Chamfer-L1 in each paper's scale (:data:`CHAMFER_L1_SCALES`).
    With ``keys`` (e.g. ``["experiment"]``) there is one such block per key value and
    the index is (``*keys``, ``class``). ``extra_means`` are further numeric columns
    of the rows averaged the same way (e.g. the generation seconds per object).
    """
    frame = check_rows(_rows_frame(rows), keys=keys)
    if frame.empty:
        raise InputError("aggregate_rows: no rows to aggregate")
    missing = [column for column in extra_means if column not in frame.columns]
    if missing:
        raise InputError(f"aggregate_rows: rows have no column(s) {missing} to average")
    for column in extra_means:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    metrics = [*METRIC_NAMES, *extra_means]
    if keys:
        blocks = [
            _aggregate_one(group, metrics).assign(**dict(zip(keys, values if isinstance(values, tuple) else (values,),
                                                              strict=True)))
            for values, group in frame.groupby(list(keys), sort=True)
        ]
        table = pd.concat(blocks, ignore_index=True)
    else:
        table = _aggregate_one(frame, metrics)
    for column, factor in CHAMFER_L1_SCALES.items():
        table[column] = factor * table["chamfer_l1"]
    table = table.astype({"n_objects": int, "n_failed": int})
    table = table.rename(columns={"class_name": "class"})
    return table.set_index([*keys, "class"]) if keys else table.set_index("class")


def write_table_csv(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write an aggregated table (from :func:`aggregate_rows`) to CSV, atomically."""
    with atomic_write(path, "w", newline="") as handle:
        table.to_csv(handle)
