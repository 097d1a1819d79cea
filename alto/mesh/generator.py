"""Meshes from a trained model: encode once, extract, and record where the time went.

:class:`MeshGenerator` wraps a model with ``encode`` / ``decode`` (see
``docs/architecture.md``) and an extractor (or a :class:`~alto.mesh.sliding.SlidingWindow`
for scenes), and returns for one input point cloud the mesh and a
:class:`GenerationRecord`: encoder, decoder and extraction seconds, points evaluated,
mesh size, and whether the surface was empty.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import trimesh

from alto.devices import resolve_device
from alto.errors import InputError
from alto.mesh.base import LatticeExtractor
from alto.mesh.lattice import check_points
from alto.mesh.model_field import EncoderDecoder, ModelFields
from alto.mesh.sliding import SlidingWindow, extract_sliding

__all__ = ["Generation", "GenerationRecord", "MeshGenerator", "as_point_array"]


@dataclass(frozen=True)
class GenerationRecord:
    """Per-object timings and counts of one generation.

    ``extract_seconds`` is the time outside the encoder and decoder (lattice
    bookkeeping, marching cubes, refinement arithmetic); the three parts add up to
    ``total_seconds``. ``empty`` flags an extraction that found no surface.
    """

    method: str
    encode_seconds: float
    decode_seconds: float
    extract_seconds: float
    total_seconds: float
    points_evaluated: int
    vertices: int
    faces: int
    empty: bool

    def as_dict(self) -> dict[str, Any]:
        """The record as a flat dict (a JSON object or a table row)."""
        return asdict(self)


@dataclass(frozen=True)
class Generation:
    """The mesh of one object in the model's coordinates and its record."""

    mesh: trimesh.Trimesh
    record: GenerationRecord


def as_point_array(inputs: np.ndarray | torch.Tensor) -> np.ndarray:
    """Input points as a float32 (N, 3) array; accepts (N, 3) or a batch of one (1, N, 3)."""
    if isinstance(inputs, torch.Tensor):
        inputs = inputs.detach().to("cpu").numpy()
    array = np.asarray(inputs)
    if array.ndim == 3:
        if array.shape[0] != 1:
            raise InputError(f"generation takes one point cloud at a time, got a batch of shape {array.shape}")
        array = array[0]
    return check_points(array).astype(np.float32)


class MeshGenerator:
    """Encodes an input point cloud once and extracts its mesh with ``extractor``.

    ``device`` ("cpu", "cuda", "cuda:1" or a ``torch.device``) is where the model runs;
    the model is moved there, and put in eval mode before each generation.
    """

    def __init__(
        self,
        model: EncoderDecoder,
        extractor: LatticeExtractor | SlidingWindow,
        device: str | torch.device = "cpu",
    ) -> None:
        self.device = resolve_device(device, source="generation device")
        if isinstance(model, torch.nn.Module):
            model.to(self.device)
        self.model = model
        self.extractor = extractor

    def generate(self, inputs: np.ndarray | torch.Tensor) -> Generation:
        """The mesh of the point cloud ``inputs`` ((N, 3) or (1, N, 3)) and its record.

        Long extractions log progress lines; one whose surface band runs away raises
        :class:`~alto.errors.ExtractionError` (see :mod:`alto.mesh.progress`).
        """
        points = as_point_array(inputs)
        if isinstance(self.model, torch.nn.Module):
            self.model.eval()
        fields = ModelFields(self.model, self.device)
        started = time.perf_counter()
        if isinstance(self.extractor, SlidingWindow):
            extraction = extract_sliding(fields, points, self.extractor)
        else:
            features = fields.encode(points)
            extraction = self.extractor.extract(fields.field(features), points)
        total = time.perf_counter() - started
        stats = extraction.stats
        record = GenerationRecord(
            method=self.extractor.name,
            encode_seconds=fields.encode_seconds,
            decode_seconds=stats.field_seconds,
            extract_seconds=max(0.0, total - fields.encode_seconds - stats.field_seconds),
            total_seconds=total,
            points_evaluated=stats.evaluations,
            vertices=len(extraction.mesh.vertices),
            faces=len(extraction.mesh.faces),
            empty=extraction.empty,
        )
        return Generation(mesh=extraction.mesh, record=record)
