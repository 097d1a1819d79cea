"""Benchmark of the mesh extractors: field evaluations against the surface band, and
time inside versus outside the field.

The scene is ALTO's setting: a torus-plus-box occupancy field (surface area about that
of a ShapeNet object in the unit cube), 3000 surface points with Gaussian noise 0.005
as inputs, lattices over the inputs' cubic bounding box. Every method runs at each
resolution with two fields:

- ``analytic``: the exact field, almost free, so "outside" time dominates;
- ``decoder``: the same logits plus a ConvONet-sized decoder evaluated on every query
  (three 32 x 64 x 64 feature planes sampled bilinearly, five 32-wide ResNet blocks),
  so the cost per point resembles a real model's. Its output is scaled by 1e-6 and
  added to the analytic logits, so the surface and the band do not change.

The *band* is the set of lattice points that ALTO's growth rule must know: the union
of the blocks of every seed it visits. It is computed here independently of the
extractor, by running the rule with dense masks on the fully evaluated lattice.
``upstream-style`` counts what a loop that re-evaluates each round's blocks (the
published one) evaluates.

Run:  .venv/bin/python bench/extract.py --threads 1 --repeats 2 [--output FILE]   (see docs/benchmarks_extract.md)
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import sys
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from alto.io import atomic_write
from alto.mesh import DenseExtractor, Extraction, MiseExtractor, RegionGrowingExtractor
from alto.mesh.analytic import Box, Torus, Union, occupancy_field, surface_points
from alto.mesh.dense import sample_dense
from alto.mesh.field import Field, FieldEvaluator
from alto.mesh.lattice import Lattice, input_bbox_lattice
from alto.mesh.region_growing import DEFAULT_DILATION, GrowthTrace, grow_region

logger = logging.getLogger("bench.extract")

#: ALTO's inputs: 3000 points with noise 0.005 (configs/pointcloud/shapenet_3plane_attention_sub.yaml).
INPUT_POINTS = 3000
INPUT_NOISE = 0.005
#: MISE starts from ConvONet's 32 coarse cells and refines up to the benchmark resolution.
MISE_RESOLUTION_0 = 32
#: Width and depth of the ConvONet-like decoder (c_dim 32, hidden 32, 5 blocks, 64^2 planes).
DECODER_WIDTH = 32
DECODER_BLOCKS = 5
DECODER_PLANE = 64
#: Weight of the decoder's output in the ``decoder`` field: enough to be computed, too
#: small to move the surface.
DECODER_WEIGHT = 1e-6

SCENE = Union(
    (
        Torus(centre=(0.0, 0.05, 0.0), major=0.3, minor=0.1),
        Box(low=(-0.35, -0.25, -0.2), high=(0.35, -0.05, 0.2)),
    )
)


class PlaneDecoder(torch.nn.Module):
    """Random ConvONet-style local decoder: the cost of a real one, seeded weights."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        width = DECODER_WIDTH
        self.planes = torch.nn.Parameter(torch.randn(3, width, DECODER_PLANE, DECODER_PLANE, generator=generator))
        self.fc_p = torch.nn.Linear(3, width)
        self.fc_c = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(DECODER_BLOCKS))
        self.blocks = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, width))
            for _ in range(DECODER_BLOCKS)
        )
        self.fc_out = torch.nn.Linear(width, 1)
        with torch.no_grad():
            for parameter in self.parameters():
                if parameter is not self.planes:
                    parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        unit = (points / 1.1 + 0.5).clamp(0.0, 1.0) * 2 - 1
        features = 0
        for plane, axes in zip(self.planes, ([0, 2], [0, 1], [1, 2]), strict=True):
            grid = unit[:, axes][None, :, None, :]
            sampled = F.grid_sample(plane[None], grid, mode="bilinear", padding_mode="border", align_corners=True)
            features = features + sampled[0, :, :, 0].T
        net = self.fc_p(points)
        for fc_c, block in zip(self.fc_c, self.blocks, strict=True):
            net = net + fc_c(features)
            net = net + block(torch.relu(net))
        return self.fc_out(torch.relu(net))[:, 0]


def decoder_field(analytic: Field, generator: torch.Generator) -> Field:
    """The analytic logits plus a negligible ConvONet-sized decoder output."""
    decoder = PlaneDecoder(generator).eval()

    def field(points: torch.Tensor) -> torch.Tensor:
        return analytic(points) + DECODER_WEIGHT * decoder(points)

    return field


def _dilate(mask: np.ndarray, dilation: int) -> np.ndarray:
    """Union of the blocks ``[-dilation, dilation)^3`` placed at every True point."""
    for axis in range(3):
        out = np.zeros_like(mask)
        size = mask.shape[axis]
        for offset in range(-dilation, dilation):
            target = [slice(None)] * 3
            source = [slice(None)] * 3
            target[axis] = slice(max(offset, 0), size + min(offset, 0))
            source[axis] = slice(max(-offset, 0), size - max(offset, 0))
            out[tuple(target)] |= mask[tuple(source)]
        mask = out
    return mask


