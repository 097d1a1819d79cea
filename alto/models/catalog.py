"""The published models alto can download by name, and what each expects as input.

Every entry names a checkpoint its authors released (ALTO's two on Google Drive,
ConvONet's point-cloud models in the Autonomous Vision bucket) and the experiment
config it was trained with, which ships with the package (``alto/models/configs/``),
so ``alto reconstruct scan.ply -m alto-shapenet`` works from a pip install. Only
architectures alto builds are listed: not ConvONet's voxel-input, crop
(``pointcloud_crop``), point-convolution or combined plane+volume models, nor POCO.

What a model expects from its input (frame, point count, noise) is read from its
config by :func:`input_profile`, for catalog models and trained ones alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alto.config import ExperimentConfig, as_experiment
from alto.data.download.sources import CONVONET_CHECKPOINTS
from alto.errors import InputError

__all__ = [
    "CATALOG",
    "CONFIG_DIR",
    "FRAMES",
    "InputProfile",
    "PublishedModel",
    "input_profile",
    "published_model",
]

#: Folder of the packaged experiment configs of the published models.
CONFIG_DIR = Path(str(resources.files("alto.models") / "configs"))

#: Object models see shapes normalised to the unit cube; scene models keep the metric
#: scale of the rooms they were trained on (floor at y = -0.5).
OBJECT_FRAME, SCENE_FRAME = "object", "scene"
FRAMES = (OBJECT_FRAME, SCENE_FRAME)

#: Google Drive's direct-download address of a shared file (answered with a confirmation page).
_DRIVE_URL = "https://drive.google.com/uc?export=download&id={}"


@dataclass(frozen=True)
class InputProfile:
    """What a model saw during training, to compare a user's input against."""

    frame: str
    """``object`` (normalised to the unit cube) or ``scene`` (the rooms' metric scale)."""
    points: int
    """Input points per object (per unit of floor area for scenes): ``data.pointcloud_n``."""
    noise: float
    """Standard deviation of the Gaussian noise added to the training inputs, in model units."""
    partial: bool
    """Trained on partial scans (``partial_pointcloud``) rather than whole surfaces."""

    def describe(self) -> str:
        kind = "partial " if self.partial else ""
        return f"{self.frame}, {self.points} {kind}points, noise {self.noise:g}"


def input_profile(cfg: ExperimentConfig | Mapping[str, Any]) -> InputProfile:
    """The :class:`InputProfile` of an experiment config (:attr:`ExperimentConfig.is_scene` for the frame)."""
    experiment = as_experiment(cfg)
    return InputProfile(
        frame=SCENE_FRAME if experiment.is_scene else OBJECT_FRAME,
        points=experiment.data.pointcloud_n,
        noise=float(experiment.data.pointcloud_noise),
        partial=experiment.data.partial,
    )


@dataclass(frozen=True)
class PublishedModel:
    """One released checkpoint and how to use it."""

    name: str
    """Catalog name, as given to ``-m`` (``alto-shapenet``)."""
    method: str
    """``ALTO`` or ``ConvONet``."""
    title: str
    """One line: dataset and architecture."""
    url: str
    """Where its authors publish the upstream checkpoint."""
    config: str
    """File name of its experiment config in :data:`CONFIG_DIR` (or an absolute path)."""
    sha256: str | None = None
    """SHA-256 of the upstream file when known; otherwise recorded on first download."""

    @property
    def config_path(self) -> Path:
        return CONFIG_DIR / self.config

    def load_config(self) -> dict[str, Any]:
        """The merged, validated experiment config of this model."""
        from alto.config import load_config

        return load_config(self.config_path)

    def profile(self) -> InputProfile:
        return input_profile(self.load_config())


def _convonet(name: str, upstream: str, title: str) -> PublishedModel:
    config = upstream.replace("room_", "rooms_")
    return PublishedModel(name, "ConvONet", title, CONVONET_CHECKPOINTS[f"convonet/pointcloud/{upstream}"],
                          f"convonet_{config}.yaml")


_MODELS = (
    PublishedModel("alto-shapenet", "ALTO", "ShapeNet, 3000 points: triplane 64², attention decoder",
                   _DRIVE_URL.format("17AHuISu1f8xWQFevQ2K1lWE1A4LlmsI2"), "alto_shapenet_3plane.yaml"),
    PublishedModel("alto-rooms-grid64", "ALTO", "Synthetic Rooms, 10000 points: volume 64³, attention decoder",
                   _DRIVE_URL.format("1cffLRxa6mGZlMuUwTEKrMJIxyfC7MDJu"), "alto_rooms_grid64.yaml"),
    _convonet("convonet-shapenet-1plane", "shapenet_1plane", "ShapeNet, 3000 points: one plane 64²"),
    _convonet("convonet-shapenet-3plane", "shapenet_3plane", "ShapeNet, 3000 points: triplane 64²"),
    _convonet("convonet-shapenet-grid32", "shapenet_grid32", "ShapeNet, 3000 points: volume 32³"),
    _convonet("convonet-shapenet-3plane-partial", "shapenet_3plane_partial",
              "ShapeNet, 3000 points of partial scans: triplane 64²"),
    _convonet("convonet-rooms-1plane", "room_1plane", "Synthetic Rooms, 10000 points: one plane 128²"),
    _convonet("convonet-rooms-3plane", "room_3plane", "Synthetic Rooms, 10000 points: triplane 128²"),
    _convonet("convonet-rooms-grid32", "room_grid32", "Synthetic Rooms, 10000 points: volume 32³"),
    _convonet("convonet-rooms-grid64", "room_grid64", "Synthetic Rooms, 10000 points: volume 64³"),
)

#: The published models by name.
CATALOG: dict[str, PublishedModel] = {model.name: model for model in _MODELS}


def published_model(name: str) -> PublishedModel:
    """The catalog entry ``name``; an unknown name is an error listing the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        raise InputError(f"unknown published model {name!r}; known: {', '.join(CATALOG)}") from None
