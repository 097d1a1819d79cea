"""A mesh from your own point cloud with a trained (or published) model.

The points are moved into the frame the model was trained in, reconstructed, and
the mesh is moved back, so it lands where the input is:

* objects (models trained on ShapeNet-like data) are normalised like the training
  data: bounding-box centre at the origin, longest side 1 (Occupancy Networks'
  ``loc``/``scale``);
* scenes (models trained on rooms) keep the metric scale the model was trained at,
  times ``scale`` (model units per input unit), with the floor at the rooms' floor
  height; a scene larger than the model's box is extracted with a sliding window.

The model sees as many points as it was trained with (``data.pointcloud_n``, per
unit of floor area for scenes), drawn from the input with a seeded generator.
What was assumed (the frame, the subsampling) is logged, and inputs far from the
training distribution (too few points, a scene at the wrong scale, noise well above
the training noise) are warned about (:mod:`alto.reconstruction.diagnostics`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import trimesh

from alto.config import ExperimentConfig, load_config
from alto.config.defaults import DEFAULT_SEED
from alto.devices import resolve_device
from alto.errors import ExtractionError, InputError
from alto.mesh import EXTRACTORS, MeshGenerator, SlidingWindow, build_extractor
from alto.mesh.base import LatticeExtractor
from alto.mesh.mise import DEFAULT_UPSAMPLING_STEPS
from alto.mesh.registry import extractor_from_config, window_from_config
from alto.models import OccupancyNetwork, load_checkpoint
from alto.models.catalog import FRAMES, OBJECT_FRAME, SCENE_FRAME, input_profile
from alto.models.zoo import RESULTS_MODELS, resolve_checkpoint
from alto.reconstruction.diagnostics import input_warnings
from alto.reconstruction.pointcloud import clean_points
from alto.threads import configure_threads

__all__ = [
    "FLOOR_LEVEL",
    "MIN_POINT_FRACTION",
    "Frame",
    "Reconstruction",
    "Reconstructor",
    "load_model",
    "reconstruct",
]

log = logging.getLogger(__name__)

#: Height of the floor in the rooms' frame (Synthetic Rooms and ScanNet preprocessing).
FLOOR_LEVEL = -0.5
#: The model needs at least this share of the points it was trained with.
MIN_POINT_FRACTION = 0.1
#: Fewer input points than this is never enough, whatever the training count.
MIN_POINTS = 16
UP_AXIS = 1
#: --mode: "auto" picks the frame the model was trained in
MODES = ("auto", *FRAMES)


@dataclass(frozen=True)
class Frame:
    """``model = (input - centre) * scale`` and back."""

    centre: np.ndarray
    scale: float

    def to_model(self, points: np.ndarray) -> np.ndarray:
        return (points - self.centre) * self.scale

    def to_input(self, points: np.ndarray) -> np.ndarray:
        return points / self.scale + self.centre

    def describe(self, mode: str) -> str:
        """One line saying how the input is moved into the model's frame."""
        centre = ", ".join(f"{value:.4g}" for value in self.centre)
        if mode == OBJECT_FRAME:
            return (f"object frame: bounding-box centre ({centre}) moved to the origin, longest side "
                    f"({1.0 / self.scale:.4g} input units) scaled to 1")
        return (f"scene frame: metric scale kept ({self.scale:g} model units per input unit), ({centre}) moved to "
                f"the origin, floor at y = {FLOOR_LEVEL}")

    @classmethod
    def for_object(cls, points: np.ndarray) -> Frame:
        """Bounding-box centre to the origin, longest side to 1 (as the training objects)."""
        low, high = points.min(axis=0), points.max(axis=0)
        extent = float((high - low).max())
        if extent <= 0:
            raise InputError("the input points all coincide: there is no shape to reconstruct")
        return cls(centre=(low + high) / 2, scale=1.0 / extent)

    @classmethod
    def for_scene(cls, points: np.ndarray, scale: float) -> Frame:
        """Keep the metric scale (times ``scale``): centre in the floor plane, floor at ``FLOOR_LEVEL``."""
        if not (np.isfinite(scale) and scale > 0):
            raise InputError(f"scale must be a positive number, got {scale!r}")
        low, high = points.min(axis=0), points.max(axis=0)
        centre = (low + high) / 2
        centre[UP_AXIS] = low[UP_AXIS] - FLOOR_LEVEL / scale
        return cls(centre=centre, scale=float(scale))


