"""The figures of the report: qualitative rows, per-class metrics, runtime vs IoU, training curves.

Each function returns a matplotlib figure built from files the workflow wrote
(tables, meshes, run folders); :func:`save_figure` writes it as PNG and PDF
atomically. Figures are made without pyplot, so nothing needs a display and no
global backend state is touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
import trimesh
from matplotlib.figure import Figure

from alto.config import ExperimentConfig, as_experiment
from alto.errors import InputError
from alto.eval import GENERATION_SECONDS, MEAN_OF_CLASSES, MEAN_OF_OBJECTS
from alto.io import atomic_path
from alto.report.render import View, draw_mesh, draw_points

__all__ = [
    "QualitativeRow",
    "load_qualitative_rows",
    "per_class_figure",
    "qualitative_figure",
    "runtime_figure",
    "save_figure",
    "training_curves_figure",
]

#: Camera per dataset kind: rooms and scenes are seen from higher up, to look inside.
VIEWS = {"objects": View(25.0, -55.0), "rooms": View(50.0, -60.0), "scenes": View(55.0, -60.0)}
#: Metrics of the per-class figure: column, axis label.
PER_CLASS_METRICS = (
    ("iou", "IoU"),
    ("chamfer_l1_x100", "Chamfer-L1 ×100"),
    ("normal_consistency", "normal consistency"),
    ("fscore_1pct", "F-score (1%)"),
)
PANEL_INCHES = 2.2


@dataclass(frozen=True)
class QualitativeRow:
    """One object of the qualitative figure: its input, a mesh per method, the ground truth.

    ``ground_truth`` is a mesh when the dataset has one, else surface points.
    """

    title: str
    inputs: np.ndarray
    meshes: Mapping[str, trimesh.Trimesh]
    ground_truth: trimesh.Trimesh | np.ndarray


def save_figure(figure: Figure, png: str | os.PathLike[str], pdf: str | os.PathLike[str] | None = None) -> None:
    """Write ``figure`` as PNG (and PDF), each atomically."""
    outputs: list[tuple[str | os.PathLike[str] | None, dict[str, Any]]] = [(png, {"dpi": 150}), (pdf, {})]
    for path, options in outputs:
        if path is None:
            continue
        with atomic_path(path) as tmp:
            figure.savefig(tmp, bbox_inches="tight", **options)


def _bounds(*point_sets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stacked = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in point_sets if len(p)])
    return stacked.min(0), stacked.max(0)


def qualitative_figure(rows: Sequence[QualitativeRow], methods: Sequence[str], kind: str = "objects") -> Figure:
    """A grid: one row per object; columns input points, each method's mesh, ground truth."""
    if not rows:
        raise InputError("qualitative figure: no objects to show")
    view = VIEWS.get(kind, VIEWS["objects"])
    columns = ["input", *methods, "ground truth"]
    figure = Figure(figsize=(PANEL_INCHES * len(columns), PANEL_INCHES * len(rows)))
    for r, row in enumerate(rows):
        gt = row.ground_truth
        gt_points = gt.vertices if isinstance(gt, trimesh.Trimesh) else gt
        bounds = _bounds(row.inputs, gt_points)
        for c, column in enumerate(columns):
            ax = figure.add_subplot(len(rows), len(columns), r * len(columns) + c + 1, projection="3d")
            if column == "input":
                draw_points(ax, row.inputs, bounds, view)
            elif column == "ground truth":
                if isinstance(gt, trimesh.Trimesh):
                    draw_mesh(ax, gt, bounds, view)
                else:
                    draw_points(ax, gt, bounds, view, size=0.2)
            else:
                draw_mesh(ax, row.meshes[column], bounds, view)
            if r == 0:
                ax.set_title(column, fontsize=9)
            if c == 0:
                ax.text2D(-0.05, 0.5, row.title, transform=ax.transAxes, rotation=90, ha="right", va="center",
                          fontsize=8)
    figure.subplots_adjust(wspace=0.0, hspace=0.02)
    return figure


