"""Progress lines of long extractions and the guard that stops a runaway surface band.

Time is a fake clock that each field call moves forward, so "slow" and "fast"
extractions differ only in what the clock says (no sleeps, no timed asserts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train import tiny_config

import alto.mesh.progress as progress_module
from alto.cli.main import main as alto_main
from alto.config import load_config
from alto.data.demo import DemoResult
from alto.data.demo.objects import make_demo_object
from alto.data.demo.shapes import DEMO_CATEGORIES
from alto.errors import ConfigError, ExtractionError
from alto.mesh import DenseExtractor, MiseExtractor, RegionGrowingExtractor, SlidingWindow, extract_sliding
from alto.mesh.analytic import Sphere, occupancy_field, surface_points
from alto.mesh.field import Field
from alto.mesh.model_field import ModelFields
from alto.mesh.progress import (
    MAX_SURFACE_AREA,
    PROGRESS_AFTER_SECONDS,
    PROGRESS_EVERY_SECONDS,
    ExtractionProgress,
    band_limit_fraction,
)
from alto.mesh.region_growing import BAND_DEPTH_PER_DILATION
from alto.mesh.registry import extractor_from_config
from alto.models.build import build_model
from alto.models.checkpoint import save_checkpoint

PROGRESS_LOGGER = "alto.mesh.progress"
SPHERE = Sphere(radius=0.3)
#: A small memory budget: many field calls (chunks) per extraction.
SMALL_CHUNKS = {"memory_budget": 4096 * 2048}


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(progress_module, "monotonic", fake)
    return fake


def ticking(field: Field, clock: FakeClock, seconds: float) -> Field:
    """``field``, each call of which takes ``seconds`` on ``clock``."""

    def evaluate(points: torch.Tensor) -> torch.Tensor:
        clock.now += seconds
        return field(points)

    return evaluate


def constant(value: float) -> Field:
    """A field equal to ``value`` everywhere: at level ``value`` every point is on the surface."""
    return lambda points: torch.full((len(points),), value)


def counting(field: Field) -> tuple[Field, list[int]]:
    """``field`` and the list of the batch sizes it was called with."""
    calls: list[int] = []

    def evaluate(points: torch.Tensor) -> torch.Tensor:
        calls.append(len(points))
        return field(points)

    return evaluate, calls


class SphereModel:
    """A model whose encoder ignores its input and whose decoder is the sphere's field."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.field = ticking(occupancy_field(SPHERE), clock, seconds)

    def encode(self, inputs: torch.Tensor) -> None:
        return None

    def decode(self, points: torch.Tensor, features: None) -> torch.Tensor:
        return self.field(points[0])[None]


def run_extractor(name: str, field: Field, inputs: np.ndarray) -> None:
    extractors: dict[str, Callable[[], object]] = {
        "dense": lambda: DenseExtractor(resolution=33, **SMALL_CHUNKS),
        "mise": lambda: MiseExtractor(resolution_0=8, upsampling_steps=2, **SMALL_CHUNKS),
        "region_growing": lambda: RegionGrowingExtractor(resolution=48, refinement_steps=3, **SMALL_CHUNKS),
    }
    extractors[name]().extract(field, inputs)


