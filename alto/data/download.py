"""Fetch the published datasets and weights, verify them and unpack them safely.

Three layers, each usable on its own:

* :func:`download` streams a URL (``http(s)``, ``ftp`` or ``file://``) into a
  temporary file beside the destination, checks its SHA-256 when one is given and
  renames it into place; a destination that is already there (with the right
  checksum, when one is given) is used as is.
* :func:`extract` unpacks a zip or tar archive after checking *every* entry: no
  absolute paths, no ``..``, no links that leave the target folder, no device
  files. It unpacks into a temporary sibling folder that is renamed into place
  only when complete, so an interrupted extraction never looks like a dataset.
* :func:`install_dataset` and :func:`locate_dataset` combine them for the
  archives of :data:`DATASETS` and leave a completion stamp; ``locate_dataset``
  fails within seconds with instructions for a manual download when the machine
  is offline (cluster login and compute nodes often are).

:func:`add_download_arguments` / :func:`run_download` form the
``alto data download`` command.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import http.client
import json
import logging
import os
import posixpath
import shutil
import socket
import stat
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from alto import __version__
from alto.errors import DataError, InputError
from alto.io import atomic_path, atomic_write

__all__ = [
    "CONVONET_CHECKPOINTS",
    "DATASETS",
    "INSTALL_STAMP",
    "SHAPENET_CATEGORIES",
    "DatasetSource",
    "DownloadError",
    "add_download_arguments",
    "download",
    "extract",
    "install_dataset",
    "is_installed",
    "locate_dataset",
    "read_install_stamp",
    "run_download",
    "sha256_file",
    "write_metadata",
]

logger = logging.getLogger(__name__)

#: Bytes read and hashed per step while streaming a download or hashing a file.
CHUNK_BYTES = 1 << 20

#: Seconds allowed to open a connection (DNS and TCP) before a download gives up.
#: Short on purpose: an offline cluster node must fail within seconds, not minutes.
DEFAULT_CONNECT_TIMEOUT_S = 10.0

#: Seconds a single read of an open connection may stall before the download fails.
DEFAULT_READ_TIMEOUT_S = 120.0

#: Seconds between two progress messages of a running download.
PROGRESS_INTERVAL_S = 10.0

#: Name of the completion stamp written inside an installed dataset folder (JSON).
INSTALL_STAMP = ".alto-install.json"

#: Folder the upstream download scripts unpack into (``mkdir data; cd data; unzip``).
DEFAULT_DATA_ROOT = Path("data")

#: Folder ``alto data download convonet/...`` saves published checkpoints into.
DEFAULT_CHECKPOINT_ROOT = Path("checkpoints")

#: Name tags of the temporary siblings used while extracting or replacing a folder.
_PARTIAL_TAG = ".partial-"
_OLD_TAG = ".old-"

#: Public bucket of the Autonomous Vision group that hosts the Occupancy Networks and
#: ConvONet data and weights (URLs of the upstream download scripts and configs).
AVG_BUCKET_URL = "https://s3.eu-central-1.amazonaws.com/avg-projects"

#: The 13 ShapeNet synsets of the Occupancy Networks subset and their category names.
SHAPENET_CATEGORIES: dict[str, str] = {
    "02691156": "airplane",
    "02828884": "bench",
    "02933112": "cabinet",
    "02958343": "car",
    "03001627": "chair",
    "03211117": "display",
    "03636649": "lamp",
    "03691459": "loudspeaker",
    "04090263": "rifle",
    "04256520": "sofa",
    "04379243": "table",
    "04401088": "telephone",
    "04530566": "watercraft",
}

#: Room classes of the Synthetic Indoor Scene dataset (objects per room).
SYNTHETIC_ROOM_CLASSES = ("rooms_04", "rooms_05", "rooms_06", "rooms_07", "rooms_08")

#: URL schemes that go over the network (and get a connection probe first).
_NETWORK_SCHEMES = {"http": 80, "https": 443, "ftp": 21}
_SUPPORTED_SCHEMES = (*_NETWORK_SCHEMES, "file")


@dataclass(frozen=True)
class DatasetSource:
    """A published dataset archive and what a complete copy of it contains.

    ``archive_folder`` is the top-level folder the archive unpacks to; its content
    becomes the destination folder. ``required`` lists paths (relative to that
    folder) whose presence marks a complete copy, e.g. one unpacked by hand.
    ``categories`` (id -> name) is written as ``metadata.yaml`` when the archive has
    none. Upstream publishes no checksums, so ``sha256`` is ``None`` unless pinned.
    """

    name: str
    title: str
    url: str
    archive_name: str
    archive_folder: str
    size: str
    required: tuple[str, ...]
    sha256: str | None = None
    categories: Mapping[str, str] | None = None

    def default_dest(self, root: str | os.PathLike[str] = DEFAULT_DATA_ROOT) -> Path:
        """Folder the upstream scripts would have produced under ``root``."""
        return Path(root) / self.archive_folder


#: The archives the upstream download scripts fetch (sizes as stated in their READMEs).
DATASETS: dict[str, DatasetSource] = {
    "shapenet": DatasetSource(
        name="shapenet",
        title="ShapeNet (Occupancy Networks preprocessing)",
        url=f"{AVG_BUCKET_URL}/occupancy_networks/data/dataset_small_v1.1.zip",
        archive_name="dataset_small_v1.1.zip",
        archive_folder="ShapeNet",
        size="73.4 GB",
        required=tuple(f"{synset}/test.lst" for synset in SHAPENET_CATEGORIES),
        categories=SHAPENET_CATEGORIES,
    ),
    "synthetic_rooms": DatasetSource(
        name="synthetic_rooms",
        title="Synthetic Indoor Scene dataset (ConvONet)",
        url=f"{AVG_BUCKET_URL}/convolutional_occupancy_networks/data/synthetic_room_dataset.zip",
        archive_name="synthetic_room_dataset.zip",
        archive_folder="synthetic_room_dataset",
        size="144 GB",
        required=tuple(f"{room}/test.lst" for room in SYNTHETIC_ROOM_CLASSES),
    ),
    "demo": DatasetSource(
        name="demo",
        title="ConvONet demo data",
        url=f"{AVG_BUCKET_URL}/convolutional_occupancy_networks/data/demo_data.zip",
        archive_name="demo_data.zip",
        archive_folder="demo",
        size="size not stated upstream",
        required=("synthetic_room_dataset", "Matterport3D_processed"),
    ),
}

_CONVONET_MODELS = (
    "pointcloud/shapenet_1plane",
    "pointcloud/shapenet_3plane",
    "pointcloud/shapenet_grid32",
    "pointcloud/shapenet_3plane_partial",
    "pointcloud/shapenet_pointconv",
    "pointcloud/room_1plane",
    "pointcloud/room_3plane",
    "pointcloud/room_grid32",
    "pointcloud/room_grid64",
    "pointcloud/room_combine",
    "pointcloud/room_pointconv",
    "pointcloud_crop/room_grid64",
    "voxel/voxel_shapenet_1plane",
    "voxel/voxel_shapenet_3plane",
    "voxel/voxel_shapenet_grid32",
)

#: ConvONet's published checkpoints (``convonet/<config folder>/<name>`` -> URL).
CONVONET_CHECKPOINTS: dict[str, str] = {
    f"convonet/{model}": f"{AVG_BUCKET_URL}/convolutional_occupancy_networks/models/{model}.pt"
    for model in _CONVONET_MODELS
}


class DownloadError(DataError):
    """A download failed for a reason outside the file (network, server, offline node).

    ``url``, ``dest`` and ``reason`` are kept so that callers can rephrase the advice.
    """

    def __init__(self, url: str, dest: Path, reason: str):
        self.url, self.dest, self.reason = url, dest, reason
        super().__init__(
            f"could not download {url}: {reason}. If this machine has no internet access (a "
            f"cluster login or compute node, for example), fetch that file on another machine "
            f"and put it at {dest}; a file found there is used instead of downloading"
        )


# --------------------------------------------------------------------------- download


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    read_timeout: float = DEFAULT_READ_TIMEOUT_S,
    chunk_bytes: int = CHUNK_BYTES,
    offline: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` unless it is already there; return ``dest``.

    The data goes to a temporary file beside ``dest`` and is renamed into place
    only once complete and, when ``sha256`` is given, verified; so an existing
    ``dest`` is always a whole file and is reused (re-downloaded only when its
    checksum is wrong). Network failures, or a needed download when ``offline``,
    raise :class:`DownloadError` saying where to put the file by hand.
    """
    path, _ = _download(url, Path(dest), sha256, connect_timeout, read_timeout, chunk_bytes,
                        offline)
    return path


