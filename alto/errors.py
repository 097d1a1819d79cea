"""Exceptions with messages meant for users.

Every error caused by bad input (a file, a config key, a value) derives from
:class:`AltoError` and says which file, key or value is at fault and what was
expected. The CLI prints such errors as one clean line and exits with code 2
instead of a traceback.
"""

from __future__ import annotations

__all__ = ["AltoError", "CheckpointError", "ConfigError", "DataError", "ExtractionError", "InputError"]


class AltoError(Exception):
    """Base class of the user-facing errors of the package."""


class ConfigError(AltoError, ValueError):
    """An experiment or workflow config is invalid (names the file and the key path)."""


class DataError(AltoError, ValueError):
    """A dataset file or folder is missing, corrupt or has the wrong content (names the file)."""


class CheckpointError(AltoError, ValueError):
    """A checkpoint cannot be read or does not match the model (lists the offending keys)."""


class InputError(AltoError, ValueError):
    """A user-supplied input (point cloud, mesh, option value) cannot be used."""


class ExtractionError(AltoError, RuntimeError):
    """A surface extraction was stopped: the field has surface far beyond what a real
    shape can have at the lattice's resolution (says what was found, the limit and what
    to check: the checkpoint, the input's frame and scale, the threshold)."""