def growth_band(values: np.ndarray, lattice: Lattice, inputs: np.ndarray, level: float, dilation: int) -> np.ndarray:
    """The lattice points ALTO's growth rule must know, by the rule on dense masks.

    ``values`` is the fully evaluated lattice; a one-point shell around it counts as
    outside and may seed, as in the extractor.
    """
    known = np.pad(values, 1, constant_values=-np.inf)
    cell = np.floor((inputs - np.asarray(lattice.origin)) / lattice.spacing).astype(np.int64) + 1
    cell = cell[np.all((cell >= 0) & (cell < np.asarray(known.shape)), axis=1)]
    seeds = np.zeros(known.shape, dtype=bool)
    seeds[tuple(cell.T)] = True
    visited = np.zeros_like(seeds)
    band = np.zeros_like(seeds)
    while seeds.any():
        band |= _dilate(seeds, dilation)
        visited |= seeds
        near_inside = _dilate(seeds & (known >= level), dilation)
        near_outside = _dilate(seeds & (known <= level), dilation)
        seeds = ~visited & ((near_inside & (known <= level)) | (near_outside & (known >= level)))
    return band[1:-1, 1:-1, 1:-1]


def extractors(resolution: int) -> dict[str, object]:
    """The three methods at ``resolution`` points per axis over the inputs' cubic bbox."""
    steps = round(math.log2(resolution / MISE_RESOLUTION_0))
    return {
        "dense": DenseExtractor(resolution=resolution, box="input_bbox"),
        "mise": MiseExtractor(resolution_0=MISE_RESOLUTION_0, upsampling_steps=steps, box="input_bbox"),
        "region_growing": RegionGrowingExtractor(resolution=resolution, value_space="probability"),
    }


def band_reference(resolution: int, field: Field, inputs: np.ndarray) -> tuple[int, int, bool]:
    """(band size, upstream-style evaluations, extractor's known set == band)."""
    lattice = input_bbox_lattice(inputs, resolution)
    values = sample_dense(FieldEvaluator(field, 1 << 18), lattice)
    band = growth_band(values, lattice, inputs, 0.0, DEFAULT_DILATION)
    trace = GrowthTrace()
    grown = grow_region(FieldEvaluator(field, 1 << 18), lattice, inputs, 0.0, DEFAULT_DILATION, trace)
    return int(band.sum()), trace.block_points, bool(np.array_equal(~np.isnan(grown), band))


def row(
    field_name: str, method: str, resolution: int, extraction: Extraction, band: int, upstream: int | None
) -> dict[str, object]:
    stats = extraction.stats
    return {
        "field": field_name,
        "method": method,
        "lattice": f"{resolution}^3",
        "grid evals": stats.grid_evaluations,
        "band": band,
        "evals / band": stats.grid_evaluations / band,
        "upstream-style evals": upstream if upstream is not None else "",
        "refine evals": stats.refinement_evaluations,
        "field s": stats.field_seconds,
        "outside s": stats.outside_seconds,
        "outside share": stats.outside_seconds / stats.total_seconds,
        "faces": len(extraction.mesh.faces),
    }


def markdown(rows: list[dict[str, object]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in rows:
        cells = []
        for value in entry.values():
            if isinstance(value, float):
                cells.append(f"{value:.3f}" if value < 100 else f"{value:.0f}")
            elif isinstance(value, int):
                cells.append(f"{value:,}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--fields", nargs="+", choices=["analytic", "decoder"], default=["analytic", "decoder"])
    parser.add_argument(
        "--methods", nargs="+", choices=["dense", "mise", "region_growing"], default=["dense", "mise", "region_growing"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per row; the fastest is kept (shared machines are noisy)"
    )
    parser.add_argument("--output", help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    generator = np.random.default_rng(args.seed)
    inputs = surface_points(SCENE, INPUT_POINTS, generator)
    inputs = inputs + generator.normal(scale=INPUT_NOISE, size=inputs.shape)
    analytic = occupancy_field(SCENE)
    fields = {"analytic": analytic, "decoder": decoder_field(analytic, torch.Generator().manual_seed(args.seed))}
    area = DenseExtractor(resolution=129).extract(analytic).mesh.area

    rows = []
    for resolution in args.resolutions:
        band, upstream, same = band_reference(resolution, analytic, inputs)
        logger.info(
            "%d^3: band %d points, upstream-style %d, extractor's known set == band: %s",
            resolution,
            band,
            upstream,
            same,
        )
        for field_name in args.fields:
            for method, extractor in extractors(resolution).items():
                if method not in args.methods:
                    continue
                runs = [extractor.extract(fields[field_name], inputs) for _ in range(args.repeats)]
                extraction = min(runs, key=lambda run: run.stats.total_seconds)
                logger.info(
                    "%s %s %d^3: %s s",
                    field_name,
                    method,
                    resolution,
                    ", ".join(f"{run.stats.total_seconds:.1f}" for run in runs),
                )
                rows.append(
                    row(
                        field_name,
                        method,
                        resolution,
                        extraction,
                        band,
                        upstream if method == "region_growing" else None,
                    )
                )
    header = (
        f"torus + box, surface area {area:.2f}, {INPUT_POINTS} noisy input points, level 0; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores "
        f"({platform.machine()}), 1-minute load {load_before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after, best of {args.repeats}"
    )
    table = header + "\n\n" + markdown(rows) + "\n"
    sys.stdout.write(table)
    if args.output:
        with atomic_write(args.output) as handle:
            handle.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