def _download(
    url: str,
    dest: Path,
    sha256: str | None,
    connect_timeout: float,
    read_timeout: float,
    chunk_bytes: int = CHUNK_BYTES,
    offline: bool = False,
) -> tuple[Path, str | None]:
    """:func:`download`, also returning the file's digest when it was computed."""
    expected = _normalise_digest(sha256)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SUPPORTED_SCHEMES:
        raise InputError(f"cannot download {url!r}: expected a URL starting with one of "
                         f"{', '.join(s + '://' for s in _SUPPORTED_SCHEMES)}")
    if dest.is_file():
        if expected is None:
            logger.info("%s is already there: not downloading it again", dest)
            return dest, None
        actual = sha256_file(dest, chunk_bytes)
        if actual == expected:
            logger.info("%s is already there with the expected sha256", dest)
            return dest, actual
        logger.warning("%s has sha256 %s instead of %s: downloading it again", dest, actual, expected)
    if offline:
        raise DownloadError(url, dest, "downloads are off")
    _remove_stale_siblings(dest, f".{dest.name}.")
    _check_reachable(url, dest, connect_timeout)
    logger.info("downloading %s to %s", url, dest)
    with atomic_path(dest) as tmp:
        actual = _stream(url, tmp, dest, read_timeout, chunk_bytes)
        if expected is not None and actual != expected:
            raise DataError(
                f"checksum mismatch for {dest} (from {url}): expected sha256 {expected}, "
                f"got {actual}; the download was discarded"
            )
    logger.info("saved %s (sha256 %s)", dest, actual)
    return dest, actual


