"""Install a published dataset (download, verify, unpack, stamp) or find one already there.

:func:`install_dataset` and :func:`locate_dataset` combine :func:`~alto.data.download.fetch.fetch`
and :func:`~alto.data.download.extract.extract` for the archives of
:data:`~alto.data.download.sources.DATASETS` and leave a completion stamp;
``locate_dataset`` fails within seconds with instructions for a manual download
when the machine is offline (cluster login and compute nodes often are).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from alto import __version__
from alto.data.download.extract import extract
from alto.data.download.fetch import DEFAULT_CONNECT_TIMEOUT_S, DownloadError, fetch
from alto.data.download.sources import DatasetSource
from alto.errors import DataError
from alto.io import atomic_write

__all__ = [
    "INSTALL_STAMP",
    "install_dataset",
    "is_installed",
    "locate_dataset",
    "read_install_stamp",
    "write_metadata",
]

logger = logging.getLogger(__name__)

#: Name of the completion stamp written inside an installed dataset folder (JSON).
INSTALL_STAMP = ".alto-install.json"


def write_metadata(path: str | os.PathLike[str], categories: Mapping[str, str]) -> Path:
    """Write ``metadata.yaml`` in the Occupancy Networks format ``{id: {id, name}}``.

    The file is written in JSON syntax, as upstream's: JSON is YAML, and quoting
    keeps ids such as ``02691156`` strings for every YAML parser.
    """
    content = {key: {"id": key, "name": name} for key, name in categories.items()}
    with atomic_write(path) as handle:
        json.dump(content, handle, indent=4)
        handle.write("\n")
    return Path(path)


def read_install_stamp(dest: str | os.PathLike[str]) -> dict[str, object] | None:
    """The completion stamp of an installed dataset folder, or ``None`` if absent/unreadable."""
    stamp = Path(dest) / INSTALL_STAMP
    try:
        content = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def _missing(source: DatasetSource, dest: Path) -> list[str]:
    return [entry for entry in source.required if not (dest / entry).exists()]


def is_installed(source: DatasetSource, dest: str | os.PathLike[str]) -> bool:
    """Whether ``dest`` holds the dataset: installed by alto, or complete by hand."""
    dest = Path(dest)
    return read_install_stamp(dest) is not None or (dest.is_dir() and not _missing(source, dest))


def _finish_install(source: DatasetSource, folder: Path, sha256: str | None) -> None:
    """Check the unpacked folder, add ``metadata.yaml`` if needed, and stamp it complete."""
    missing = _missing(source, folder)
    if missing:
        raise DataError(
            f"the archive {source.archive_name} unpacked without {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}: it is not the expected {source.title} archive"
        )
    if source.categories is not None and not (folder / "metadata.yaml").exists():
        write_metadata(folder / "metadata.yaml", source.categories)
    stamp = {
        "dataset": source.name,
        "url": source.url,
        "archive": source.archive_name,
        "sha256": sha256,
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "alto_version": __version__,
    }
    with atomic_write(folder / INSTALL_STAMP) as handle:
        json.dump(stamp, handle, indent=2)


def install_dataset(
    source: DatasetSource,
    dest: str | os.PathLike[str] | None = None,
    *,
    archive: str | os.PathLike[str] | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    remove_archive: bool = False,
    force: bool = False,
    offline: bool = False,
) -> Path:
    """Download, verify and unpack ``source`` into ``dest``; return ``dest``.

    ``dest`` defaults to ``data/<archive folder>`` and the archive to
    ``<dest's parent>/<archive name>`` (an archive already there is used, so a
    file copied by hand installs offline). A dataset already installed (stamp
    present) or complete (all required entries present) is left alone unless
    ``force``; an incomplete folder without a stamp is an error rather than
    something to overwrite. With ``offline``, only an archive already on disk is used.
    """
    dest = Path(dest) if dest is not None else source.default_dest()
    archive_path = Path(archive) if archive is not None else dest.parent / source.archive_name
    if not force and dest.exists():
        if is_installed(source, dest):
            logger.info("%s is already installed at %s", source.title, dest)
            return dest
        missing = _missing(source, dest)
        raise DataError(
            f"{dest} exists but is not a complete {source.title} (missing {', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''}) and was not installed by alto: "
            f"remove it, or re-install over it with --force"
        )
    digest = fetch(source.url, archive_path, source.sha256, connect_timeout=connect_timeout, offline=offline).sha256
    extract(
        archive_path, dest, subdir=source.archive_folder, replace=force,
        finalize=lambda folder: _finish_install(source, folder, digest),
    )
    logger.info("installed %s at %s", source.title, dest)
    if remove_archive:
        archive_path.unlink()
        logger.info("removed %s", archive_path)
    return dest


def _explain(source: DatasetSource, dest: Path, archive_path: Path) -> str:
    command = f"alto data download {source.name} --dest {dest} --offline"
    if archive_path != dest.parent / source.archive_name:
        command += f" --archive {archive_path}"
    return (
        f"To install it by hand, download {source.url} ({source.size}) on a machine with "
        f"internet access, then either put the archive at {archive_path} and run '{command}', "
        f"or unzip it yourself and move its {source.archive_folder}/ folder to {dest} "
        f"(so that {dest / source.required[0]} exists)"
    )


def locate_dataset(
    source: DatasetSource,
    dest: str | os.PathLike[str],
    *,
    archive: str | os.PathLike[str] | None = None,
    download: bool = True,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    remove_archive: bool = False,
) -> Path:
    """Return the folder of an installed ``source`` at ``dest``, installing it if possible.

    Use it where a config names a data folder: a dataset found there (installed
    or unpacked by hand) is returned at once; an archive found at ``archive``
    (default: beside ``dest``) is unpacked without network; otherwise, when
    ``download`` is true, it is fetched. If none of that works, the
    :class:`~alto.errors.DataError` says which URL to fetch and where to put it,
    within about ``connect_timeout`` seconds on an offline machine.
    """
    dest = Path(dest)
    archive_path = Path(archive) if archive is not None else dest.parent / source.archive_name
    if is_installed(source, dest):
        return dest
    try:
        return install_dataset(source, dest, archive=archive_path, connect_timeout=connect_timeout,
                               remove_archive=remove_archive, offline=not download)
    except DownloadError as err:
        raise DataError(
            f"{source.title} not found at {dest}, and {err.url} could not be downloaded "
            f"({err.reason}). {_explain(source, dest, archive_path)}"
        ) from err
