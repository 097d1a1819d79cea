"""Deterministic, resumable batch order for training.

The order of an epoch is a permutation drawn from ``(seed, epoch)`` alone, and each
sample draws its own randomness from ``(seed, epoch, index)`` (see
:mod:`alto.data`). Together this makes a run reproducible whatever the number of
loader workers, and lets a run restarted in the middle of an epoch skip exactly
the batches it has already seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

__all__ = ["EpochBatchSampler"]


class EpochBatchSampler(Sampler[list[int]]):
    """Global batches of one epoch, from batch ``start`` on, as this process's share.

    With ``world_size`` processes each global batch of ``batch_size`` indices is
    split round-robin, so process ``rank`` gets ``batch[rank::world_size]``. A last
    batch too small to give every process a sample is dropped when
    ``world_size > 1`` (all processes must take part in every step); a single
    process keeps it, like upstream's loader.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int,
        epoch: int,
        start: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if num_samples < 1:
            raise ValueError("cannot sample batches from an empty dataset")
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world_size} processes")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch
        self.start = start
        self.rank = rank
        self.world_size = world_size

    @staticmethod
    def batches_per_epoch(num_samples: int, batch_size: int, world_size: int = 1) -> int:
        """Number of optimisation steps in one epoch."""
        full, rest = divmod(num_samples, batch_size)
        return full + int(rest >= world_size and rest > 0)

    def _global_batches(self) -> list[np.ndarray]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.num_samples)
        count = self.batches_per_epoch(self.num_samples, self.batch_size, self.world_size)
        return [order[i * self.batch_size : (i + 1) * self.batch_size] for i in range(count)]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._global_batches()[self.start :]:
            yield batch[self.rank :: self.world_size].tolist()

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch(self.num_samples, self.batch_size, self.world_size) - self.start)
