"""The three extractors on analytic occupancy fields standing in for a model.

Sphere, torus and two boxes touching along part of a face, with their exact signed
distances (alto.mesh.analytic), at lattices of 33 and 65 points per axis.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from mesh_helpers import same_surface

from alto.errors import ConfigError, InputError
from alto.mesh import (
    DenseExtractor,
    MiseExtractor,
    RegionGrowingExtractor,
    build_extractor,
    logit,
)
from alto.mesh.analytic import Box, Sphere, Torus, Union, occupancy_field, surface_points
from alto.mesh.dense import sample_dense
from alto.mesh.field import FieldEvaluator
from alto.mesh.lattice import unit_box_lattice
from alto.mesh.marching import grid_to_mesh

SHAPES = {
    "sphere": Sphere(radius=0.3),
    "torus": Torus(major=0.3, minor=0.1),
    # Touching along x = 0.01, a plane that holds no lattice point of these lattices.
    "touching_boxes": Union((Box((-0.35, -0.25, -0.2), (0.01, 0.15, 0.2)), Box((0.01, -0.1, -0.15), (0.3, 0.3, 0.25)))),
}


def true_distance(shape, vertices: np.ndarray) -> np.ndarray:
    """Unsigned distance of mesh vertices to the exact surface (exact for these shapes
    outside; inside a union it is an upper bound of nothing smaller than the truth)."""
    return np.abs(shape.distance(torch.from_numpy(np.asarray(vertices, np.float64))).numpy())


def assert_same_mesh(mesh, reference) -> None:
    assert len(reference.faces) > 0
    assert same_surface(mesh, reference)


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    generator = np.random.default_rng(7)
    return {name: surface_points(shape, 600, generator) for name, shape in SHAPES.items()}


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize(("resolution_0", "steps"), [(8, 2), (16, 2), (8, 3)])
def test_mise_equals_dense(name: str, resolution_0: int, steps: int) -> None:
    """MISE gives exactly the dense mesh at its final lattice when every surface
    component reaches the boundary points of the coarse cells it crosses, so that
    every final-level cell with a sign change is reached by subdivision (no feature
    smaller than a coarse cell: here the thinnest part, the torus tube of diameter
    0.2, spans more than one coarse cell of 1.1 / 16)."""
    field = occupancy_field(SHAPES[name])
    dense = DenseExtractor(resolution=(resolution_0 << steps) + 1).extract(field)
    mise = MiseExtractor(resolution_0=resolution_0, upsampling_steps=steps).extract(field)
    assert_same_mesh(mise.mesh, dense.mesh)
    assert mise.mesh.is_watertight and dense.mesh.is_watertight
    assert mise.stats.grid_evaluations < dense.stats.grid_evaluations / 2


def test_mise_misses_a_feature_inside_one_coarse_cell() -> None:
    """The condition above is needed: a ball that lies strictly inside one coarse cell
    changes no coarse corner, so MISE never subdivides there; dense finds it."""
    cell = 1.1 / 4
    ball = Sphere(centre=(-0.55 + 1.5 * cell,) * 3, radius=0.3 * cell)
    field = occupancy_field(ball)
    assert len(DenseExtractor(resolution=17).extract(field).mesh.faces) > 0
    mise = MiseExtractor(resolution_0=4, upsampling_steps=2).extract(field)
    assert mise.empty


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("resolution", [33, 65])
def test_region_growing_equals_dense(name: str, resolution: int, inputs) -> None:
    """Region growing without refinement gives exactly the dense mesh when it is seeded
    on every connected surface component (here: input points on the whole surface),
    since growth then reaches every cell with a sign change, and evaluates fewer points."""
    field = occupancy_field(SHAPES[name])
    dense = DenseExtractor(resolution=resolution).extract(field)
    grown = RegionGrowingExtractor(resolution=resolution, box="unit", refinement_steps=0).extract(field, inputs[name])
    assert_same_mesh(grown.mesh, dense.mesh)
    assert grown.mesh.is_watertight
    assert grown.stats.grid_evaluations < dense.stats.grid_evaluations / 3


def test_region_growing_from_one_seed_follows_the_whole_component() -> None:
    """Growth follows sign changes: one input point on a torus grows over the whole
    torus, while a second, unseeded torus is never reached."""
    seeded, unseeded = (
        Torus(centre=(-0.2, 0.0, 0.0), major=0.15, minor=0.06),
        Sphere(centre=(0.3, 0.0, 0.0), radius=0.12),
    )
    field = occupancy_field(Union((seeded, unseeded)))
    one_point = np.array([[-0.2 + 0.15 + 0.06, 0.0, 0.0]])
    grown = RegionGrowingExtractor(resolution=45, box="unit", refinement_steps=0).extract(field, one_point)
    alone = DenseExtractor(resolution=45).extract(occupancy_field(seeded))
    assert_same_mesh(grown.mesh, alone.mesh)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_vertices_on_the_true_surface(name: str, inputs) -> None:
    """Marching-cubes vertices lie within a grid spacing of the true surface; with 10
    bisection steps, within spacing / 2^10 of a crossing, i.e. far closer. Interpolating
    in probability (ALTO) on a sharp field makes the unrefined error large."""
    shape = SHAPES[name]
    field = occupancy_field(shape, sharpness=400.0)
    settings = {"resolution": 33, "box": "unit", "value_space": "probability"}
    coarse = RegionGrowingExtractor(refinement_steps=0, **settings).extract(field, inputs[name])
    refined = RegionGrowingExtractor(refinement_steps=10, **settings).extract(field, inputs[name])
    spacing = coarse.lattice.spacing
    coarse_error = true_distance(shape, coarse.mesh.vertices)
    refined_error = true_distance(shape, refined.mesh.vertices)
    assert coarse_error.max() < spacing
    assert refined_error.max() < 2 * spacing / 2**10
    assert refined_error.mean() < coarse_error.mean() / 50
    assert refined.stats.refinement_evaluations == 10 * len(refined.mesh.vertices)
    np.testing.assert_array_equal(refined.mesh.faces, coarse.mesh.faces)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("method", ["dense", "mise", "region_growing"])
def test_level_is_a_logit(method: str, threshold: float, inputs) -> None:
    """At level logit(t) the surface of sigmoid(k (r - |p|)) is the sphere of radius
    r - logit(t) / k: ConvONet's p = 0.2 and ALTO's p = 0.5 are both expressible."""
    sharpness, radius = 20.0, 0.3
    field = occupancy_field(Sphere(radius=radius), sharpness=sharpness)
    settings = {
        "dense": {"resolution": 33},
        "mise": {"resolution_0": 8, "upsampling_steps": 2},
        "region_growing": {"resolution": 33, "box": "unit"},
    }[method]
    extraction = build_extractor(method, level=logit(threshold), **settings).extract(field, inputs["sphere"])
    expected = radius - logit(threshold) / sharpness
    radii = np.linalg.norm(extraction.mesh.vertices, axis=1)
    np.testing.assert_allclose(radii, expected, atol=0.1 * extraction.lattice.spacing)


def test_meshes_face_outward() -> None:
    """Faces are oriented with the inside (logits above the level) behind them."""
    for name, shape in SHAPES.items():
        mesh = DenseExtractor(resolution=33).extract(occupancy_field(shape)).mesh
        assert mesh.volume > 0, name


def test_input_bbox_box_spans_the_inputs(inputs) -> None:
    """ALTO's box is the cube from the smallest to the largest input coordinate."""
    points = inputs["torus"]
    extraction = RegionGrowingExtractor(resolution=33).extract(occupancy_field(SHAPES["torus"]), points)
    lattice = extraction.lattice
    np.testing.assert_allclose(lattice.origin, [points.min()] * 3)
    np.testing.assert_allclose(lattice.origin[0] + 32 * lattice.spacing, points.max())


