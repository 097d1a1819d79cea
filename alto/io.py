"""Crash-safe file writing.

Every file the package produces goes through :func:`atomic_write` or
:func:`atomic_path`: the content is written to a temporary file in the target's
folder and renamed over the target only once it is complete, so an interrupted
run never leaves a half-written npz, mesh, table or checkpoint behind, and an
existing good file survives a failed rewrite.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["atomic_path", "atomic_write", "save_npz_atomic"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Use it for writers that want a file name rather than a handle (``torch.save``,
    ``trimesh.Trimesh.export``). The temporary name keeps the target's suffix (or
    ``suffix``) because several writers pick the format from it. On an exception the
    temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing and rename it onto ``target`` when the block ends."""
    if "r" in mode or "a" in mode:
        raise ValueError(f"atomic_write needs a write mode ('w' or 'wb'), got {mode!r}")
    with atomic_path(target) as tmp, open(tmp, mode, **open_kwargs) as handle:
        yield handle


def save_npz_atomic(target: str | os.PathLike[str], **arrays: ArrayLike) -> None:
    """Write ``arrays`` to ``target`` (an uncompressed ``.npz`` file) atomically.

    ``np.savez`` appends ``.npz`` to names without it, so the data goes through an
    open handle to keep the temporary name under our control.
    """
    with atomic_write(target, "wb") as handle:
        np.savez(handle, allow_pickle=True, **arrays)  # numpy's default, named so no array can take its place