def _normalise_digest(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InputError(f"sha256 {sha256!r} is not a SHA-256 digest (64 hexadecimal digits)")
    return digest


def _check_reachable(url: str, dest: Path, timeout: float) -> None:
    """Fail within ``timeout`` seconds when the URL's host (or proxy) cannot be reached.

    ``urlopen``'s timeout does not bound the DNS lookup, which on an offline node can
    hang far longer; the connection attempt therefore runs in a daemon thread.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _NETWORK_SCHEMES or not parts.hostname:
        return
    host, port = parts.hostname, parts.port or _NETWORK_SCHEMES[parts.scheme]
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host = proxy_parts.hostname or host
        port = proxy_parts.port or _NETWORK_SCHEMES["http"]
    failures: list[OSError] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as err:
            failures.append(err)

    worker = threading.Thread(target=attempt, name=f"probe-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise DownloadError(url, dest, f"no connection to {host}:{port} within {timeout:g} s")
    if failures:
        raise DownloadError(url, dest, f"cannot connect to {host}:{port} ({failures[0]})")


def _stream(url: str, tmp: Path, dest: Path, read_timeout: float, chunk_bytes: int) -> str:
    """Copy ``url`` into ``tmp``; return the SHA-256 of what was received."""
    try:
        response = urllib.request.urlopen(url, timeout=read_timeout)
    except urllib.error.HTTPError as err:
        raise DownloadError(url, dest, f"the server answered {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(url, dest, f"cannot open it ({reason})") from err
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        digest = hashlib.sha256()
        progress = _Progress(dest.name, total)
        received = 0
        with open(tmp, "wb") as out:
            while True:
                try:
                    chunk = response.read(chunk_bytes)
                except (OSError, http.client.HTTPException) as err:
                    raise DownloadError(
                        url, dest, f"the transfer broke after {_format_bytes(received)} ({err})"
                    ) from err
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                progress.update(received)
    if total is not None and received != total:
        raise DownloadError(url, dest, f"received {received} of {total} bytes")
    progress.finish(received)
    return digest.hexdigest()


class _Progress:
    """Logs bytes received and transfer rate at most every ``interval`` seconds."""

    def __init__(self, label: str, total: int | None, interval: float = PROGRESS_INTERVAL_S):
        self.label, self.total, self.interval = label, total, interval
        self.start = self.last = time.monotonic()

    def _rate(self, received: int, now: float) -> str:
        return f"{_format_bytes(received / max(now - self.start, 1e-9))}/s"

    def update(self, received: int) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        if self.total:
            share = f" of {_format_bytes(self.total)} ({100.0 * received / self.total:.1f}%)"
        else:
            share = ""
        logger.info("%s: %s%s at %s", self.label, _format_bytes(received), share,
                    self._rate(received, now))

    def finish(self, received: int) -> None:
        now = time.monotonic()
        logger.info("%s: %s in %.1f s (%s)", self.label, _format_bytes(received),
                    now - self.start, self._rate(received, now))


def _format_bytes(count: float) -> str:
    """Decimal units, as the dataset sizes are quoted upstream (73.4 GB)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000.0:
            return f"{count:.1f} {unit}"
        count /= 1000.0
    return f"{count:.1f} TB"


def _remove_stale_siblings(target: Path, *prefixes: str) -> None:
    """Remove leftovers of killed runs (temporary files or folders named ``prefix*``).

    A killed download or extraction cannot clean up after itself, and for these
    datasets a leftover can hold a hundred gigabytes.
    """
    if not target.parent.is_dir():
        return
    stale_paths = [path for prefix in prefixes for path in target.parent.glob(f"{prefix}*")]
    for stale in stale_paths:
        logger.warning("removing %s, left over by an interrupted run", stale)
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


# --------------------------------------------------------------------------- extract

_FILE, _DIR, _SYMLINK, _HARDLINK = "file", "directory", "symlink", "hard link"

_TAR_SPECIAL_KINDS = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}