def test_no_surface_gives_an_explicit_empty_mesh(caplog, inputs) -> None:
    far_away = occupancy_field(Sphere(centre=(5.0, 5.0, 5.0), radius=0.1))
    with caplog.at_level(logging.WARNING):
        for extractor in (
            DenseExtractor(resolution=9),
            MiseExtractor(resolution_0=4),
            RegionGrowingExtractor(resolution=9, box="unit"),
        ):
            extraction = extractor.extract(far_away, inputs["sphere"])
            assert extraction.empty
            assert extraction.mesh.vertices.shape == (0, 3)
    assert caplog.text.count("found no surface") == 3


def test_region_growing_never_evaluates_a_point_twice(inputs) -> None:
    """Every queried point is distinct, and their number is the number of known points."""
    queried = []
    base = occupancy_field(SHAPES["torus"])

    def recording(points: torch.Tensor) -> torch.Tensor:
        queried.append(points.numpy().copy())
        return base(points)

    extractor = RegionGrowingExtractor(resolution=33, box="unit", refinement_steps=0)
    extraction = extractor.extract(recording, inputs["torus"])
    points = np.concatenate(queried)
    assert len(np.unique(points, axis=0)) == len(points) == extraction.stats.grid_evaluations


def test_field_runs_in_chunks_without_gradients(inputs) -> None:
    """The memory budget bounds every field call; results do not depend on the chunking."""
    sizes = []
    base = occupancy_field(SHAPES["sphere"])

    def watched(points: torch.Tensor) -> torch.Tensor:
        assert not torch.is_grad_enabled()
        sizes.append(len(points))
        return base(points)

    small = RegionGrowingExtractor(resolution=33, box="unit", memory_budget=1000, bytes_per_point=10)
    large = RegionGrowingExtractor(resolution=33, box="unit")
    chunked = small.extract(watched, inputs["sphere"])
    assert max(sizes) == 100 and len(sizes) > 10
    np.testing.assert_array_equal(chunked.mesh.vertices, large.extract(base, inputs["sphere"]).mesh.vertices)