@dataclass
class Reconstruction:
    """The mesh in the input's coordinates, and how it was made."""

    mesh: trimesh.Trimesh
    mode: str
    frame: Frame
    points_in: int
    points_used: int
    seconds: dict[str, float] = field(default_factory=dict)
    empty: bool = False
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        stages = ", ".join(f"{name} {value:.2f} s" for name, value in self.seconds.items())
        return (f"{self.points_in} points in ({self.points_used} used, {self.mode} mode), "
                f"{len(self.mesh.faces)} faces out; {stages}")


def load_model(
    spec: str | os.PathLike[str] | OccupancyNetwork,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    results_dir: str | os.PathLike[str] = RESULTS_MODELS,
    device: str | torch.device = "cpu",
) -> OccupancyNetwork:
    """A model from a checkpoint file (ours, or upstream with ``config``), a published model's
    name (downloaded and cached on first use, see ``alto models list``) or an experiment name
    (``<results_dir>/<name>/model_best.pt``, as the workflow writes it), on ``device``
    (see :func:`alto.devices.resolve_device`).
    """
    if isinstance(spec, OccupancyNetwork):
        return spec
    map_location = resolve_device(device, "device")
    cfg = load_config(config) if isinstance(config, str | os.PathLike) else config
    return load_checkpoint(resolve_checkpoint(spec, results_dir), cfg=cfg, map_location=map_location)["model"]


