"""The model wrapper, sliding-window extraction of long scenes, output files and configs."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from mesh_helpers import face_table, same_surface

from alto.config import load_config
from alto.errors import ConfigError, InputError
from alto.mesh import (
    DenseExtractor,
    MeshGenerator,
    MiseExtractor,
    RegionGrowingExtractor,
    SlidingWindow,
    alto_extractor,
    extractor_from_config,
    logit,
    save_generation,
    write_mesh,
)
from alto.mesh.field import FieldEvaluator
from alto.mesh.marching import grid_to_mesh


class ThickenedPoints(torch.nn.Module):
    """A fake model: the features are the input points themselves and the decoder is
    a smooth occupancy of the points thickened by ``radius``. The logit depends only
    on input points within ``support`` of the query, so it is the same in any
    translated frame whose crop holds those points."""

    def __init__(self, radius: float, support: float, sharpness: float = 40.0) -> None:
        super().__init__()
        self.radius, self.support, self.sharpness = radius, support, sharpness
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.encodings = 0
        self.decoded = 0

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        self.encodings += 1
        return inputs * self.scale

    def decode(self, points: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        self.decoded += points.shape[1]
        distance = torch.cdist(points.double(), features.double()).min(dim=-1).values
        return (self.sharpness * (self.radius - distance.clamp(max=self.support))).float()

    def forward(self, points: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return self.decode(points, self.encode(inputs))


def helix(length: float, count: int) -> np.ndarray:
    """Points along a helix of radius 0.3 around the x axis, from x = 0 to ``length``."""
    t = np.linspace(0.0, length, count)
    return np.stack([t, 0.3 * np.cos(2 * math.pi * t), 0.3 * np.sin(2 * math.pi * t)], axis=1)


SMALL_BUDGET = {"memory_budget": 1 << 20, "bytes_per_point": 256}


def test_sliding_window_matches_global_extraction_on_a_long_scene() -> None:
    """A scene three unit cubes long, cut into 7 x 2 x 2 blocks whose crops are encoded
    separately, gives the mesh of the field evaluated globally on the same lattice:
    no gap and no doubled surface at block borders; one closed tube."""
    scene = helix(3.0, 700)
    model = ThickenedPoints(radius=0.07, support=0.12)
    window = SlidingWindow(block_size=0.5, crop_margin=0.3, resolution=32.0, **SMALL_BUDGET)
    generation = MeshGenerator(model, window).generate(scene)
    mesh = generation.mesh

    features = model.encode(torch.from_numpy(scene.astype(np.float32))[None])
    evaluator = FieldEvaluator(lambda p: model.decode(p[None], features)[0], chunk_size=4096)
    lattice = window.scene_lattice(scene.astype(np.float32))
    reference = evaluator.lattice(lattice, range(lattice.size)).reshape(lattice.shape)
    vertices, faces = grid_to_mesh(reference, window.level)
    expected = trimesh.Trimesh(lattice.to_world(vertices), faces, process=False)

    blocks = [math.ceil(n / window.block_points) for n in lattice.shape]
    assert blocks == [7, 2, 2] and model.encodings == 1 + 7 * 2 * 2
    assert same_surface(mesh, expected, tolerance=1e-4)
    assert mesh.is_watertight and mesh.body_count == 1
    assert len(np.unique(np.sort(mesh.faces, axis=1), axis=0)) == len(mesh.faces)
    assert len(np.unique(face_table(mesh), axis=0)) == len(mesh.faces)
    assert generation.record.points_evaluated == lattice.size


def test_sliding_window_skips_blocks_without_inputs() -> None:
    """Two clusters 2.5 apart: the blocks between them are never encoded or evaluated."""
    cluster = np.random.default_rng(0).normal(scale=0.05, size=(50, 3))
    scene = np.concatenate([cluster, cluster + np.array([2.5, 0.0, 0.0])])
    model = ThickenedPoints(radius=0.05, support=0.1)
    window = SlidingWindow(block_size=0.5, crop_margin=0.1, resolution=16.0)
    generation = MeshGenerator(model, window).generate(scene)
    assert generation.mesh.body_count == 2 and generation.mesh.is_watertight
    assert model.encodings < 7 and model.decoded < 0.5 * window.scene_lattice(scene).size


def test_sliding_window_rejects_crops_larger_than_the_model_frame() -> None:
    with pytest.raises(ConfigError, match="model_box"):
        SlidingWindow(block_size=1.0, crop_margin=0.1, resolution=32.0)


@pytest.mark.parametrize(
    "extractor",
    [MiseExtractor(resolution_0=8, upsampling_steps=2), RegionGrowingExtractor(resolution=33, refinement_steps=3)],
    ids=["mise", "region_growing"],
)
def test_generator_encodes_once_and_records(extractor) -> None:
    cloud = helix(0.8, 200) - [0.4, 0.0, 0.0]
    model = ThickenedPoints(radius=0.08, support=0.2)
    generation = MeshGenerator(model, extractor).generate(torch.from_numpy(cloud)[None])
    record = generation.record
    assert model.encodings == 1
    assert model.decoded == record.points_evaluated > 0
    assert record.method == extractor.name and not record.empty
    assert (record.vertices, record.faces) == (len(generation.mesh.vertices), len(generation.mesh.faces))
    parts = record.encode_seconds + record.decode_seconds + record.extract_seconds
    assert record.total_seconds == pytest.approx(parts, abs=1e-6)
    assert generation.mesh.is_watertight


def test_generator_device(tmp_path) -> None:
    """CPU always works; CUDA runs where available and is refused clearly otherwise."""
    cloud = helix(0.6, 100) - [0.3, 0.0, 0.0]
    extractor = DenseExtractor(resolution=17)
    on_cpu = MeshGenerator(ThickenedPoints(0.08, 0.2), extractor, device="cpu").generate(cloud)
    if torch.cuda.is_available():
        on_gpu = MeshGenerator(ThickenedPoints(0.08, 0.2), extractor, device="cuda").generate(cloud)
        assert same_surface(on_gpu.mesh, on_cpu.mesh, tolerance=1e-4)
    else:
        with pytest.raises(InputError, match="CUDA is not available"):
            MeshGenerator(ThickenedPoints(0.08, 0.2), extractor, device="cuda")


def test_generator_rejects_batches() -> None:
    generator = MeshGenerator(ThickenedPoints(0.08, 0.2), DenseExtractor(resolution=9))
    with pytest.raises(InputError, match="one point cloud at a time"):
        generator.generate(np.zeros((2, 10, 3)))


@pytest.mark.parametrize("suffix", [".ply", ".off"])
def test_empty_surface_is_written_and_flagged(tmp_path, caplog, suffix: str) -> None:
    """No surface: the mesh file still exists (an empty mesh), the record says so."""
    model = ThickenedPoints(radius=-1.0, support=0.2)
    generation = MeshGenerator(model, RegionGrowingExtractor(resolution=9)).generate(helix(0.5, 30))
    with caplog.at_level(logging.WARNING):
        mesh_path, record_path = save_generation(generation, tmp_path / f"chair{suffix}", model="chair")
    assert generation.record.empty and "empty mesh" in caplog.text
    assert mesh_path.exists() and mesh_path.read_bytes().lower().startswith(suffix[1:].encode())
    record = json.loads(record_path.read_text())
    assert record["empty"] is True and record["model"] == "chair" and record["faces"] == 0


@pytest.mark.parametrize("suffix", [".ply", ".off"])
def test_mesh_files_round_trip(tmp_path, suffix: str) -> None:
    cloud = helix(0.8, 200) - [0.4, 0.0, 0.0]
    generation = MeshGenerator(ThickenedPoints(0.08, 0.2), DenseExtractor(resolution=25)).generate(cloud)
    path = write_mesh(generation.mesh, tmp_path / "out" / f"mesh{suffix}")
    loaded = trimesh.load(path, process=False)
    np.testing.assert_allclose(loaded.vertices, generation.mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(loaded.faces, generation.mesh.faces)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_mesh_file_suffix_is_checked(tmp_path) -> None:
    """PLY without a suffix, PLY or OFF by suffix, anything else refused."""
    mesh = trimesh.creation.box()
    with pytest.raises(InputError, match=r"mesh\.obj must end in one of"):
        write_mesh(mesh, tmp_path / "mesh.obj")
    assert not any(tmp_path.iterdir())
    written = write_mesh(mesh, tmp_path / "mesh")
    assert written == tmp_path / "mesh.ply" and written.read_bytes().startswith(b"ply")


def test_same_surface_sees_moved_and_flipped_triangles() -> None:
    box = trimesh.creation.box()
    moved = box.copy()
    moved.vertices[0] += 1e-3
    assert same_surface(box, box.copy()) and not same_surface(box, moved)
    assert not same_surface(box, trimesh.Trimesh(box.vertices, box.faces[:, ::-1], process=False))


def test_config_defaults_to_convonets_protocol() -> None:
    cfg = {
        "test": {"threshold": 0.2},
        "data": {"padding": 0.1},
        "generation": {"resolution_0": 32, "upsampling_steps": 2},
    }
    extractor = extractor_from_config(cfg)
    assert isinstance(extractor, MiseExtractor)
    assert extractor.level == pytest.approx(math.log(0.2 / 0.8))
    assert extractor.points_per_axis == 129 and extractor.box == "unit" and extractor.padding == 0.1
    cfg["generation"]["upsampling_steps"] = 0
    dense = extractor_from_config(cfg)
    assert isinstance(dense, DenseExtractor) and dense.resolution == 32


def test_config_selects_alto_or_explicit_settings() -> None:
    cfg = {"test": {"threshold": 0.2}, "data": {"padding": 0.1}, "generation": {"extractor": "alto"}}
    assert extractor_from_config(cfg) == alto_extractor()
    assert alto_extractor().level == 0.0 and alto_extractor().value_space == "probability"
    cfg["generation"]["extractor"] = {"method": "region_growing", "resolution": 64, "threshold": 0.3}
    extractor = extractor_from_config(cfg)
    assert extractor == RegionGrowingExtractor(resolution=64, level=logit(0.3), padding=0.1)
    cfg["generation"]["extractor"] = {"method": "dense", "resolution": 0}
    with pytest.raises(ConfigError, match=r"generation\.extractor\.resolution': 0 is less than the minimum of 2"):
        extractor_from_config(cfg)
    cfg["generation"]["extractor"] = "poco"
    expected = r"generation\.extractor': expected one of \['auto', 'convonet', 'alto'\], got 'poco'"
    with pytest.raises(ConfigError, match=expected):
        extractor_from_config(cfg)


EXPERIMENTS_DIR = Path(__file__).parents[1] / "config" / "experiments"
PUBLISHED_EXPERIMENTS = sorted([*EXPERIMENTS_DIR.glob("alto_*.yaml"), *EXPERIMENTS_DIR.glob("convonet_*.yaml")])


def test_auto_extractor_follows_the_model_family() -> None:
    """An alternating encoder with the plain decoder is ALTO's model: "auto" grows regions."""
    cfg = {"model": {"decoder": "simple_local", "alternating": True}, "test": {"threshold": 0.2}}
    assert extractor_from_config(cfg) == alto_extractor()
    cfg["model"] = {"decoder": "simple_local", "encoder_kwargs": {"unet3d_kwargs": {"is_unet": True}}}
    assert extractor_from_config(cfg) == alto_extractor()
    cfg["model"] = {"decoder": "simple_local_attention_sub", "alternating": False}
    assert isinstance(extractor_from_config(cfg), MiseExtractor)


@pytest.mark.parametrize("path", PUBLISHED_EXPERIMENTS, ids=lambda p: p.stem)
def test_published_experiments_keep_their_extractor(path: Path) -> None:
    extractor = extractor_from_config(load_config(path))
    if path.stem.startswith("alto_"):
        assert extractor == alto_extractor()
    else:
        assert isinstance(extractor, MiseExtractor) and extractor.level == pytest.approx(logit(0.2))
