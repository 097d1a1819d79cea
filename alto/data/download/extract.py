"""Unpack zip and tar archives safely: every entry is checked before anything is written.

No absolute paths, no ``..``, no links that leave the target folder, no device
files. The archive is unpacked into a temporary sibling folder that is renamed
into place only when complete, so an interrupted extraction never looks like a
dataset (see docs/downloads.md, *Safe extraction*).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from alto.data.download.files import CHUNK_BYTES, format_bytes, remove_stale_siblings
from alto.errors import DataError, InputError

__all__ = ["extract"]

logger = logging.getLogger(__name__)

#: Name tags of the temporary siblings used while extracting or replacing a folder.
_PARTIAL_TAG = ".partial-"
_OLD_TAG = ".old-"

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
        out: list[_Entry] = []
        problems: list[str] = []
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
            member = item.entry.member
            assert isinstance(member, zipfile.ZipInfo), f"{member!r} is not a zip member"
            with self.handle.open(member) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)


class _TarReader:
    def __init__(self, archive: Path, handle: tarfile.TarFile):
        self.archive, self.handle = archive, handle

    def entries(self) -> list[_Entry]:
        out: list[_Entry] = []
        problems: list[str] = []
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
        member = item.entry.member
        assert isinstance(member, tarfile.TarInfo), f"{member!r} is not a tar member"
        renamed = copy.copy(member)
        renamed.name, renamed.linkname = "/".join(item.dest), item.link
        # Second line of defence after our own checks: tarfile's 'data' filter (3.11.4+).
        if hasattr(tarfile, "data_filter"):
            self.handle.extract(renamed, root, filter="data")
        else:
            self.handle.extract(renamed, root)


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
            f"{archive} unpacks to {format_bytes(needed)} but {folder} has only "
            f"{format_bytes(free)} free"
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
        remove_stale_siblings(target, f".{target.name}{_PARTIAL_TAG}", f".{target.name}{_OLD_TAG}")
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
