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

import numbers
from collections.abc import Mapping
from typing import Any

from alto.config.defaults import DATA_DEFAULTS, DEFAULT_SEED
from alto.data.dataset import MODES, ShapeDataset
from alto.data.fields import Field, IndexField, PartialPointCloudField, PointCloudField, PointsField
from alto.data.transforms import Compose, PointcloudNoise, SubsamplePointcloud, SubsamplePoints
from alto.errors import ConfigError

__all__ = ["INPUT_TYPES", "UPSTREAM_DATA_DEFAULTS", "build_dataset", "data_options"]

#: Supported ``data.input_type`` values and the field class reading the inputs.
INPUT_TYPES: dict[str, type[PointCloudField]] = {
    "pointcloud": PointCloudField,
    "partial_pointcloud": PartialPointCloudField,
}

_REQUIRED = ("path", "input_type")

#: The ``data`` values of upstream ConvONet/ALTO ``configs/default.yaml`` (the packaged
#: ``default.yaml``), used for keys a config leaves out; ``path`` and ``input_type`` have
#: no usable default.
UPSTREAM_DATA_DEFAULTS: dict[str, Any] = {k: v for k, v in DATA_DEFAULTS.items() if k not in _REQUIRED}


def _fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"data.{key}: got {value!r}; expected {expected}")


def _positive_int(d: Mapping[str, Any], key: str) -> int:
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise _fail(key, value, "a positive integer")
    return int(value)


def _optional_name(d: Mapping[str, Any], key: str) -> str | None:
    value = d[key]
    if value is not None and not (isinstance(value, str) and value):
        raise _fail(key, value, "a file or split name (or null)")
    return value


def data_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The validated ``data`` section of ``cfg`` with upstream defaults filled in."""
    section = cfg.get("data") if isinstance(cfg, Mapping) else None
    if not isinstance(section, Mapping):
        raise ConfigError(f"data: expected a mapping with the dataset options, got {section!r}")
    missing = [k for k in _REQUIRED if section.get(k) is None]
    if missing:
        raise ConfigError(f"data.{missing[0]}: required key is missing")
    d = {**UPSTREAM_DATA_DEFAULTS, **section}
    if d["dataset"] != "Shapes3D":
        raise _fail("dataset", d["dataset"], "'Shapes3D'")
    if d["input_type"] not in INPUT_TYPES:
        raise _fail("input_type", d["input_type"], f"one of {', '.join(map(repr, INPUT_TYPES))}")
    if d["dim"] != 3:
        raise _fail("dim", d["dim"], "3")
    if not isinstance(d["path"], str):
        raise _fail("path", d["path"], "a folder path")
    classes = d["classes"]
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise _fail("classes", classes, "a list of category folder names, or null for all")
    d["pointcloud_n"] = _positive_int(d, "pointcloud_n")
    sub = d["points_subsample"]
    if isinstance(sub, list | tuple):
        if len(sub) != 2:
            raise _fail("points_subsample", sub, "a positive integer or a pair [n_outside, n_inside]")
        d["points_subsample"] = tuple(_positive_int({"points_subsample": s}, "points_subsample") for s in sub)
    else:
        d["points_subsample"] = _positive_int(d, "points_subsample")
    if d["multi_files"] is not None:
        d["multi_files"] = _positive_int(d, "multi_files")
    noise = d["pointcloud_noise"]
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or noise < 0:
        raise _fail("pointcloud_noise", noise, "a non-negative number")
    padding = d["padding"]
    if isinstance(padding, bool) or not isinstance(padding, numbers.Real) or padding < 0:
        raise _fail("padding", padding, "a non-negative number")
    if not isinstance(d["points_unpackbits"], bool):
        raise _fail("points_unpackbits", d["points_unpackbits"], "true or false")
    for key in ("points_file", "points_iou_file", "pointcloud_file", "pointcloud_chamfer_file"):
        d[key] = _optional_name(d, key)
    if d["pointcloud_file"] is None:
        raise _fail("pointcloud_file", None, "the surface sample file the inputs are drawn from")
    for key in ("train_split", "val_split", "test_split"):
        d[key] = _optional_name(d, key)
    return d


def _fields(d: Mapping[str, Any], mode: str) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    inputs_transform = Compose([SubsamplePointcloud(d["pointcloud_n"]), PointcloudNoise(d["pointcloud_noise"])])
    fields["inputs"] = INPUT_TYPES[d["input_type"]](d["pointcloud_file"], inputs_transform, d["multi_files"])
    if mode in ("train", "val") and d["points_file"] is not None:
        fields["points"] = PointsField(
            d["points_file"], SubsamplePoints(d["points_subsample"]), d["points_unpackbits"], d["multi_files"]
        )
    if mode in ("val", "test") and d["points_iou_file"] is not None:
        fields["points_iou"] = PointsField(d["points_iou_file"], None, d["points_unpackbits"], d["multi_files"])
    if mode == "test" and d["pointcloud_chamfer_file"] is not None:
        fields["pointcloud_chamfer"] = PointCloudField(d["pointcloud_chamfer_file"], None, d["multi_files"])
    fields["idx"] = IndexField()
    return fields


def build_dataset(cfg: Mapping[str, Any], mode: str, seed: int | None = None) -> ShapeDataset:
    """The dataset of ``mode`` ('train', 'val' or 'test') described by ``cfg['data']``.

    ``seed`` defaults to ``cfg['seed']`` (the packaged default if absent); see
    :class:`~alto.data.dataset.ShapeDataset` for how items are seeded.
    """
    if mode not in MODES:
        raise ConfigError(f"dataset mode: got {mode!r}; expected one of {', '.join(MODES)}")
    d = data_options(cfg)
    seed = cfg.get("seed", DEFAULT_SEED) if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed: got {seed!r}; expected a non-negative integer")
    return ShapeDataset(
        d["path"], _fields(d, mode), d[f"{mode}_split"], categories=d["classes"], mode=mode, seed=int(seed)
    )
