"""Published models on disk: downloaded and converted once, cached per user, verified on use.

``fetch_model("alto-shapenet")`` downloads the authors' checkpoint (resumable, through
Google Drive's confirmation page where needed), refuses anything that is not a
PyTorch file, converts it to alto's format with the packaged experiment config, and
keeps it in the cache folder:

    <cache>/<name>.pt      alto's checkpoint (config inside), written atomically
    <cache>/<name>.json    where it came from, the SHA-256 of the upstream file and of
                           the checkpoint, the conversion's summary

The SHA-256 of the upstream file is checked against the catalog's when it knows
one, and otherwise recorded on the first download and checked on later ones; the
checkpoint's is checked every time it is used. The cache is
``$ALTO_MODEL_CACHE``, else ``$XDG_CACHE_HOME/alto/models``, else
``~/.cache/alto/models``. ``$ALTO_MODEL_MIRROR`` (a URL prefix, ``file://`` included)
replaces the publishers' addresses: model ``NAME`` is then fetched from
``<prefix>/NAME.pt``, for clusters whose nodes have no internet access.

:func:`resolve_checkpoint` is the one place where a model argument (a checkpoint
file, a catalog name, or a trained experiment's name) becomes a checkpoint file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alto import __version__
from alto.data.download.fetch import DEFAULT_CONNECT_TIMEOUT_S, fetch
from alto.data.download.files import format_bytes, sha256_file
from alto.errors import DataError, InputError
from alto.io import atomic_path, atomic_write
from alto.models.catalog import CATALOG, PublishedModel, published_model
from alto.models.checkpoint import load_checkpoint, save_checkpoint

__all__ = [
    "BEST_CHECKPOINT",
    "CACHE_ENV",
    "MIRROR_ENV",
    "RESULTS_MODELS",
    "cache_dir",
    "cached_paths",
    "copy_checkpoint",
    "fetch_model",
    "is_cached",
    "read_record",
    "resolve_checkpoint",
    "source_url",
    "url_model",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the cache folder of converted published models.
CACHE_ENV = "ALTO_MODEL_CACHE"
#: Environment variable with a URL prefix that replaces the publishers' addresses.
MIRROR_ENV = "ALTO_MODEL_MIRROR"
#: The XDG base-directory variable for per-user caches, and its default.
_XDG_CACHE_ENV = "XDG_CACHE_HOME"
_XDG_CACHE_DEFAULT = Path("~/.cache")
#: Sub-folder of the cache where upstream files are downloaded (then converted and removed).
DOWNLOADS = "downloads"
#: Where the workflow keeps trained experiments, and the checkpoint it selects.
RESULTS_MODELS = Path("results/models")
BEST_CHECKPOINT = "model_best.pt"

#: First bytes of a PyTorch file: a zip archive (torch >= 1.6) or a pickle (protocol 2+).
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")
#: Bytes of an unexpected download shown in the error.
_SHOWN_BYTES = 40
#: Hex digits of a URL's digest that name its cache entry.
_URL_KEY_DIGITS = 16


def cache_dir() -> Path:
    """The cache folder of converted published models (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get(_XDG_CACHE_ENV) or _XDG_CACHE_DEFAULT).expanduser()
    return base / "alto" / "models"


def source_url(model: PublishedModel) -> str:
    """Where ``model`` is downloaded from: the mirror when ``$ALTO_MODEL_MIRROR`` is set."""
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and model.name in CATALOG:
        return f"{mirror.rstrip('/')}/{model.name}.pt"
    return model.url


def url_model(url: str, config: str | os.PathLike[str], sha256: str | None = None) -> PublishedModel:
    """An ad-hoc entry for a checkpoint outside the catalog (a URL and its experiment config)."""
    config_path = Path(config).resolve()
    if not config_path.is_file():
        raise InputError(f"experiment config {config} not found (needed to convert {url})")
    key = hashlib.sha256(f"{url}\n{config_path}".encode()).hexdigest()[:_URL_KEY_DIGITS]
    return PublishedModel(f"url-{key}", "", url, url, str(config_path), sha256)


def cached_paths(name: str) -> tuple[Path, Path]:
    """The converted checkpoint of model ``name`` in the cache and its JSON record."""
    folder = cache_dir()
    return folder / f"{name}.pt", folder / f"{name}.json"


