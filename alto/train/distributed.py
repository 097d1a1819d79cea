"""Process groups for DistributedDataParallel training, launched through ``torchrun``.

One code path serves a single CPU process and N GPU processes: without the
``torchrun`` environment (``WORLD_SIZE`` unset or 1) nothing is initialised and
:class:`ProcessInfo` describes a world of one.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from alto.errors import AltoError

__all__ = [
    "ProcessInfo",
    "check_replicas_identical",
    "init_process_group",
    "parameter_digest",
    "shutdown_process_group",
    "torchrun_command",
]


@dataclass(frozen=True)
class ProcessInfo:
    """Rank of this process, its rank on the node, and the number of processes."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, logs and metrics."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls) -> ProcessInfo:
        """Read ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` as set by ``torchrun``."""
        return cls(
            rank=int(os.environ.get("RANK", 0)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
        )


def init_process_group(device: torch.device) -> ProcessInfo:
    """Join the process group started by ``torchrun`` (NCCL on CUDA, gloo on the CPU)."""
    info = ProcessInfo.from_env()
    if info.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info


def shutdown_process_group(synchronize: bool = False) -> None:
    """Leave the process group; with ``synchronize``, only once every rank got here.

    After a successful run the ranks leave together: a rank that tears down its gloo
    threads while another is still in a collective can abort at exit. After an error
    there is no barrier, since the other ranks may never reach it.
    """
    if dist.is_initialized():
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()


def parameter_digest(module: torch.nn.Module) -> str:
    """SHA-256 of all parameters and buffers, in state-dict order (bitwise identity check)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_replicas_identical(module: torch.nn.Module, info: ProcessInfo) -> str:
    """Return the parameter digest; with several processes, fail if any replica differs.

    DistributedDataParallel keeps replicas identical by construction; a mismatch
    means non-deterministic kernels or a bug, and silently averaging diverged
    replicas would corrupt the run.
    """
    local = parameter_digest(module)
    if not info.distributed:
        return local
    digests: list[str | None] = [None] * info.world_size
    dist.all_gather_object(digests, local)
    if len(set(digests)) != 1:
        listed = ", ".join(f"rank {r}: {d[:12]}" for r, d in enumerate(digests) if d)
        raise AltoError(f"model replicas diverged across processes ({listed})")
    return local


def torchrun_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """The command that runs ``alto <argv>`` in ``nproc`` processes on this node."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
        "-m", "alto.cli.main", *argv,
    ]
