"""One rule for turning a device name from a config or the command line into a ``torch.device``.

Training, generation and reconstruction all accept ``auto`` (CUDA when available, else
the CPU), ``cpu``, ``cuda`` and ``cuda:N``; asking for CUDA where there is none, or for
a GPU index the machine does not have, is a clear error before any work starts rather
than a failure deep inside torch.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from alto.errors import AltoError, InputError

if TYPE_CHECKING:
    import torch

__all__ = ["AUTO", "DEVICE_HELP", "DEVICE_NAMES", "resolve_device"]

#: the device name that picks CUDA when available and the CPU otherwise
AUTO = "auto"
#: the device names every entry point accepts (besides ``cuda:N``)
DEVICE_NAMES = (AUTO, "cpu", "cuda")
#: the help text of the ``--device`` options
DEVICE_HELP = "auto (CUDA when available, else the CPU), cpu, cuda or cuda:N"

_CUDA_INDEX = re.compile(r"cuda:(\d+)")


def resolve_device(
    spec: str | torch.device, source: str = "--device", error: type[AltoError] = InputError
) -> torch.device:
    """The ``torch.device`` that ``spec`` ("auto", "cpu", "cuda", "cuda:N" or a ``torch.device``) names.

    ``source`` names where the value came from (an option or a config key) in the
    message of ``error``, which is raised for an unknown name, for CUDA on a machine
    without it, and for a GPU index out of range. "cuda" without an index is returned
    without one, so that the current CUDA device is used.
    """
    import torch  # on use: command-line parsers read the names above without loading torch

    spec = str(spec)
    if spec == AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    indexed = _CUDA_INDEX.fullmatch(spec)
    if spec != "cuda" and indexed is None:
        raise error(f"{source}: unknown device {spec!r}; expected one of {list(DEVICE_NAMES)} or 'cuda:N'")
    if not torch.cuda.is_available():
        raise error(f"{source}: {spec!r} was asked for but CUDA is not available on this machine; use 'cpu'")
    if indexed is None:
        return torch.device("cuda")
    index, count = int(indexed.group(1)), torch.cuda.device_count()
    if index >= count:
        raise error(f"{source}: {spec!r} is out of range; this machine has {count} CUDA device(s) (cuda:0 ...)")
    return torch.device("cuda", index)