@dataclass(frozen=True)
class _Entry:
    """One archive member, reduced to what the safety checks need."""

    name: str
    parts: tuple[str, ...]
    kind: str
    link: str
    size: int
    member: zipfile.ZipInfo | tarfile.TarInfo


@dataclass(frozen=True)
class _Planned:
    """An entry that will be written, at ``dest`` (relative to the target folder)."""

    entry: _Entry
    dest: tuple[str, ...]
    link: str


class _ArchiveReader(Protocol):
    def entries(self) -> list[_Entry]: ...

    def write(self, item: _Planned, root: Path, path: Path) -> None: ...


def _refusal(name: str, why: str) -> str:
    return f"entry {name!r} {why}"


def _name_parts(name: str, problems: list[str]) -> tuple[str, ...]:
    """Split an entry name into path components; record why it is unsafe, if it is."""
    if "\x00" in name:
        problems.append(_refusal(name, "contains a NUL byte"))
    if name.startswith("/"):
        problems.append(_refusal(name, "is an absolute path"))
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        problems.append(_refusal(name, "contains '..'"))
    return parts


class _ZipReader:
    def __init__(self, archive: Path, handle: zipfile.ZipFile):
        self.archive, self.handle = archive, handle

    def entries(self) -> list[_Entry]:
        out, problems = [], []
        for info in self.handle.infolist():
            parts = _name_parts(info.filename, problems)
            mode = info.external_attr >> 16
            link = ""
            if info.is_dir():
                kind = _DIR
            elif stat.S_ISLNK(mode):
                kind, link = _SYMLINK, self.handle.read(info).decode("utf-8", "replace")
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                problems.append(_refusal(info.filename, "is a special file"))
                continue
            else:
                kind = _FILE
            out.append(_Entry(info.filename, parts, kind, link, info.file_size, info))
        _raise_if(self.archive, problems)
        return out

    def write(self, item: _Planned, root: Path, path: Path) -> None:
        """Write ``item`` at ``path`` (inside ``root``)."""
        if item.entry.kind == _DIR:
            path.mkdir(parents=True, exist_ok=True)
        elif item.entry.kind == _SYMLINK:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(item.link, path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self.handle.open(item.entry.member) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)


