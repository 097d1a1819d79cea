"""The attention decoder's blocked inference against its reference path, and the chunk runner."""

from __future__ import annotations

import threading

import pytest
import torch
from model_helpers import KINDS
from model_helpers import batch as _batch

from alto.models import build_model
from alto.ops.parallel import run_chunks, single_intra_op_thread


def _decode(model, points, features, path: str, **sizes: int) -> torch.Tensor:
    decoder = model.decoder
    saved = {name: getattr(decoder, name) for name in ("inference_path", *sizes)}
    decoder.inference_path = path
    for name, value in sizes.items():
        setattr(decoder, name, value)
    try:
        with torch.no_grad():
            return model.decode(points, features)
    finally:
        for name, value in saved.items():
            setattr(decoder, name, value)


@pytest.mark.parametrize("kind", ["alto_planes", "alto_volume"])
@pytest.mark.parametrize(
    ("queries", "block", "chunk_rows"),
    [
        (50, 16, 5 * 27 * 2),  # several blocks, chunks (5 points) that do not divide the block
        (300, 1000, 4608),  # one block; more lookups than cells: keys and values per cell
        (3, 1000, 4608),  # fewer lookups than cells: keys and values per neighbour
        (40, 1000, 1),  # one point per chunk
    ],
)
def test_blocked_inference_equals_the_reference_path(kind, queries, block, chunk_rows):
    model = build_model(KINDS[kind]).eval()
    points, inputs = _batch(4, batch=2, queries=queries)
    with torch.no_grad():
        features = model.encode(inputs)
    reference = _decode(model, points, features, "reference")
    blocked = _decode(model, points, features, "blocked", block_points=block, chunk_rows=chunk_rows)
    torch.testing.assert_close(blocked, reference, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("threads", [1, 3])
def test_blocked_inference_does_not_depend_on_the_thread_count(threads):
    model = build_model(KINDS["alto_planes"]).eval()
    points, inputs = _batch(5, queries=200)
    with torch.no_grad():
        features = model.encode(inputs)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = _decode(model, points, features, "blocked", chunk_rows=16 * 9)
        torch.set_num_threads(threads)
        pooled = _decode(model, points, features, "blocked", chunk_rows=16 * 9)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(pooled, alone)


def test_an_unknown_inference_path_is_refused():
    model = build_model(KINDS["alto_planes"]).eval()
    points, inputs = _batch(6)
    with torch.no_grad():
        features = model.encode(inputs)
    with pytest.raises(ValueError, match=r"inference_path must be one of .*'fused'"):
        _decode(model, points, features, "fused")


def test_run_chunks_runs_every_task_once_on_the_workers_with_one_intra_op_thread():
    seen: dict[int, tuple[str, int]] = {}
    lock = threading.Lock()

    def task(index: int) -> None:
        with lock:
            assert index not in seen
            seen[index] = (threading.current_thread().name, torch.get_num_threads())

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_chunks(task, list(range(40)), workers=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert sorted(seen) == list(range(40))
    assert {threads for _, threads in seen.values()} == {1}
    assert all(name.startswith("alto-chunks") for name, _ in seen.values())


def test_run_chunks_reraises_and_restores_the_thread_count():
    def task(index: int) -> None:
        if index == 3:
            raise RuntimeError("chunk 3 failed")

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="chunk 3 failed"):
            run_chunks(task, list(range(8)), workers=2)
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
            run_chunks(task, [0], workers=0)
    finally:
        torch.set_num_threads(previous)


def test_single_intra_op_thread_yields_the_previous_count():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_intra_op_thread() as before:
            assert (before, torch.get_num_threads()) == (2, 1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "grad"])
def test_run_chunks_gives_the_tasks_the_callers_autograd_mode(mode):
    seen = []

    def task(index: int) -> None:
        seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))

    context = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode, "grad": torch.enable_grad}[mode]
    with context():
        expected = (torch.is_grad_enabled(), torch.is_inference_mode_enabled())
        run_chunks(task, list(range(6)), workers=2)
    assert set(seen) == {expected}

