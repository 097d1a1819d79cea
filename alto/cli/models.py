"""alto models: the published ALTO and ConvONet models, downloaded by name.

  alto models list                  every published model, what it expects, whether it is cached
  alto models fetch NAME [NAME...]  download, convert and cache models; print their paths

Any command that takes a model (alto reconstruct -m NAME, alto generate --checkpoint
NAME, alto.reconstruct(points, NAME)) fetches a published model on first use.

The cache is $ALTO_MODEL_CACHE, else $XDG_CACHE_HOME/alto/models, else
~/.cache/alto/models. With $ALTO_MODEL_MIRROR set to a URL prefix (file:// too),
model NAME is fetched from <prefix>/NAME.pt instead of its publisher: put the
published files there, named after the catalog, for nodes without internet.
Downloads resume where they stopped; a SHA-256 unknown to the catalog is recorded
on the first download and checked on every later use.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from alto.data.download.fetch import DEFAULT_CONNECT_TIMEOUT_S
from alto.errors import InputError
from alto.io import atomic_write

__all__ = ["main"]


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True, metavar="{list,fetch}")
    listing = sub.add_parser("list", help="list the published models and whether each is cached")
    listing.add_argument("--urls", action="store_true", help="also show where each is downloaded from")
    fetch = sub.add_parser("fetch", help="download, convert and cache published models; print their paths")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="catalog names (see 'alto models list')")
    fetch.add_argument("--url", help="a checkpoint outside the catalog (needs --config); cached by URL")
    fetch.add_argument("--config", type=Path, help="experiment config of the --url checkpoint")
    fetch.add_argument("--sha256", help="expected SHA-256 of the --url checkpoint")
    fetch.add_argument("--force", action="store_true", help="download and convert again even if cached")
    fetch.add_argument("--offline", action="store_true", help="never use the network: only check the cache")
    fetch.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT_S, metavar="SECONDS",
                       help="give up connecting after this long")
    fetch.add_argument("--out", type=Path, help="also copy the (single) checkpoint here, e.g. model_best.pt")
    fetch.add_argument("--summary", type=Path,
                       help="also write the conversion record here (the workflow's train_summary.json)")
    return parser


def _list(ns: argparse.Namespace) -> int:
    from alto.models.catalog import CATALOG
    from alto.models.zoo import cache_dir, is_cached, source_url

    header = ("name", "method", "cached", "expects", "trained on", *(("url",) if ns.urls else ()))
    rows = [header]
    for model in CATALOG.values():
        row = (model.name, model.method, "yes" if is_cached(model.name) else "no", model.profile().describe(),
               model.title, *((source_url(model),) if ns.urls else ()))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"cache: {cache_dir()}")
    return 0


def _fetch(ns: argparse.Namespace) -> int:
    from alto.models.zoo import copy_checkpoint, fetch_model, read_record, url_model

    if ns.url:
        if ns.names or ns.config is None:
            raise InputError("--url fetches one checkpoint outside the catalog: give --config and no NAME")
        models = [url_model(ns.url, ns.config, ns.sha256)]
    elif ns.names:
        if ns.config is not None or ns.sha256 is not None:
            raise InputError("--config and --sha256 go with --url: a catalog model has its own")
        models = list(ns.names)
    else:
        raise InputError("give the NAME of a published model (see 'alto models list'), or --url and --config")
    if (ns.out or ns.summary) and len(models) != 1:
        raise InputError("--out and --summary take a single model")
    for model in models:
        path = fetch_model(model, force=ns.force, offline=ns.offline, connect_timeout=ns.connect_timeout)
        name = model if isinstance(model, str) else model.name
        if ns.out is not None:
            path = copy_checkpoint(path, ns.out)
        if ns.summary is not None:
            with atomic_write(ns.summary) as handle:
                json.dump(read_record(name), handle, indent=2)
                handle.write("\n")
        print(path)
    return 0


def main(argv: Sequence[str] | None, prog: str = "alto models") -> int:
    """Run ``alto models`` with ``argv``; return the exit code."""
    ns = _parser(prog).parse_args(None if argv is None else list(argv))
    return {"list": _list, "fetch": _fetch}[ns.action](ns)
