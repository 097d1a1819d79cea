"""``alto reconstruct INPUT -m MODEL -o OUTPUT.ply``: a mesh from your own point cloud.

INPUT is a PLY (points, with or without normals), XYZ/TXT, NPZ (``points``) or
NPY file, or a mesh whose vertices are used. MODEL is the name of a published
model (downloaded and cached on first use; see 'alto models list'), an alto
checkpoint, an upstream ALTO/ConvONet checkpoint (give its experiment config with
--config), or the name of an experiment trained by the workflow
(results/models/<name>). The mesh is written in the input's own coordinates;
OUTPUT is only replaced once the mesh is complete. The frame assumed, the points
kept and warnings about inputs unlike the model's training data are logged, and so
is the progress of a long extraction. An extraction whose surface fills far more of
the grid than a real shape can (an untrained checkpoint, a wrong frame or scale) is
stopped with a message saying what to check.

  alto reconstruct scan.ply -m alto-shapenet -o mesh.ply
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from alto.config.defaults import DEFAULT_SEED
from alto.devices import AUTO, DEVICE_HELP, resolve_device
from alto.errors import ExtractionError, InputError
from alto.reconstruction.api import MODES

log = logging.getLogger(__name__)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="point cloud or mesh file")
    parser.add_argument("-m", "--model", required=True,
                        help="published model name (alto models list), checkpoint file or trained experiment name")
    parser.add_argument("-o", "--output", required=True, help="mesh file to write (.ply or .off)")
    parser.add_argument("--config", help="experiment config of an upstream checkpoint (ours carry theirs)")
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="object: normalise to the unit cube; scene: keep the metric scale, sliding window "
                             "when larger than the model's box (auto: scene for models trained on rooms)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="scene mode: model units per input unit (default 1: input already in model units)")
    parser.add_argument("--method", choices=["dense", "mise", "region_growing"],
                        help="surface extraction (default: the model config's, e.g. region growing for ALTO)")
    parser.add_argument("--resolution", type=int,
                        help="final grid resolution (scene sliding window: lattice points per unit length)")
    parser.add_argument("--points", type=int, help="points given to the model (default: as many as it was trained on)")
    parser.add_argument("--device", default=AUTO, help=DEVICE_HELP)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the point subsampling")
    parser.add_argument("--max-band-fraction", type=float,
                        help="mise / region growing: share of the grid the surface band may fill before the "
                             "extraction stops (default: what a real surface can fill at the resolution; 1: no limit)")
    return parser


def main(argv: Sequence[str] | None, prog: str = "alto reconstruct") -> int:
    """Run ``alto reconstruct``; returns the exit code."""
    args = _parser(prog).parse_args(argv)
    device = resolve_device(args.device)  # before any work: a missing GPU is a clear error, not torch's

    from alto.mesh import MESH_SUFFIXES, write_mesh
    from alto.reconstruction import Reconstructor, load_model, read_point_cloud

    output = Path(args.output)
    if output.suffix.lower() not in MESH_SUFFIXES:  # checked before minutes of work, not after
        raise InputError(f"{output}: unsupported mesh format {output.suffix!r}; use one of {', '.join(MESH_SUFFIXES)}")
    points = read_point_cloud(args.input)
    model = load_model(args.model, args.config, device=device)
    reconstructor = Reconstructor(model, mode=args.mode, method=args.method, resolution=args.resolution,
                                  points=args.points, scale=args.scale, device=device, seed=args.seed,
                                  max_band_fraction=args.max_band_fraction)
    try:
        result = reconstructor.run(points)
    except ExtractionError as error:
        raise ExtractionError(f"{args.input} with model {args.model}: {error}") from error
    write_mesh(result.mesh, output)
    print(f"{output}: {result.summary()}")
    if result.empty:
        log.warning("the model found no surface in %s: wrote an empty mesh", args.input)
    return 0
