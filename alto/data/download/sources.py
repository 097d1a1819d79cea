"""What can be downloaded: the published dataset archives and ConvONet's checkpoints."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AVG_BUCKET_URL",
    "CONVONET_CHECKPOINTS",
    "CONVONET_MODELS_URL",
    "DATASETS",
    "DEFAULT_CHECKPOINT_ROOT",
    "DEFAULT_DATA_ROOT",
    "SHAPENET_CATEGORIES",
    "SYNTHETIC_ROOM_CLASSES",
    "DatasetSource",
]

#: Folder the upstream download scripts unpack into (``mkdir data; cd data; unzip``).
DEFAULT_DATA_ROOT = Path("data")

#: Folder ``alto data download convonet/...`` saves published checkpoints into.
DEFAULT_CHECKPOINT_ROOT = Path("checkpoints")

#: Public bucket of the Autonomous Vision group that hosts the Occupancy Networks and
#: ConvONet data and weights (URLs of the upstream download scripts and configs).
AVG_BUCKET_URL = "https://s3.eu-central-1.amazonaws.com/avg-projects"

#: The 13 ShapeNet synsets of the Occupancy Networks subset and their category names.
SHAPENET_CATEGORIES: dict[str, str] = {
    "02691156": "airplane",
    "02828884": "bench",
    "02933112": "cabinet",
    "02958343": "car",
    "03001627": "chair",
    "03211117": "display",
    "03636649": "lamp",
    "03691459": "loudspeaker",
    "04090263": "rifle",
    "04256520": "sofa",
    "04379243": "table",
    "04401088": "telephone",
    "04530566": "watercraft",
}

#: Room classes of the Synthetic Indoor Scene dataset (objects per room).
SYNTHETIC_ROOM_CLASSES = ("rooms_04", "rooms_05", "rooms_06", "rooms_07", "rooms_08")


@dataclass(frozen=True)
class DatasetSource:
    """A published dataset archive and what a complete copy of it contains.

    ``archive_folder`` is the top-level folder the archive unpacks to; its content
    becomes the destination folder. ``required`` lists paths (relative to that
    folder) whose presence marks a complete copy, e.g. one unpacked by hand.
    ``categories`` (id -> name) is written as ``metadata.yaml`` when the archive has
    none. Upstream publishes no checksums, so ``sha256`` is ``None`` unless pinned.
    """

    name: str
    title: str
    url: str
    archive_name: str
    archive_folder: str
    size: str
    required: tuple[str, ...]
    sha256: str | None = None
    categories: Mapping[str, str] | None = None

    def default_dest(self, root: str | os.PathLike[str] = DEFAULT_DATA_ROOT) -> Path:
        """Folder the upstream scripts would have produced under ``root``."""
        return Path(root) / self.archive_folder


#: The archives the upstream download scripts fetch (sizes as stated in their READMEs).
DATASETS: dict[str, DatasetSource] = {
    "shapenet": DatasetSource(
        name="shapenet",
        title="ShapeNet (Occupancy Networks preprocessing)",
        url=f"{AVG_BUCKET_URL}/occupancy_networks/data/dataset_small_v1.1.zip",
        archive_name="dataset_small_v1.1.zip",
        archive_folder="ShapeNet",
        size="73.4 GB",
        required=tuple(f"{synset}/test.lst" for synset in SHAPENET_CATEGORIES),
        categories=SHAPENET_CATEGORIES,
    ),
    "synthetic_rooms": DatasetSource(
        name="synthetic_rooms",
        title="Synthetic Indoor Scene dataset (ConvONet)",
        url=f"{AVG_BUCKET_URL}/convolutional_occupancy_networks/data/synthetic_room_dataset.zip",
        archive_name="synthetic_room_dataset.zip",
        archive_folder="synthetic_room_dataset",
        size="144 GB",
        required=tuple(f"{room}/test.lst" for room in SYNTHETIC_ROOM_CLASSES),
    ),
    "demo": DatasetSource(
        name="demo",
        title="ConvONet demo data",
        url=f"{AVG_BUCKET_URL}/convolutional_occupancy_networks/data/demo_data.zip",
        archive_name="demo_data.zip",
        archive_folder="demo",
        size="size not stated upstream",
        required=("synthetic_room_dataset", "Matterport3D_processed"),
    ),
}

#: Folder of ConvONet's published checkpoints in the bucket.
CONVONET_MODELS_URL = f"{AVG_BUCKET_URL}/convolutional_occupancy_networks/models"

_CONVONET_MODELS = (
    "pointcloud/shapenet_1plane",
    "pointcloud/shapenet_3plane",
    "pointcloud/shapenet_grid32",
    "pointcloud/shapenet_3plane_partial",
    "pointcloud/shapenet_pointconv",
    "pointcloud/room_1plane",
    "pointcloud/room_3plane",
    "pointcloud/room_grid32",
    "pointcloud/room_grid64",
    "pointcloud/room_combine",
    "pointcloud/room_pointconv",
    "pointcloud_crop/room_grid64",
    "voxel/voxel_shapenet_1plane",
    "voxel/voxel_shapenet_3plane",
    "voxel/voxel_shapenet_grid32",
)

#: ConvONet's published checkpoints (``convonet/<config folder>/<name>`` -> URL), every
#: one of them, including those whose architecture alto does not build (see ``alto models``).
CONVONET_CHECKPOINTS: dict[str, str] = {
    f"convonet/{model}": f"{CONVONET_MODELS_URL}/{model}.pt" for model in _CONVONET_MODELS
}
