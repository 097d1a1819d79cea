"""Time the per-object evaluation at the paper's sizes (100k surface samples, 100k IoU points).

Builds a few reconstruction-like objects (marching cubes of a slightly perturbed
signed distance field, as a model's mesh would be) with analytic ground truth,
then times, per object: the whole :func:`alto.eval.evaluate_object` call, the
inside test alone (:func:`alto.geometry.points_inside_mesh` on the IoU points),
the surface sampling and the surface metrics. Reports medians over objects and
repeats; "beyond inside" is the whole call minus the inside test.

    .venv/bin/python bench/evaluate.py --resolution 128 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from alto.eval import N_SURFACE_SAMPLES, TriangleSurface, evaluate_object, surface_metrics
from alto.geometry import points_inside_mesh
from alto.io import atomic_write

#: Half side of the box holding the IoU points and the extraction grid (unit cube + padding 0.1).
HALF_BOX = 0.55
#: Grid resolution of the ground-truth meshes, finer than any prediction.
GT_RESOLUTION = 192
#: Amplitude of the smooth perturbation that turns the exact field into a "prediction".
PERTURBATION = 0.01

Field = Callable[[np.ndarray], np.ndarray]


def sphere(p: np.ndarray) -> np.ndarray:
    """Signed distance to a sphere of radius 0.4."""
    return np.linalg.norm(p, axis=-1) - 0.4


def torus(p: np.ndarray) -> np.ndarray:
    """Signed distance to a torus around y (radii 0.3 and 0.12)."""
    ring = np.hypot(p[..., 0], p[..., 2]) - 0.3
    return np.hypot(ring, p[..., 1]) - 0.12


def rounded_box(p: np.ndarray) -> np.ndarray:
    """Signed distance to a box with rounded edges (radius 0.05)."""
    q = np.abs(p) - np.array([0.35, 0.2, 0.3])
    return np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(axis=-1), 0.0) - 0.05


def perturbed(field: Field) -> Field:
    """``field`` plus a smooth wave, standing in for a network's approximation error."""

    def wavy(p: np.ndarray) -> np.ndarray:
        return field(p) + PERTURBATION * np.sin(17 * p[..., 0]) * np.cos(13 * p[..., 2])

    return wavy


def extract(field: Field, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of ``field`` over [-HALF_BOX, HALF_BOX]^3 at ``resolution`` cells per side."""
    axis = np.linspace(-HALF_BOX, HALF_BOX, resolution + 1)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    vertices, faces, _, _ = marching_cubes(field(grid), level=0.0, spacing=(axis[1] - axis[0],) * 3)
    return vertices - HALF_BOX, faces.astype(np.int64)


def timed(call: Callable[[], object]) -> tuple[float, object]:
    """Wall-clock seconds of ``call()`` and its result."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def bench_object(name: str, field: Field, resolution: int, repeats: int, seed: int, remove_wall: bool) -> list[dict]:
    """Timing records of ``repeats`` evaluations of one reconstruction-like object."""
    rng = np.random.default_rng(seed)
    gt_vertices, gt_faces = extract(field, GT_RESOLUTION)
    gt = TriangleSurface.from_mesh(gt_vertices, gt_faces).sample(N_SURFACE_SAMPLES, rng)
    iou_points = rng.uniform(-HALF_BOX, HALF_BOX, (N_SURFACE_SAMPLES, 3))
    occupancy = field(iou_points) < 0
    vertices, faces = extract(perturbed(field), resolution)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    records = []
    for repeat in range(repeats):
        total, row = timed(
            lambda r=repeat: evaluate_object(
                mesh, gt.points, gt.normals, iou_points, occupancy, rng=r, remove_wall=remove_wall
            )
        )
        inside, _ = timed(lambda: points_inside_mesh(vertices, faces, iou_points))
        sampling, samples = timed(
            lambda r=repeat: TriangleSurface.from_mesh(vertices, faces).sample(
                N_SURFACE_SAMPLES, np.random.default_rng(r)
            )
        )
        metrics, _ = timed(lambda s=samples: surface_metrics(s.points, s.normals, gt.points, gt.normals))
        records.append(
            {
                "object": name,
                "faces": len(faces),
                "total_s": total,
                "inside_s": inside,
                "beyond_inside_s": total - inside,
                "sampling_s": sampling,
                "metrics_s": metrics,
                "iou": row["iou"],
                "chamfer_l1": row["chamfer_l1"],
            }
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes cells per side")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per object")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--remove-wall", action="store_true", help="time the rooms' wall-crop protocol")
    parser.add_argument("--json", type=Path, help="also write the raw records to this file")
    args = parser.parse_args()

    objects = {"sphere": sphere, "torus": torus, "rounded_box": rounded_box}
    records = [
        record
        for name, field in objects.items()
        for record in bench_object(name, field, args.resolution, args.repeats, args.seed, args.remove_wall)
    ]
    for record in records:
        print(
            f"{record['object']:<12} faces={record['faces']:>7} total={record['total_s']:.3f}s "
            f"inside={record['inside_s']:.3f}s beyond_inside={record['beyond_inside_s']:.3f}s "
            f"sampling={record['sampling_s']:.3f}s metrics={record['metrics_s']:.3f}s "
            f"iou={record['iou']:.4f} chamfer_l1={record['chamfer_l1']:.5f}"
        )
    keys = ("total_s", "inside_s", "beyond_inside_s", "sampling_s", "metrics_s")
    medians = {key: statistics.median(r[key] for r in records) for key in keys}
    print("median " + " ".join(f"{key}={value:.3f}" for key, value in medians.items()))
    if args.json:
        with atomic_write(args.json) as handle:
            json.dump(
                {"records": records, "medians": medians, "args": vars(args) | {"json": str(args.json)}},
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
