"""Small file helpers shared by the download and extraction modules."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Collection
from pathlib import Path

__all__ = ["CHUNK_BYTES", "format_bytes", "remove_stale_siblings", "sha256_file"]

logger = logging.getLogger(__name__)

#: Bytes read and hashed per step while streaming a download or hashing a file.
CHUNK_BYTES = 1 << 20

#: Decimal units, as the dataset sizes are quoted upstream (73.4 GB).
_BYTE_UNITS = ("B", "kB", "MB", "GB")
_UNIT_STEP = 1000.0


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def format_bytes(count: float) -> str:
    """``count`` bytes in decimal units with one decimal (``73.4 GB``)."""
    for unit in _BYTE_UNITS:
        if abs(count) < _UNIT_STEP:
            return f"{count:.1f} {unit}"
        count /= _UNIT_STEP
    return f"{count:.1f} TB"


def remove_stale_siblings(target: Path, *prefixes: str, keep: Collection[Path] = ()) -> None:
    """Remove leftovers of killed runs (temporary files or folders named ``prefix*``).

    A killed download or extraction cannot clean up after itself, and for these
    datasets a leftover can hold a hundred gigabytes. Paths in ``keep`` (a partial
    download that can be resumed) are left alone.
    """
    if not target.parent.is_dir():
        return
    kept = {Path(path) for path in keep}
    stale_paths = [path for prefix in prefixes for path in target.parent.glob(f"{prefix}*") if path not in kept]
    for stale in stale_paths:
        logger.warning("removing %s, left over by an interrupted run", stale)
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