class Reconstructor:
    """Reconstructs point clouds with one model and fixed settings (reuse it for many inputs)."""

    def __init__(
        self,
        model: OccupancyNetwork,
        *,
        mode: str = "auto",
        method: str | None = None,
        resolution: int | None = None,
        points: int | None = None,
        scale: float = 1.0,
        device: str | torch.device = "cpu",
        seed: int = DEFAULT_SEED,
        max_band_fraction: float | None = None,
    ) -> None:
        if mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if model.config is None:
            raise InputError("the model carries no experiment config: load it with alto.models.load_checkpoint")
        self.model = model.eval()
        self.cfg = ExperimentConfig.from_dict(model.config)
        self.profile = input_profile(self.cfg)
        self.mode = self.profile.frame if mode == "auto" else mode
        self.method, self.resolution = method, resolution
        self.max_band_fraction = max_band_fraction
        self.trained_points = self.profile.points
        self.points = points
        self.scale = scale
        self.device = resolve_device(device, "device")
        self.seed = seed
        self.model_box = 1.0 + self.cfg.data.padding

    def _surface_method(self, sliding: bool) -> LatticeExtractor | SlidingWindow:
        """The config's extraction (or sliding window), with ``method``/``resolution`` and
        ``max_band_fraction`` overridden."""
        if sliding:
            window = window_from_config(self.cfg)
            return window if self.resolution is None else replace(window, resolution=float(self.resolution))
        configured = extractor_from_config(self.cfg)
        if self.method is None and self.resolution is None and self.max_band_fraction is None:
            return configured
        name = self.method or configured.name
        accepted = EXTRACTORS[name].parameter_names()
        settings = {key: getattr(configured, key) for key in configured.parameter_names() if key in accepted}
        if self.resolution is not None:
            if name == "mise":
                steps = settings.get("upsampling_steps", DEFAULT_UPSAMPLING_STEPS)
                settings.update(resolution_0=max(2, self.resolution >> steps), upsampling_steps=steps)
            else:
                settings["resolution"] = self.resolution
        if self.max_band_fraction is not None:
            if "max_band_fraction" not in accepted:
                raise InputError(f"max_band_fraction applies to mise and region_growing, not to {name}")
            settings["max_band_fraction"] = self.max_band_fraction
        return build_extractor(name, **settings)

    def _point_budget(self, model_points: np.ndarray) -> int:
        if self.points is not None:
            return self.points
        if self.mode == OBJECT_FRAME:
            return self.trained_points
        extent = np.ptp(model_points, axis=0)
        floor_area = float(np.prod(np.delete(extent, UP_AXIS)))
        return max(self.trained_points, int(self.trained_points * floor_area))

    def run(self, points: np.ndarray) -> Reconstruction:
        """Reconstruct ``points`` (N, 3) in any frame; the mesh comes back in that frame.

        Raises :class:`~alto.errors.ExtractionError` (saying how the input was framed)
        when the model's surface runs away (see :mod:`alto.mesh.progress`).
        """
        started = time.perf_counter()
        points = clean_points(points)
        needed = max(MIN_POINTS, int(MIN_POINT_FRACTION * self.trained_points))
        if len(points) < needed:
            raise InputError(f"got {len(points)} points; this model was trained on {self.trained_points} "
                             f"and needs at least {needed}")
        frame = Frame.for_object(points) if self.mode == OBJECT_FRAME else Frame.for_scene(points, self.scale)
        log.info("%s", frame.describe(self.mode))
        model_points = frame.to_model(points)
        budget = self._point_budget(model_points)
        if len(model_points) > budget:
            chosen = np.random.default_rng(self.seed).choice(len(model_points), budget, replace=False)
            model_points = model_points[np.sort(chosen)]
            log.info("subsampled %d points to %d, the model's training density (seed %d)", len(points), budget,
                     self.seed)
        else:
            log.info("using all %d points (the model was trained on %d)", len(points), budget)
        warnings = input_warnings(model_points, len(points), budget, self.profile, self.mode, self.model_box,
                                  self.seed)
        for warning in warnings:
            log.warning("%s", warning)
        sliding = self.mode == SCENE_FRAME and float(np.ptp(model_points, axis=0).max()) > self.model_box - 0.1
        method = self._surface_method(sliding)
        prepared = time.perf_counter()
        try:
            generation = MeshGenerator(self.model, method, self.device).generate(model_points)
        except ExtractionError as error:
            raise ExtractionError(f"{error} The input was put in the {frame.describe(self.mode)}.") from error
        record = generation.record
        mesh = trimesh.Trimesh(frame.to_input(generation.mesh.vertices), generation.mesh.faces, process=False)
        seconds = {
            "prepare": prepared - started,
            "encode": record.encode_seconds,
            "decode": record.decode_seconds,
            "extract": record.extract_seconds,
        }
        return Reconstruction(mesh, self.mode if not sliding else "scene, sliding window", frame, len(points),
                              len(model_points), seconds, record.empty, warnings)


def reconstruct(
    points: np.ndarray,
    model: str | os.PathLike[str] | OccupancyNetwork,
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    threads: int | None = None,
    **settings: Any,
) -> trimesh.Trimesh:
    """The mesh of ``points`` (N, 3), in their own coordinates, reconstructed by ``model``.

    ``model`` is a loaded model, a checkpoint path (upstream ones need ``config``), a
    published model's name (``"alto-shapenet"``, fetched on first use) or the name of an
    experiment the workflow trained; ``settings`` are those of
    :class:`Reconstructor` (``mode``, ``method``, ``resolution``, ``points``, ``scale``,
    ``device``, ``seed``, ``max_band_fraction``). ``threads`` sets torch's CPU thread
    count (default: see :func:`alto.threads.configure_threads`).
    """
    configure_threads(threads)
    device = settings.get("device", "cpu")
    return Reconstructor(load_model(model, config, device=device), **settings).run(points).mesh