def test_grid_to_mesh_drops_triangles_touching_unknown_values() -> None:
    """Unknown (NaN) lattice values never produce vertices."""
    evaluator = FieldEvaluator(occupancy_field(SHAPES["sphere"]), chunk_size=4096)
    values = sample_dense(evaluator, unit_box_lattice(17))
    values[:, :8, :] = np.nan
    vertices, faces = grid_to_mesh(values, 0.0)
    assert len(faces) > 0 and np.isfinite(vertices).all()
    assert faces.max() == len(vertices) - 1
    assert vertices[:, 1].min() >= 8


def test_bad_fields_and_settings_are_named() -> None:
    with pytest.raises(InputError, match=r"shape \(\d+,\)"):
        DenseExtractor(resolution=5).extract(lambda p: torch.zeros(len(p), 1))
    with pytest.raises(InputError, match="NaN or infinite"):
        DenseExtractor(resolution=5).extract(lambda p: torch.full((len(p),), float("nan")))
    with pytest.raises(InputError, match="needs the input points"):
        RegionGrowingExtractor(resolution=5).extract(occupancy_field(SHAPES["sphere"]))
    with pytest.raises(InputError, match=r"shape \(N, 3\)"):
        RegionGrowingExtractor(resolution=5).extract(occupancy_field(SHAPES["sphere"]), np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="resolution_0"):
        MiseExtractor(resolution_0=0)
    with pytest.raises(ConfigError, match="value_space"):
        DenseExtractor(value_space="linear")
    with pytest.raises(ConfigError, match="box"):
        DenseExtractor(box="sphere")
    with pytest.raises(ConfigError, match="unknown extraction method 'marching'"):
        build_extractor("marching")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['resolution'\]"):
        build_extractor("mise", resolution=64)