class _TarReader:
    def __init__(self, archive: Path, handle: tarfile.TarFile):
        self.archive, self.handle = archive, handle

    def entries(self) -> list[_Entry]:
        out, problems = [], []
        for info in self.handle.getmembers():
            parts = _name_parts(info.name, problems)
            if info.isreg():
                kind = _FILE
            elif info.isdir():
                kind = _DIR
            elif info.issym():
                kind = _SYMLINK
            elif info.islnk():
                kind = _HARDLINK
            else:
                what = _TAR_SPECIAL_KINDS.get(info.type, f"of type {info.type!r}")
                problems.append(_refusal(info.name, f"is a {what}"))
                continue
            out.append(_Entry(info.name, parts, kind, info.linkname, info.size, info))
        _raise_if(self.archive, problems)
        return out

    def write(self, item: _Planned, root: Path, path: Path) -> None:
        """Extract ``item`` under ``root`` (at ``path``), renamed to its destination."""
        renamed = copy.copy(item.entry.member)
        renamed.name, renamed.linkname = "/".join(item.dest), item.link
        # Second line of defence after our own checks: tarfile's 'data' filter (3.11.4+).
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        self.handle.extract(renamed, root, **extra)


def _checked_path(root: Path, real_root: str, item: _Planned) -> Path:
    """Destination of ``item`` under ``root``, refusing one that resolves elsewhere."""
    path = root.joinpath(*item.dest)
    if os.path.commonpath([real_root, os.path.realpath(path.parent)]) != real_root:
        raise DataError(f"entry {item.entry.name!r} would be written outside {root}")
    return path


def _raise_if(archive: Path, problems: Sequence[str], limit: int = 10) -> None:
    if problems:
        shown = "; ".join(problems[:limit])
        more = f"; and {len(problems) - limit} more" if len(problems) > limit else ""
        raise DataError(f"refusing to extract {archive}: {shown}{more}")


