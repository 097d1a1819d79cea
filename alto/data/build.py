"""Build a dataset from an experiment config (upstream ``get_dataset`` / ``get_inputs_field``).

Fields per mode, as upstream training, generation and evaluation use them:

======  ==========================================================================
train   ``inputs`` (+ ``inputs.normals``), ``points`` (+ ``points.occ``), ``idx``
val     the above + ``points_iou`` (+ ``points_iou.occ``)
test    ``inputs``, ``points_iou``, ``pointcloud_chamfer`` (+ ``.normals``), ``idx``
======  ==========================================================================

``inputs`` are ``data.pointcloud_n`` surface points drawn with replacement from
``data.pointcloud_file`` plus Gaussian noise ``data.pointcloud_noise`` (in every
mode, as upstream); ``points`` are ``data.points_subsample`` occupancy samples
drawn with replacement; ``points_iou`` and ``pointcloud_chamfer`` are whole files.
A ``null`` file name leaves its field out, as upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alto.config import DataConfig, ExperimentConfig, as_experiment
from alto.data.dataset import MODES, ShapeDataset
from alto.data.fields import Field, IndexField, PartialPointCloudField, PointCloudField, PointsField
from alto.data.transforms import Compose, PointcloudNoise, SubsamplePointcloud, SubsamplePoints
from alto.errors import ConfigError

__all__ = ["INPUT_TYPES", "build_dataset"]

#: Supported ``data.input_type`` values and the field class reading the inputs.
INPUT_TYPES: dict[str, type[PointCloudField]] = {
    "pointcloud": PointCloudField,
    "partial_pointcloud": PartialPointCloudField,
}


def _fields(d: DataConfig, mode: str) -> dict[str, Field]:
    """The fields of ``mode``; checks what the schema does not say (the input types alto
    implements, and that the inputs have a file)."""
    if d.input_type not in INPUT_TYPES:
        raise ConfigError(f"data.input_type: got {d.input_type!r}; expected one of {', '.join(map(repr, INPUT_TYPES))}")
    if d.pointcloud_file is None:
        raise ConfigError("data.pointcloud_file: got None; expected the surface sample file the inputs are drawn from")
    fields: dict[str, Field] = {}
    inputs_transform = Compose([SubsamplePointcloud(d.pointcloud_n), PointcloudNoise(d.pointcloud_noise)])
    fields["inputs"] = INPUT_TYPES[d.input_type](d.pointcloud_file, inputs_transform, d.multi_files)
    if mode in ("train", "val") and d.points_file is not None:
        fields["points"] = PointsField(
            d.points_file, SubsamplePoints(d.points_subsample), d.points_unpackbits, d.multi_files
        )
    if mode in ("val", "test") and d.points_iou_file is not None:
        fields["points_iou"] = PointsField(d.points_iou_file, None, d.points_unpackbits, d.multi_files)
    if mode == "test" and d.pointcloud_chamfer_file is not None:
        fields["pointcloud_chamfer"] = PointCloudField(d.pointcloud_chamfer_file, None, d.multi_files)
    fields["idx"] = IndexField()
    return fields


def build_dataset(cfg: ExperimentConfig | Mapping[str, Any], mode: str, seed: int | None = None) -> ShapeDataset:
    """The dataset of ``mode`` ('train', 'val' or 'test') described by the config's ``data`` section.

    A dict is read as :meth:`alto.config.ExperimentConfig.from_dict` reads it (the packaged
    defaults fill what it leaves out). ``seed`` defaults to the config's ``seed``; see
    :class:`~alto.data.dataset.ShapeDataset` for how items are seeded.
    """
    if mode not in MODES:
        raise ConfigError(f"dataset mode: got {mode!r}; expected one of {', '.join(MODES)}")
    experiment = as_experiment(cfg)
    data = experiment.data
    fields = _fields(data, mode)
    seed = experiment.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed: got {seed!r}; expected a non-negative integer")
    return ShapeDataset(data.path, fields, data.split(mode), categories=data.classes, mode=mode, seed=seed)
