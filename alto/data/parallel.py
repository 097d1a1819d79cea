"""Run independent build tasks serially or on a process pool, with results in task order.

Every task of the dataset builders seeds its own generator from its keys, so the
output does not depend on the number of workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

__all__ = ["run_tasks"]

T = TypeVar("T")
R = TypeVar("R")


def run_tasks(fn: Callable[[T], R], tasks: Sequence[T], workers: int = 1) -> list[R]:
    """``[fn(t) for t in tasks]``, on ``workers`` processes when ``workers`` > 1.

    ``fn`` must be a module-level function and the tasks picklable.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        return list(pool.map(fn, tasks))
