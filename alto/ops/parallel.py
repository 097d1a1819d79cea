"""Run many small CPU tensor tasks on a pool of threads with one intra-op thread each.

The attention decoder's inference is thousands of chunks of a few milliseconds
each. Splitting every operation of a chunk across OpenMP threads makes thousands of
tiny parallel regions whose threads meet at a barrier after each one (and spin
while they wait, which collapses when another process holds one of the cores).
Handing out whole chunks instead keeps each thread busy for milliseconds at a
time, and a thread that the operating system deschedules simply takes fewer
chunks. Torch operations release the GIL, so the threads run in parallel.

Each chunk is computed by one thread with one intra-op thread, whatever the number
of workers, so results do not depend on the thread count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

__all__ = ["run_chunks", "single_intra_op_thread"]

T = TypeVar("T")


@contextmanager
def single_intra_op_thread() -> Iterator[int]:
    """Set torch's intra-op threads to 1 inside the block; yields the count it had before."""
    previous = torch.get_num_threads()
    if previous == 1:
        yield previous
        return
    torch.set_num_threads(1)
    try:
        yield previous
    finally:
        torch.set_num_threads(previous)


@functools.cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """One long-lived pool per worker count (its threads keep their one intra-op thread)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alto-chunks")


def run_chunks(fn: Callable[[T], None], tasks: Sequence[T], workers: int | None = None) -> None:
    """Call ``fn(task)`` for every task, on ``workers`` threads (default: torch's intra-op
    thread count), each task with a single intra-op thread.

    ``fn`` writes its result somewhere (e.g. its slice of a preallocated tensor); the
    tasks must be independent. They run in the caller's autograd mode (``no_grad``,
    ``inference_mode``), which is per thread. The first exception raised by a task is
    re-raised.
    """
    with single_intra_op_thread() as threads:
        workers = threads if workers is None else workers
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                fn(task)
            return
        grad_enabled, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

        def run(task: T) -> None:
            # autograd modes are per thread: give each task the caller's
            with torch.inference_mode(inference), torch.set_grad_enabled(grad_enabled):
                fn(task)

        for _ in _pool(workers).map(run, tasks):
            pass