@pytest.mark.parametrize("name", ["dense", "mise", "region_growing"])
def test_slow_extractions_log_progress_and_fast_ones_stay_silent(
    name: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = surface_points(SPHERE, 500, np.random.default_rng(0))
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        run_extractor(name, ticking(occupancy_field(SPHERE), clock, 0.0), inputs)
    assert not [r for r in caplog.records if r.name == PROGRESS_LOGGER]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        run_extractor(name, ticking(occupancy_field(SPHERE), clock, PROGRESS_EVERY_SECONDS), inputs)
    lines = [r.getMessage() for r in caplog.records if r.name == PROGRESS_LOGGER]
    assert lines, "a slow extraction must report its progress"
    assert all(line.startswith(name) and "points evaluated" in line for line in lines)
    assert any(" s left" in line for line in lines)


def test_region_growing_reports_rounds_band_and_refinement(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    inputs = surface_points(SPHERE, 500, np.random.default_rng(0))
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        run_extractor("region_growing", ticking(occupancy_field(SPHERE), clock, PROGRESS_EVERY_SECONDS), inputs)
    lines = [r.getMessage() for r in caplog.records if r.name == PROGRESS_LOGGER]
    growth = [line for line in lines if "growth round" in line]
    assert growth and all("% of the lattice" in line and "at most" in line for line in growth)
    assert any("refinement step" in line and "about" in line for line in lines)


def test_sliding_window_reports_blocks(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    inputs = surface_points(SPHERE, 500, np.random.default_rng(0))
    window = SlidingWindow(block_size=0.25, crop_margin=0.1, resolution=32.0)
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        extraction = extract_sliding(ModelFields(SphereModel(clock, PROGRESS_EVERY_SECONDS), torch.device("cpu")),
                                     inputs, window)
    assert not extraction.empty
    lines = [r.getMessage() for r in caplog.records if r.name == PROGRESS_LOGGER]
    assert any(line.startswith("sliding_window") and "block" in line and " of " in line for line in lines)


def test_progress_lines_are_throttled(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    progress = ExtractionProgress("dense 9x9x9", 729)
    progress.stage("every lattice point", total_points=700, new_stage=True)
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        for _ in range(10):  # 10 chunks of 70 points, 1 s apart
            clock.now += 1.0
            progress.evaluated(70)
    # silent for the first PROGRESS_AFTER_SECONDS, then one line per PROGRESS_EVERY_SECONDS at most
    assert progress.lines == 1
    (line,) = [r.getMessage() for r in caplog.records]
    after = int(PROGRESS_AFTER_SECONDS)
    assert line == (f"dense 9x9x9: every lattice point, {70 * after:,} points evaluated, {after} s, "
                    f"about {10 - after} s left")


def test_band_limit_follows_the_geometry() -> None:
    # a band 8 cells deep around 12 box faces of surface: 96 / R of the lattice, capped at 1
    assert band_limit_fraction(257, 8) == pytest.approx(MAX_SURFACE_AREA * 8 * 256**2 / 257**3)
    assert band_limit_fraction(64, 8) == 1.0
    assert band_limit_fraction(513, 8) < band_limit_fraction(257, 8) < band_limit_fraction(129, 8)


@pytest.mark.parametrize(
    ("extractor", "where"),
    [
        (RegionGrowingExtractor(resolution=128, refinement_steps=0), "growth round"),
        (MiseExtractor(resolution_0=32, upsampling_steps=2), "subdivision round"),
    ],
)
def test_guard_stops_a_field_with_surface_everywhere(extractor, where: str) -> None:
    inputs = surface_points(SPHERE, 500, np.random.default_rng(0))
    field, calls = counting(constant(extractor.level))
    lattice_points = extractor.points_per_axis**3
    with pytest.raises(ExtractionError) as error:
        extractor.extract(field, inputs)
    message = str(error.value)
    assert where in message and "more than the limit of" in message and "% of the lattice" in message
    assert "checkpoint is trained" in message and "max_band_fraction" in message
    assert sum(calls) < lattice_points  # stopped before the whole lattice was evaluated


def test_guard_stops_a_field_oscillating_at_cell_scale() -> None:
    inputs = surface_points(SPHERE, 500, np.random.default_rng(0))
    extractor = RegionGrowingExtractor(resolution=128, refinement_steps=0)
    cell = 1.0 / 127

    def wiggles(points: torch.Tensor) -> torch.Tensor:
        return torch.sin(points.sum(dim=1) * np.pi / cell)

    with pytest.raises(ExtractionError, match="surface band would hold"):
        extractor.extract(wiggles, inputs)


def test_guard_can_be_raised_or_turned_off() -> None:
    inputs = surface_points(SPHERE, 500, np.random.default_rng(0))
    field = occupancy_field(SPHERE)
    with pytest.raises(ExtractionError, match="max_band_fraction"):
        RegionGrowingExtractor(resolution=64, refinement_steps=0, max_band_fraction=0.01).extract(field, inputs)
    # at 64^3 the geometric limit is the whole lattice: a surface everywhere is meshed
    RegionGrowingExtractor(resolution=40, refinement_steps=0).extract(constant(0.0), inputs)
    everywhere = RegionGrowingExtractor(resolution=96, refinement_steps=0, max_band_fraction=1.0)
    assert everywhere.extract(constant(0.0), inputs).stats.grid_evaluations == 96**3
    for bad in (0, 1.5, True, "half"):
        with pytest.raises(ConfigError, match="max_band_fraction"):
            RegionGrowingExtractor(max_band_fraction=bad)


@pytest.mark.parametrize("category", sorted(DEMO_CATEGORIES))
def test_guard_lets_the_demo_shapes_through(category: str) -> None:
    """Every demo category's shape, from 3000 surface points, at a resolution where the
    limit is well below the whole lattice; its band stays under half the limit."""
    solid = make_demo_object(category, 0, seed=0).solid
    inputs, _ = solid.sample_surface(3000, np.random.default_rng(0))

    def field(points: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(-50.0 * solid.implicit(points.numpy().astype(np.float64))).float()

    resolution = 128
    extraction = RegionGrowingExtractor(resolution=resolution, refinement_steps=0).extract(field, inputs)
    limit = band_limit_fraction(resolution, BAND_DEPTH_PER_DILATION * 2) * resolution**3
    assert not extraction.empty
    assert extraction.stats.grid_evaluations < limit / 2
    assert not MiseExtractor(resolution_0=32, upsampling_steps=2).extract(field, inputs).empty


def surface_everywhere_checkpoint(path: Path, cfg: dict) -> Path:
    """A checkpoint of ``cfg``'s model whose decoder outputs logit 0 everywhere: at ALTO's
    level 0 (``test.threshold`` 0.5) every point is on the surface."""
    model = build_model(cfg)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.zero_()
    save_checkpoint(path, model, config=cfg)
    return path


@pytest.mark.slow
def test_reconstruct_stops_with_the_guards_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI says what was found and what to check, exits non-zero and writes nothing."""
    cfg = {
        "seed": 1,
        "data": {"pointcloud_n": 300},
        "model": {"encoder": "pointnet_local_pool",
                  "encoder_kwargs": {"hidden_dim": 8, "plane_type": ["xz"], "plane_resolution": 8},
                  "decoder": "simple_local", "decoder_kwargs": {"sample_mode": "bilinear", "hidden_size": 8},
                  "c_dim": 4},
        "test": {"threshold": 0.5},
        "generation": {"extractor": {"method": "region_growing", "resolution": 128, "refinement_steps": 0}},
    }
    checkpoint = surface_everywhere_checkpoint(tmp_path / "untrained.pt", cfg)
    source = tmp_path / "scan.npy"
    np.save(source, surface_points(SPHERE, 300, np.random.default_rng(0)) * 4.0 + 2.0)
    output = tmp_path / "mesh.ply"
    # a low --max-band-fraction keeps the test short; the default limit is tested above
    command = ["reconstruct", str(source), "-m", str(checkpoint), "-o", str(output), "--max-band-fraction", "0.05"]
    assert alto_main(command) == 2
    err = capsys.readouterr().err
    assert f"{source} with model {checkpoint}" in err
    assert "surface band would hold" in err and "more than the limit of" in err
    assert "object frame" in err and "checkpoint is trained" in err
    assert not output.exists()


@pytest.mark.slow
def test_generate_stops_the_chunk_naming_the_object(
    tmp_path: Path, demo_dataset: DemoResult, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like any failure of an object, a runaway band stops ``alto generate`` (the model is
    at fault, so the other objects would fail too); the message names object and checkpoint."""
    config = tiny_config(tmp_path, demo_dataset)
    checkpoint = surface_everywhere_checkpoint(tmp_path / "untrained.pt", load_config(config))
    extractor = "{method: region_growing, resolution: 64, refinement_steps: 0, max_band_fraction: 0.05}"
    code = alto_main(["generate", str(config), "--checkpoint", str(checkpoint), "--out-dir", str(tmp_path / "meshes"),
                      "--set", "test.threshold=0.5", "--set", f"generation.extractor={extractor}"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"with checkpoint {checkpoint}: region_growing 64x64x64: stopped at growth round" in err
    assert not list((tmp_path / "meshes").rglob("*.ply"))


def test_experiment_config_accepts_max_band_fraction() -> None:
    spec = {"method": "region_growing", "resolution": 64, "max_band_fraction": 0.5}
    assert extractor_from_config({"generation": {"extractor": spec}}).max_band_fraction == 0.5
    with pytest.raises(ConfigError, match="max_band_fraction"):
        extractor_from_config({"generation": {"extractor": {**spec, "max_band_fraction": 2}}})