def per_class_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """Bars per class (and the mean of classes) for each experiment, one panel per metric."""
    frame = table[table["class"] != MEAN_OF_OBJECTS].copy()
    frame["class"] = frame["class"].replace({MEAN_OF_CLASSES: "mean"})
    classes = frame["class"].nunique()
    figure = Figure(figsize=(max(6.0, 0.9 * classes + 2), 9))
    axes = figure.subplots(len(PER_CLASS_METRICS), 1, sharex=True)
    for ax, (column, label) in zip(axes, PER_CLASS_METRICS, strict=True):
        sns.barplot(data=frame, x="class", y=column, hue="experiment", ax=ax, errorbar=None)
        ax.set_ylabel(label)
        ax.set_xlabel("")
        if ax is not axes[0] and ax.get_legend() is not None:
            ax.get_legend().remove()
    axes[-1].tick_params(axis="x", rotation=30)
    if title:
        axes[0].set_title(title)
    figure.tight_layout()
    return figure


def runtime_figure(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """Mean generation seconds per object against mean IoU, per experiment and dataset."""
    points = []
    for dataset, table in tables.items():
        means = table[table["class"] == MEAN_OF_OBJECTS]
        for _, row in means.iterrows():
            points.append({"dataset": dataset, "experiment": row["experiment"], "iou": row["iou"],
                           "seconds": row[GENERATION_SECONDS]})
    frame = pd.DataFrame(points)
    figure = Figure(figsize=(6.0, 4.2))
    ax = figure.subplots()
    if not frame.empty:
        sns.scatterplot(data=frame, x="seconds", y="iou", hue="experiment", style="dataset", s=80, ax=ax)
        for _, row in frame.iterrows():
            ax.annotate(row["experiment"], (row["seconds"], row["iou"]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    ax.set_xlabel("generation seconds per object (mean)")
    ax.set_ylabel("IoU (mean over objects)")
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def training_curves_figure(runs: Mapping[str, str | os.PathLike[str]]) -> Figure:
    """Training loss and validation IoU against iterations, one line per run folder."""
    figure = Figure(figsize=(11.0, 4.0))
    loss_ax, iou_ax = figure.subplots(1, 2)
    for label, folder in runs.items():
        folder = Path(folder)
        losses, metrics = folder / "loss.csv", folder / "metrics.csv"
        if losses.is_file():
            frame = pd.read_csv(losses)
            loss_ax.plot(frame["it"], frame["train_loss"], label=label, lw=1)
        if metrics.is_file():
            frame = pd.read_csv(metrics)
            iou_ax.plot(frame["it"], frame["val_iou"], marker="o", ms=3, label=label)
    loss_ax.set(xlabel="iteration", ylabel="training loss (BCE summed over query points)", yscale="log")
    iou_ax.set(xlabel="iteration", ylabel="validation IoU")
    for ax in (loss_ax, iou_ax):
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def load_qualitative_rows(
    cfg: ExperimentConfig | Mapping[str, Any],
    objects: Sequence[str],
    mesh_dirs: Mapping[str, str | os.PathLike[str]],
    mesh_suffix: str = ".ply",
    gt_points: int = 20_000,
) -> list[QualitativeRow]:
    """The rows of :func:`qualitative_figure` for ``objects`` (``category/model``).

    Inputs are drawn exactly as for generation (the dataset's test mode, seeded per
    object); the ground truth is the object's ``data.watertight_file`` mesh when the
    dataset has one, else ``gt_points`` of its surface samples.
    """
    from alto.data import build_dataset
    from alto.eval import load_mesh

    experiment = as_experiment(cfg).with_overrides(
        {"data": {"points_iou_file": None, "classes": sorted({o.split("/", 1)[0] for o in objects})}}
    )
    data = experiment.data
    dataset = build_dataset(experiment, "test")
    index = {f"{info.category}/{info.model}": i for i, info in enumerate(map(dataset.model_info, range(len(dataset))))}
    rows = []
    for name in objects:
        if name not in index:
            raise InputError(f"qualitative figure: {name} is not in the test split of {data.path}")
        info = dataset.model_info(index[name])
        sample = dataset[index[name]]
        gt_mesh_path = info.model_path / data.watertight_file
        if gt_mesh_path.is_file():
            ground_truth: trimesh.Trimesh | np.ndarray = load_mesh(gt_mesh_path)
        else:
            surface = sample["pointcloud_chamfer"]
            step = max(1, len(surface) // gt_points)
            ground_truth = surface[::step]
        meshes = {label: load_mesh(Path(folder) / info.category / f"{info.model}{mesh_suffix}")
                  for label, folder in mesh_dirs.items()}
        rows.append(QualitativeRow(f"{info.category_name}\n{info.model}", sample["inputs"], meshes, ground_truth))
    return rows
