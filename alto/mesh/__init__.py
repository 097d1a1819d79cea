"""Surface extraction: occupancy fields to triangle meshes.

A *field* maps query points ``(M, 3)`` float32 to occupancy logits ``(M,)``. Three
extractors turn it into a mesh at a logit ``level``, all behind
``extract(field, inputs=None) -> Extraction`` and chosen by name with
:func:`build_extractor`:

- ``dense`` (:class:`DenseExtractor`): every lattice point;
- ``mise`` (:class:`MiseExtractor`): ConvONet's multiresolution octree;
- ``region_growing`` (:class:`RegionGrowingExtractor`): ALTO / POCO's growth from the
  input points along the sign changes, with bisection refinement.

:class:`MeshGenerator` wraps a model (encode once, decode in chunks) and records the
time spent; :class:`SlidingWindow` extracts scenes larger than the model's frame crop
by crop; :func:`save_generation` writes the mesh and its record. Long extractions log
progress lines, and one whose surface band outgrows any real surface stops with an
:class:`~alto.errors.ExtractionError` (:mod:`alto.mesh.progress`). See
``docs/extraction.md``.
"""

from alto.mesh.base import Extraction, ExtractionStats, Extractor, SurfaceSettings
from alto.mesh.dense import DenseExtractor
from alto.mesh.export import MESH_SUFFIXES, save_generation, write_mesh, write_record
from alto.mesh.field import Field, FieldEvaluator, logit
from alto.mesh.generator import Generation, GenerationRecord, MeshGenerator
from alto.mesh.lattice import Lattice
from alto.mesh.mise import MiseExtractor
from alto.mesh.region_growing import RegionGrowingExtractor
from alto.mesh.registry import (
    EXTRACTORS,
    PRESETS,
    alto_extractor,
    build_extractor,
    convonet_extractor,
    extractor_from_config,
    generator_from_config,
)
from alto.mesh.sliding import SlidingWindow, extract_sliding

__all__ = [
    "EXTRACTORS",
    "MESH_SUFFIXES",
    "PRESETS",
    "DenseExtractor",
    "Extraction",
    "ExtractionStats",
    "Extractor",
    "Field",
    "FieldEvaluator",
    "Generation",
    "GenerationRecord",
    "Lattice",
    "MeshGenerator",
    "MiseExtractor",
    "RegionGrowingExtractor",
    "SlidingWindow",
    "SurfaceSettings",
    "alto_extractor",
    "build_extractor",
    "convonet_extractor",
    "extract_sliding",
    "extractor_from_config",
    "generator_from_config",
    "logit",
    "save_generation",
    "write_mesh",
    "write_record",
]