def read_record(name: str) -> dict[str, Any] | None:
    """The cache record of model ``name``, or ``None`` when it has none (or it is unreadable)."""
    try:
        record = json.loads(cached_paths(name)[1].read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_cached(name: str) -> bool:
    """Whether model ``name`` is in the cache (checkpoint and record; not verified)."""
    checkpoint, record = cached_paths(name)
    return checkpoint.is_file() and record.is_file()


def _verified(model: PublishedModel, checkpoint: Path, record: Mapping[str, Any]) -> Path:
    actual = sha256_file(checkpoint)
    if actual != record.get("checkpoint_sha256"):
        raise DataError(
            f"{checkpoint} has sha256 {actual}, not the {record.get('checkpoint_sha256')} recorded when "
            f"{model.name} was fetched: the file changed or is damaged; fetch it again with "
            f"'alto models fetch {model.name} --force'"
        )
    return checkpoint


def fetch_model(
    model: str | PublishedModel,
    *,
    force: bool = False,
    offline: bool = False,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> Path:
    """The cached, verified alto checkpoint of a published model, downloaded on first use.

    ``model`` is a catalog name or an entry (see :func:`url_model`). ``force``
    downloads and converts again; ``offline`` never uses the network (an uncached
    model is then an error saying how to get it).
    """
    entry = published_model(model) if isinstance(model, str) else model
    checkpoint, record_path = cached_paths(entry.name)
    record = read_record(entry.name)
    if not force and checkpoint.is_file() and record is not None:
        return _verified(entry, checkpoint, record)
    url = source_url(entry)
    original = cache_dir() / DOWNLOADS / f"{entry.name}.pt"
    if offline and not original.is_file():
        raise DataError(
            f"published model {entry.name} is not in the cache {cache_dir()} and downloads are off: run "
            f"'alto models fetch {entry.name}' on a machine with internet access and copy {checkpoint} and "
            f"{record_path} here, or set {CACHE_ENV} to a shared cache or {MIRROR_ENV} to a mirror"
        )
    expected = entry.sha256 or (record or {}).get("upstream_sha256")
    logger.info("fetching %s (%s) from %s", entry.name, entry.title, url)
    fetched = fetch(url, original, expected, connect_timeout=connect_timeout, offline=offline)
    _check_torch_file(original, url)
    summary = _convert(original, entry, checkpoint)
    summary.update(
        name=entry.name,
        url=url,
        upstream_sha256=fetched.sha256 or sha256_file(original),
        checkpoint_sha256=sha256_file(checkpoint),
        fetched_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        alto_version=__version__,
    )
    with atomic_write(record_path) as handle:
        json.dump(summary, handle, indent=2)
        handle.write("\n")
    original.unlink()
    logger.info("cached %s at %s (%s parameters)", entry.name, checkpoint, summary["parameters"])
    return checkpoint


def _check_torch_file(path: Path, url: str) -> None:
    """Refuse (and remove) a download that is not a PyTorch file, saying what it is."""
    with open(path, "rb") as handle:
        head = handle.read(_SHOWN_BYTES)
    if head.startswith(_TORCH_MAGIC):
        return
    size = format_bytes(path.stat().st_size)
    path.unlink()
    raise DataError(
        f"{url} gave a {size} file starting with {head!r}, which is not a PyTorch checkpoint (a zip or "
        f"pickle file); download it in a browser, save it as {path} and run the command again"
    )


def _convert(original: Path, entry: PublishedModel, checkpoint: Path) -> dict[str, Any]:
    """Write ``original`` (upstream or alto format) as alto's checkpoint; return a summary."""
    loaded = load_checkpoint(original, cfg=entry.load_config())
    save_checkpoint(checkpoint, loaded["model"], config=loaded["config"], it=loaded.get("it", 0),
                    epoch_it=loaded.get("epoch_it", 0), loss_val_best=loaded.get("loss_val_best"))
    best = loaded.get("loss_val_best")
    return {
        "source_format": loaded["source_format"],
        "iterations": loaded.get("it"),
        "epochs": loaded.get("epoch_it"),
        "loss_val_best": None if best is None else float(best),
        "parameters": sum(p.numel() for p in loaded["model"].parameters()),
        "dropped_keys": sorted(loaded["dropped_keys"]),
    }


def copy_checkpoint(source: Path, target: str | os.PathLike[str]) -> Path:
    """Copy a checkpoint to ``target`` atomically (the workflow's ``model_best.pt``)."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return Path(target)


def resolve_checkpoint(
    spec: str | os.PathLike[str],
    results_dir: str | os.PathLike[str] = RESULTS_MODELS,
    *,
    offline: bool = False,
) -> Path:
    """The checkpoint file a model argument names.

    Tried in order: an existing file; a published model of the catalog (fetched and
    cached on first use); a trained experiment, ``<results_dir>/<name>/model_best.pt``.
    """
    path = Path(spec)
    if path.is_file():
        return path
    if str(spec) in CATALOG:
        return fetch_model(str(spec), offline=offline)
    experiment = Path(results_dir) / str(spec) / BEST_CHECKPOINT
    if experiment.is_file():
        return experiment
    known = sorted(p.parent.name for p in Path(results_dir).glob(f"*/{BEST_CHECKPOINT}"))
    trained = f"; trained experiments: {', '.join(known)}" if known else ""
    raise InputError(
        f"model {str(spec)!r}: no such checkpoint file, no published model of that name "
        f"({', '.join(CATALOG)}; see 'alto models list'), and no experiment {experiment}{trained}"
    )
