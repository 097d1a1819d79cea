"""alto data: build and check datasets (see docs/data.md).

  alto data demo OUT              the procedural demo: objects in OUT/objects, rooms in OUT/rooms
  alto data from-meshes DIR OUT   a dataset in the ShapeNet layout from your own meshes
  alto data check PATH            validate a dataset folder (ShapeNet, Synthetic Rooms or built here)
  alto data list PATH             the objects of a split, one category/object per line
  alto data download NAME         fetch, verify and unpack ShapeNet, Synthetic Rooms or a checkpoint
  alto data scannet               preprocess ScanNet scans into the dataset layout
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

from alto.data.check import check_dataset
from alto.data.demo import DEMO_CATEGORIES, DemoConfig, build_demo
from alto.data.download import CONVONET_CHECKPOINTS, DATASETS, download, install_dataset, locate_dataset
from alto.data.download.fetch import DEFAULT_CONNECT_TIMEOUT_S
from alto.data.download.sources import DEFAULT_CHECKPOINT_ROOT
from alto.data.from_meshes import FromMeshesConfig, build_from_meshes
from alto.data.layout import SPLITS, list_categories, read_split
from alto.data.scannet import add_scannet_arguments, run_scannet
from alto.errors import InputError
from alto.io import atomic_write

__all__ = ["main"]


_SPLIT_METAVAR = ("TRAIN", "VAL", "TEST")


def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _add_demo(sub: argparse._SubParsersAction) -> None:
    d = DemoConfig()
    p = sub.add_parser("demo", help="write the procedural demo dataset (no download)")
    p.add_argument("out", help="output folder (gets objects/ and rooms/)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    p.add_argument(
        "--categories", nargs="+", default=list(d.categories), metavar="ID",
        help=f"object categories (default: all of {', '.join(DEMO_CATEGORIES)})",
    )
    p.add_argument("--objects-per-category", type=int, default=d.objects_per_category, help="(default %(default)s)")
    p.add_argument("--points", type=int, default=d.object_points, help="occupancy samples per object (%(default)s)")
    p.add_argument(
        "--surface-points", type=int, default=d.object_surface_points, help="surface samples per object (%(default)s)"
    )
    p.add_argument("--object-split", type=float, nargs=3, default=list(d.object_split), metavar=_SPLIT_METAVAR)
    p.add_argument("--rooms-per-class", type=int, default=d.rooms_per_class, help="0 for no rooms (%(default)s)")
    p.add_argument("--room-files", type=int, default=d.room_files, help="files per multi-file field (%(default)s)")
    p.add_argument("--room-points", type=int, default=d.room_points, help="occupancy samples per file (%(default)s)")
    p.add_argument(
        "--room-surface-points", type=int, default=d.room_surface_points,
        help="surface samples per file before the wall/floor filter (%(default)s)",
    )
    p.add_argument("--room-split", type=float, nargs=3, default=list(d.room_split), metavar=_SPLIT_METAVAR)
    p.add_argument("--padding", type=float, default=d.padding, help="padding of the sampling cube (%(default)s)")
    p.add_argument(
        "--mesh-resolution", type=int, default=d.mesh_resolution,
        help="write model_watertight.off meshes at this marching-cubes resolution (0 = none, default)",
    )
    p.add_argument("--workers", type=int, default=_default_workers(), help="processes (default: all cores)")


def _add_from_meshes(sub: argparse._SubParsersAction) -> None:
    d = FromMeshesConfig()
    p = sub.add_parser("from-meshes", help="build a dataset from a folder of OFF/OBJ/PLY/STL meshes")
    p.add_argument("src", metavar="DIR", help="meshes: one sub-folder per category, or a flat folder")
    p.add_argument("out", metavar="OUT", help="output dataset folder")
    p.add_argument("--category", default=None, help="category name for a flat folder (default: its name)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    p.add_argument("--points", type=int, default=d.n_points, help="occupancy samples per mesh (%(default)s)")
    p.add_argument("--surface-points", type=int, default=d.n_surface, help="surface samples per mesh (%(default)s)")
    p.add_argument("--padding", type=float, default=d.padding, help="padding of the sampling cube (%(default)s)")
    p.add_argument("--split", type=float, nargs=3, default=list(d.split), metavar=_SPLIT_METAVAR)
    p.add_argument(
        "--max-hole-edges", type=int, default=d.max_hole_edges,
        help="fill holes up to this many boundary edges; larger ones skip the mesh (%(default)s)",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first unusable mesh instead of skipping it")
    p.add_argument("--no-mesh", action="store_true", help="do not write model_watertight.off")
    p.add_argument("--workers", type=int, default=_default_workers(), help="processes (default: all cores)")


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a dataset folder")
    p.add_argument("path", help="dataset root (the folder with the category folders)")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), help="split lists to check (default: all)")
    p.add_argument("--limit", type=int, default=None, help="check at most this many models per category and split")
    p.add_argument(
        "--unpacked", action="store_true", help="occupancies are stored unpacked (data.points_unpackbits: false)"
    )
    p.add_argument("--surface-only", action="store_true",
                   help="check surface samples only: scans (ScanNet) have no occupancy ground truth")
    p.add_argument("--stamp", type=Path, help="on success, write a JSON summary of the dataset here")


def _add_list(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the objects of a split (category/object per line)")
    p.add_argument("path", help="dataset root")
    p.add_argument("--split", default="test", help="split list name (default %(default)s)")
    p.add_argument("--classes", nargs="+", help="categories (default: every category folder)")
    p.add_argument("--max-per-class", type=int, help="only the first N objects of each category")
    p.add_argument("--out", type=Path, help="write the list here (atomically) instead of printing it")


def _add_download(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="fetch, verify and unpack a dataset or checkpoint")
    names = ", ".join([*DATASETS, "convonet/<folder>/<model>"])
    p.add_argument("name", nargs="?", metavar="NAME",
                   help=f"what to fetch: {names} (see --list); omit it to fetch --url into --dest")
    p.add_argument("--list", action="store_true", help="list what can be fetched and exit")
    p.add_argument("--dest", type=Path, help="dataset folder (default data/<archive folder>) or checkpoint file")
    p.add_argument("--archive", type=Path,
                   help="where the archive is (or goes); default: beside the dataset folder")
    p.add_argument("--url", help="fetch from this URL instead (a mirror, or file://...)")
    p.add_argument("--sha256", help="expected SHA-256 of the archive or file")
    p.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT_S,
                   metavar="SECONDS", help="give up connecting after this long")
    p.add_argument("--offline", action="store_true",
                   help="never use the network: only check or unpack what is on disk")
    p.add_argument("--remove-archive", action="store_true", help="delete the archive after a successful install")
    p.add_argument("--force", action="store_true", help="re-install even if the dataset folder looks complete")


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(
        dest="action", required=True, metavar="{demo,from-meshes,check,list,download,scannet}"
    )
    _add_demo(sub)
    _add_from_meshes(sub)
    _add_check(sub)
    _add_list(sub)
    _add_download(sub)
    add_scannet_arguments(sub.add_parser("scannet", help="preprocess ScanNet scans"))
    return parser


def _demo(ns: argparse.Namespace) -> int:
    config = DemoConfig(
        seed=ns.seed,
        categories=tuple(ns.categories),
        objects_per_category=ns.objects_per_category,
        object_points=ns.points,
        object_surface_points=ns.surface_points,
        object_split=tuple(ns.object_split),
        padding=ns.padding,
        rooms_per_class=ns.rooms_per_class,
        room_files=ns.room_files,
        room_points=ns.room_points,
        room_surface_points=ns.room_surface_points,
        room_split=tuple(ns.room_split),
        mesh_resolution=ns.mesh_resolution,
        workers=ns.workers,
    )
    result = build_demo(ns.out, config)
    print(f"objects: {result.objects_root}")
    for cat, splits in result.objects.items():
        print(f"  {cat} ({DEMO_CATEGORIES[cat].name}): " + ", ".join(f"{s} {len(m)}" for s, m in splits.items()))
    if result.rooms_root is not None:
        print(f"rooms: {result.rooms_root}")
        for cls, splits in result.rooms.items():
            print(f"  {cls}: " + ", ".join(f"{s} {len(m)}" for s, m in splits.items()))
    return 0


def _from_meshes(ns: argparse.Namespace) -> int:
    config = FromMeshesConfig(
        seed=ns.seed,
        category=ns.category,
        n_points=ns.points,
        n_surface=ns.surface_points,
        padding=ns.padding,
        split=tuple(ns.split),
        max_hole_edges=ns.max_hole_edges,
        strict=ns.strict,
        write_mesh=not ns.no_mesh,
        workers=ns.workers,
    )
    summary = build_from_meshes(ns.src, ns.out, config)
    print("\n".join(summary.lines()))
    return 0


def _check(ns: argparse.Namespace) -> int:
    report = check_dataset(ns.path, tuple(ns.splits), unpackbits=not ns.unpacked, limit=ns.limit,
                           occupancy=not ns.surface_only)
    print("\n".join(report.lines()))
    if report.ok and ns.stamp is not None:
        summary = {
            "path": str(Path(ns.path).resolve()),
            "categories": {c.id: c.name for c in report.categories},
            "split_sizes": report.split_sizes,
            "models_checked": report.models_checked,
        }
        with atomic_write(ns.stamp) as handle:
            json.dump(summary, handle, indent=2)
    return 0 if report.ok else 1


def _list(ns: argparse.Namespace) -> int:
    root = Path(ns.path)
    categories = ns.classes or list_categories(root)
    lines = []
    for category in categories:
        models = read_split(root, category, ns.split)
        lines += [f"{category}/{model}" for model in models[: ns.max_per_class]]
    text = "".join(f"{line}\n" for line in lines)
    if ns.out is None:
        print(text, end="")
    else:
        with atomic_write(ns.out) as handle:
            handle.write(text)
    return 0


def _download_listing() -> str:
    rows = [f"{name:<40} {src.size:<26} {src.url}" for name, src in DATASETS.items()]
    rows += [f"{name:<40} {'checkpoint':<26} {url}" for name, url in CONVONET_CHECKPOINTS.items()]
    return "\n".join(rows)


def _download(ns: argparse.Namespace) -> int:
    if ns.list:
        print(_download_listing())
        return 0
    if ns.name is None:
        if ns.url and ns.dest:
            print(download(ns.url, ns.dest, ns.sha256, connect_timeout=ns.connect_timeout, offline=ns.offline))
            return 0
        raise InputError("give the NAME of what to fetch, e.g. 'shapenet' (see --list), or --url and --dest")
    if ns.name in CONVONET_CHECKPOINTS:
        dest = ns.dest or DEFAULT_CHECKPOINT_ROOT / f"{ns.name}.pt"
        path = download(ns.url or CONVONET_CHECKPOINTS[ns.name], dest, ns.sha256,
                        connect_timeout=ns.connect_timeout, offline=ns.offline)
    elif ns.name in DATASETS:
        source = DATASETS[ns.name]
        if ns.url or ns.sha256:
            source = dataclasses.replace(source, url=ns.url or source.url, sha256=ns.sha256 or source.sha256)
        dest = ns.dest or source.default_dest()
        if ns.force:
            path = install_dataset(source, dest, archive=ns.archive, force=True, connect_timeout=ns.connect_timeout,
                                   remove_archive=ns.remove_archive, offline=ns.offline)
        else:
            path = locate_dataset(source, dest, archive=ns.archive, download=not ns.offline,
                                  connect_timeout=ns.connect_timeout, remove_archive=ns.remove_archive)
    else:
        raise InputError(
            f"unknown download {ns.name!r}: expected one of {', '.join(DATASETS)} or a ConvONet "
            f"checkpoint such as {next(iter(CONVONET_CHECKPOINTS))} (see --list)"
        )
    print(path)
    return 0


def main(argv: Sequence[str] | None, prog: str = "alto data") -> int:
    """Run ``alto data`` with ``argv``; return the exit code."""
    ns = _parser(prog).parse_args(None if argv is None else list(argv))
    actions = {
        "demo": _demo, "from-meshes": _from_meshes, "check": _check, "list": _list,
        "download": _download, "scannet": run_scannet,
    }
    return actions[ns.action](ns)
