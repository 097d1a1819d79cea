"""Fields: how one kind of data of a model folder is loaded (ConvONet's ``src/data/fields.py``).

A field reads its file(s) from the model folder, validates them (see
:mod:`alto.data.formats`) and applies its transform. All randomness (which of
the multi files to read, the float16 jitter, the transform) comes from the
generator the dataset passes in, so a sample is reproducible.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np

from alto.data.formats import POINTS_DTYPE, multi_file_path, read_occupancy_file, read_surface_file
from alto.data.transforms import FieldData, Transform
from alto.errors import DataError

__all__ = [
    "FLOAT16_JITTER_STD",
    "PARTIAL_KEEP_RATIO",
    "Field",
    "IndexField",
    "PartialPointCloudField",
    "PointCloudField",
    "PointsField",
]

#: Standard deviation of the Gaussian jitter added to occupancy points stored as
#: float16 ("break symmetry" in ConvONet's ``PointsField``; it also applies to the
#: IoU points at validation and evaluation time, as upstream).
FLOAT16_JITTER_STD = 1e-4

#: Smallest kept fraction of the extent along the cut axis for partial point clouds
#: (ConvONet's ``PartialPointCloudField(part_ratio=0.7)``).
PARTIAL_KEEP_RATIO = 0.7


class Field(abc.ABC):
    """One entry (or group of ``name.key`` entries) of a dataset item."""

    @abc.abstractmethod
    def load(self, model_path: Path, index: int, rng: np.random.Generator) -> FieldData | int:
        """Load the field of the model in ``model_path`` (item ``index``), drawing from ``rng``."""


class _FileField(Field):
    """A field stored in ``file_name``, or in ``file_name/file_name_XX.npz`` with ``multi_files``."""

    def __init__(self, file_name: str, transform: Transform | None = None, multi_files: int | None = None) -> None:
        self.file_name = file_name
        self.transform = transform
        self.multi_files = multi_files

    def pick_file(self, model_path: Path, rng: np.random.Generator) -> Path:
        """The file to read: fixed, or one of the multi files drawn uniformly (one draw)."""
        if self.multi_files is None:
            return Path(model_path) / self.file_name
        return multi_file_path(model_path, self.file_name, int(rng.integers(self.multi_files)))

    def _transform(self, path: Path, data: FieldData, rng: np.random.Generator) -> FieldData:
        if self.transform is None:
            return data
        try:
            return self.transform(data, rng)
        except ValueError as err:
            raise DataError(f"{path}: {err}") from err


class PointsField(_FileField):
    """Occupancy samples: ``{None: points (N, 3) float32, 'occ': (N,) float32}``.

    Float16 points get Gaussian jitter of ``jitter_std`` (float32 result).
    """

    def __init__(
        self,
        file_name: str,
        transform: Transform | None = None,
        unpackbits: bool = True,
        multi_files: int | None = None,
        jitter_std: float = FLOAT16_JITTER_STD,
    ) -> None:
        super().__init__(file_name, transform, multi_files)
        self.unpackbits = unpackbits
        self.jitter_std = jitter_std

    def load(self, model_path: Path, index: int, rng: np.random.Generator) -> FieldData:
        path = self.pick_file(model_path, rng)
        points, occ = read_occupancy_file(path, self.unpackbits)
        jitter = points.dtype == POINTS_DTYPE
        points = points.astype(np.float32)
        if jitter:
            points += self.jitter_std * rng.standard_normal(points.shape)
        data: FieldData = {None: points, "occ": occ.astype(np.float32)}
        return self._transform(path, data, rng)


class PointCloudField(_FileField):
    """Surface samples: ``{None: points (N, 3) float32, 'normals': (N, 3) float32}``."""

    def load(self, model_path: Path, index: int, rng: np.random.Generator) -> FieldData:
        path = self.pick_file(model_path, rng)
        points, normals = read_surface_file(path)
        data: FieldData = {None: points.astype(np.float32), "normals": normals.astype(np.float32)}
        return self._transform(path, self.select(data, rng), rng)

    def select(self, data: FieldData, rng: np.random.Generator) -> FieldData:
        """Which points to keep before the transform: all of them."""
        return data


class PartialPointCloudField(PointCloudField):
    """Surface samples cut by a random axis-aligned plane (``input_type: partial_pointcloud``).

    Along a random axis, the points within ``U(keep_ratio * extent, extent)`` of
    the minimum are kept.
    """

    def __init__(
        self,
        file_name: str,
        transform: Transform | None = None,
        multi_files: int | None = None,
        keep_ratio: float = PARTIAL_KEEP_RATIO,
    ) -> None:
        super().__init__(file_name, transform, multi_files)
        self.keep_ratio = keep_ratio

    def select(self, data: FieldData, rng: np.random.Generator) -> FieldData:
        points = data[None]
        axis = int(rng.integers(3))
        low, high = points[:, axis].min(), points[:, axis].max()
        length = rng.uniform(self.keep_ratio * (high - low), high - low)
        keep = points[:, axis] - low <= length
        return {key: value[keep] for key, value in data.items()}


class IndexField(Field):
    """The item's index in the dataset (key ``idx``)."""

    def load(self, model_path: Path, index: int, rng: np.random.Generator) -> int:
        return index