@contextlib.contextmanager
def _open_archive(archive: Path) -> Iterator[_ArchiveReader]:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                yield _ZipReader(archive, handle)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as handle:
                yield _TarReader(archive, handle)
        else:
            raise DataError(f"{archive} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.ReadError, EOFError, zlib.error) as err:
        raise DataError(f"{archive} is not a readable archive ({err})") from err


def _selected(parts: tuple[str, ...], strip: int, prefix: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where entry ``parts`` lands after stripping and selecting; ``None`` if left out."""
    if len(parts) <= strip:
        return None
    rest = parts[strip:]
    if rest[: len(prefix)] != prefix:
        return None
    return rest[len(prefix):]


def _link_escapes(where: tuple[str, ...], target: str) -> bool:
    """Whether a symlink at ``where`` pointing to ``target`` leaves the folder."""
    if not target or target.startswith("/") or "\x00" in target:
        return True
    resolved = posixpath.normpath(posixpath.join(*where[:-1], target) if len(where) > 1 else target)
    return resolved == ".." or resolved.startswith("../")


def _plan(
    archive: Path, entries: Sequence[_Entry], strip: int, prefix: tuple[str, ...]
) -> list[_Planned]:
    """Check every entry and map the selected ones to their destination.

    Refuses links leaving the target folder, entries reached through a symlink of
    the archive or symlinks replacing one of its folders (either would let a later
    entry land somewhere else than its name says), and hard links to anything but
    an earlier regular file of the selection.
    """
    problems: list[str] = []
    folders: set[str] = set()
    symlinks: set[tuple[str, ...]] = set()
    files: dict[tuple[str, ...], tuple[str, ...] | None] = {}
    plan: list[_Planned] = []
    for entry in entries:
        if any(entry.parts[:i] in symlinks for i in range(1, len(entry.parts) + 1)):
            problems.append(_refusal(entry.name, "goes through a symlink of the archive"))
            continue
        folders.update("/".join(entry.parts[:i]) for i in range(1, len(entry.parts)))
        if entry.kind == _DIR:
            folders.add("/".join(entry.parts))
        dest = _selected(entry.parts, strip, prefix)
        link = entry.link
        if entry.kind == _SYMLINK:
            symlinks.add(entry.parts)
            if "/".join(entry.parts) in folders:
                problems.append(_refusal(entry.name, "is a symlink replacing a folder"))
                continue
            if _link_escapes(dest if dest else entry.parts, entry.link):
                problems.append(
                    _refusal(entry.name, f"is a symlink to {entry.link!r}, outside the target")
                )
                continue
        elif entry.kind == _HARDLINK:
            target = _name_parts(entry.link, problems)
            if target not in files or (dest is not None and files[target] is None):
                problems.append(_refusal(
                    entry.name, f"is a hard link to {entry.link!r}, not a file extracted before it"
                ))
                continue
            link = "/".join(files[target] or ())
        if entry.kind in (_FILE, _HARDLINK):
            files[entry.parts] = dest or None
        if dest:
            plan.append(_Planned(entry, dest, link))
    _raise_if(archive, problems)
    return plan


def _check_free_space(archive: Path, folder: Path, plan: Sequence[_Planned]) -> None:
    needed = sum(item.entry.size for item in plan if item.entry.kind == _FILE)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DataError(
            f"{archive} unpacks to {_format_bytes(needed)} but {folder} has only "
            f"{_format_bytes(free)} free"
        )


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished folder ``tmp`` onto ``target``, replacing an old one if any."""
    if not target.exists():
        os.rename(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD_TAG}", dir=target.parent))
    old.rmdir()
    os.rename(target, old)
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def extract(
    archive: str | os.PathLike[str],
    target_dir: str | os.PathLike[str],
    *,
    strip_components: int = 0,
    subdir: str | None = None,
    replace: bool = False,
    finalize: Callable[[Path], None] | None = None,
) -> Path:
    """Unpack a zip or tar(.gz/.bz2/.xz) ``archive`` into ``target_dir``; return it.

    ``strip_components`` drops that many leading path components of every entry;
    ``subdir`` then keeps only the entries under that folder (relative to the
    stripped names), whose content becomes ``target_dir``. All entries are checked
    before anything is written. The data goes to a temporary sibling folder; the
    optional ``finalize(folder)`` runs on it once complete (to add files that must
    be there when the folder appears), and only then is it renamed to
    ``target_dir``. An existing ``target_dir`` is an error unless ``replace``.
    """
    archive, target = Path(archive), Path(target_dir)
    if strip_components < 0:
        raise InputError(f"strip_components must be >= 0, got {strip_components}")
    if not archive.is_file():
        raise DataError(f"archive {archive} does not exist")
    if target.exists() and not replace:
        raise DataError(f"{target} already exists: remove it first to unpack {archive} there")
    bad: list[str] = []
    prefix = _name_parts(subdir, bad) if subdir else ()
    if bad or (subdir and not prefix):
        raise InputError(f"subdir {subdir!r} must be a relative folder inside the archive")
    with _open_archive(archive) as reader:
        plan = _plan(archive, reader.entries(), strip_components, prefix)
        if not plan:
            where = f"under {subdir!r} " if subdir else ""
            raise DataError(f"{archive} has nothing {where}to extract "
                            f"(strip_components={strip_components})")
        target.parent.mkdir(parents=True, exist_ok=True)
        _check_free_space(archive, target.parent, plan)
        _remove_stale_siblings(target, f".{target.name}{_PARTIAL_TAG}", f".{target.name}{_OLD_TAG}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_PARTIAL_TAG}", dir=target.parent))
        logger.info("extracting %d entries of %s to %s", len(plan), archive, target)
        try:
            real_tmp = os.path.realpath(tmp)
            for item in plan:
                try:
                    reader.write(item, tmp, _checked_path(tmp, real_tmp, item))
                except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as err:
                    raise DataError(
                        f"{archive}: entry {item.entry.name!r} is corrupt or unreadable ({err}); "
                        f"nothing was installed at {target}"
                    ) from err
            if finalize is not None:
                finalize(tmp)
            _move_into_place(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


# --------------------------------------------------------------------------- install


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
    _, digest = _download(source.url, archive_path, source.sha256, connect_timeout,
                          DEFAULT_READ_TIMEOUT_S, offline=offline)
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


# --------------------------------------------------------------------------- CLI


def add_download_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``alto data download`` to ``parser``; return it."""
    names = ", ".join([*DATASETS, "convonet/<folder>/<model>"])
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help=f"what to fetch: {names} (see --list); omit it to fetch --url into --dest")
    parser.add_argument("--list", action="store_true", help="list what can be fetched and exit")
    parser.add_argument("--dest", type=Path,
                        help="dataset folder (default data/<archive folder>) or checkpoint file")
    parser.add_argument("--archive", type=Path,
                        help="where the archive is (or goes); default: beside the dataset folder")
    parser.add_argument("--url", help="fetch from this URL instead (a mirror, or file://...)")
    parser.add_argument("--sha256", help="expected SHA-256 of the archive or file")
    parser.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT_S,
                        metavar="SECONDS", help="give up connecting after this long")
    parser.add_argument("--offline", action="store_true",
                        help="never use the network: only check or unpack what is on disk")
    parser.add_argument("--remove-archive", action="store_true",
                        help="delete the archive after a successful install")
    parser.add_argument("--force", action="store_true",
                        help="re-install even if the dataset folder looks complete")
    return parser


def _listing() -> str:
    rows = [f"{name:<40} {src.size:<26} {src.url}" for name, src in DATASETS.items()]
    rows += [f"{name:<40} {'checkpoint':<26} {url}" for name, url in CONVONET_CHECKPOINTS.items()]
    return "\n".join(rows)


def run_download(args: argparse.Namespace) -> int:
    """Run ``alto data download`` with parsed ``args``; print the installed path."""
    if args.list:
        print(_listing())
        return 0
    if args.name is None:
        if args.url and args.dest:
            print(download(args.url, args.dest, args.sha256, connect_timeout=args.connect_timeout,
                           offline=args.offline))
            return 0
        raise InputError("give the NAME of what to fetch, e.g. 'shapenet' (see --list), or --url and --dest")
    if args.name in CONVONET_CHECKPOINTS:
        dest = args.dest or DEFAULT_CHECKPOINT_ROOT / f"{args.name}.pt"
        path = download(args.url or CONVONET_CHECKPOINTS[args.name], dest, args.sha256,
                        connect_timeout=args.connect_timeout, offline=args.offline)
    elif args.name in DATASETS:
        source = DATASETS[args.name]
        if args.url or args.sha256:
            source = dataclasses.replace(source, url=args.url or source.url,
                                         sha256=args.sha256 or source.sha256)
        dest = args.dest or source.default_dest()
        if args.force:
            path = install_dataset(source, dest, archive=args.archive, force=True,
                                   connect_timeout=args.connect_timeout,
                                   remove_archive=args.remove_archive, offline=args.offline)
        else:
            path = locate_dataset(source, dest, archive=args.archive, download=not args.offline,
                                  connect_timeout=args.connect_timeout,
                                  remove_archive=args.remove_archive)
    else:
        raise InputError(
            f"unknown download {args.name!r}: expected one of {', '.join(DATASETS)} or a ConvONet "
            f"checkpoint such as {next(iter(CONVONET_CHECKPOINTS))} (see --list)"
        )
    print(path)
    return 0
