"""Datasets in the Occupancy Networks / ConvONet on-disk layout.

- :func:`build_dataset`: the dataset of a mode ('train', 'val', 'test') from an
  experiment config's ``data`` section (:mod:`alto.data.build`),
- :class:`ShapeDataset`: the dataset itself, seeded per epoch/item or per object
  (:mod:`alto.data.dataset`), with its fields (:mod:`alto.data.fields`) and
  transforms (:mod:`alto.data.transforms`),
- :mod:`alto.data.layout` and :mod:`alto.data.formats`: reading and writing the
  folder layout and the sample files,
- :mod:`alto.data.demo`: the procedural demo dataset (objects and rooms),
- :mod:`alto.data.from_meshes`: a dataset from your own meshes,
- :mod:`alto.data.check`: validation of a dataset folder.
"""

from alto.data.build import build_dataset
from alto.data.dataset import ModelInfo, ShapeDataset
from alto.data.layout import Category

__all__ = ["Category", "ModelInfo", "ShapeDataset", "build_dataset"]
