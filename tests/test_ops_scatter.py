"""Scatter reductions: every available backend against a loop reference, and the switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import alto.ops.scatter as scatter_module
from alto.errors import InputError
from alto.ops import (
    get_scatter_backend,
    scatter_max,
    scatter_mean,
    set_scatter_backend,
    torch_scatter_available,
)

#: every backend importable here; torch_scatter joins when the package is installed
AVAILABLE = ["torch"] + (["torch_scatter"] if torch_scatter_available() else [])


@pytest.fixture(autouse=True)
def _restore_backend():
    saved = scatter_module._backend
    yield
    scatter_module._backend = saved


def _loop_reference(src: np.ndarray, index: np.ndarray, size: int, reduce: str) -> np.ndarray:
    """Plain-python scatter over the last-but-one axis; empty cells are 0."""
    lead = src.shape[:-2]
    out = np.zeros((*lead, size, src.shape[-1]), dtype=np.float64)
    for pos in np.ndindex(*lead):
        for cell in range(size):
            rows = src[pos][index[pos] == cell]
            if len(rows):
                out[(*pos, cell)] = rows.mean(0) if reduce == "mean" else rows.max(0)
    return out


def _random_case(seed: int, lead=(2,), points=40, channels=3, size=16):
    rng = np.random.default_rng(seed)
    src = rng.normal(size=(*lead, points, channels)).astype(np.float32)
    index = rng.integers(0, size, size=(*lead, points))
    return src, index, size


@pytest.mark.parametrize("backend", AVAILABLE)
@pytest.mark.parametrize(("reduce", "fn"), [("mean", scatter_mean), ("max", scatter_max)])
def test_backend_matches_loop_reference(backend, reduce, fn):
    set_scatter_backend(backend)
    src, index, size = _random_case(0, size=64)  # 64 cells for 40 points: some stay empty
    out = fn(torch.from_numpy(src), torch.from_numpy(index), size)
    expected = _loop_reference(src, index, size, reduce)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
    empty = np.ones(size, bool)
    empty[index[0]] = False
    assert empty.any()
    assert (out[0, torch.from_numpy(empty)] == 0).all()


@pytest.mark.parametrize("backend", AVAILABLE)
def test_leading_dimensions_broadcast(backend):
    """One set of point features scattered with two different index sets (two planes)."""
    set_scatter_backend(backend)
    rng = np.random.default_rng(1)
    src = rng.normal(size=(1, 30, 4)).astype(np.float32)
    index = rng.integers(0, 10, size=(2, 30))
    out = scatter_mean(torch.from_numpy(src), torch.from_numpy(index), 10)
    expected = _loop_reference(np.broadcast_to(src, (2, 30, 4)), index, 10, "mean")
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)


def _both_reductions(backend: str) -> tuple[np.ndarray, np.ndarray, int, list[torch.Tensor]]:
    src, index, size = _random_case(2, lead=(3,), points=200, channels=8, size=32)
    set_scatter_backend(backend)
    args = (torch.from_numpy(src), torch.from_numpy(index), size)
    return src, index, size, [scatter_mean(*args), scatter_max(*args)]


@pytest.mark.parametrize("backend", AVAILABLE)
def test_each_available_backend_matches_the_loop(backend):
    src, index, size, (mean, maximum) = _both_reductions(backend)
    np.testing.assert_allclose(mean.numpy(), _loop_reference(src, index, size, "mean"), atol=1e-6)
    np.testing.assert_allclose(maximum.numpy(), _loop_reference(src, index, size, "max"), atol=1e-6)


def test_backends_agree():
    """Native and torch-scatter results are equal (max exactly). Needs torch-scatter, an
    optional compiled package (`alto ops backends` says whether it is installed)."""
    if "torch_scatter" not in AVAILABLE:
        pytest.skip("torch-scatter is not installed: only the native backend was checked (against the loop)")
    _, _, _, native = _both_reductions("torch")
    _, _, _, compiled = _both_reductions("torch_scatter")
    torch.testing.assert_close(compiled[0], native[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(compiled[1], native[1], rtol=0, atol=0)


def test_mean_gradient_passes_gradcheck():
    set_scatter_backend("torch")
    src = torch.randn(2, 12, 3, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 5, (2, 12), generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(lambda s: scatter_mean(s, index, 5), (src,))


def test_max_gradient_goes_to_the_maximum_and_splits_ties():
    set_scatter_backend("torch")
    src = torch.tensor([[[1.0], [3.0], [3.0], [2.0], [5.0]]], requires_grad=True)
    index = torch.tensor([[0, 0, 0, 1, 1]])
    out = scatter_max(src, index, 3)
    assert out.flatten().tolist() == [3.0, 5.0, 0.0]
    out.backward(torch.tensor([[[10.0], [7.0], [1.0]]]))
    assert src.grad.flatten().tolist() == [0.0, 5.0, 5.0, 0.0, 7.0]


def test_max_gradient_equals_autograd_of_native_amax():
    set_scatter_backend("torch")
    src, index, size = _random_case(3, lead=(2,), points=50, channels=4, size=20)
    a = torch.from_numpy(src).requires_grad_()
    b = torch.from_numpy(src).requires_grad_()
    idx = torch.from_numpy(index)
    weights = torch.randn(2, size, 4, generator=torch.Generator().manual_seed(1))
    (scatter_max(a, idx, size) * weights).sum().backward()
    rows = idx.unsqueeze(-1).expand(a.shape)
    reference = b.new_zeros(2, size, 4).scatter_reduce(-2, rows, b, "amax", include_self=False)
    (reference * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_switch_validates_names_and_reads_the_environment(monkeypatch):
    with pytest.raises(InputError, match=r"'cuda_magic'.*expected one of torch, torch_scatter, auto"):
        set_scatter_backend("cuda_magic")
    assert set_scatter_backend("auto") == ("torch_scatter" if torch_scatter_available() else "torch")
    scatter_module._backend = None
    monkeypatch.setenv("ALTO_SCATTER_BACKEND", "torch")
    assert get_scatter_backend() == "torch"
    scatter_module._backend = None
    monkeypatch.setenv("ALTO_SCATTER_BACKEND", "nonsense")
    with pytest.raises(InputError, match="ALTO_SCATTER_BACKEND='nonsense'"):
        get_scatter_backend()


def test_selecting_torch_scatter_uses_it_or_says_it_is_missing():
    if torch_scatter_available():
        assert set_scatter_backend("torch_scatter") == "torch_scatter"
    else:
        with pytest.raises(InputError, match="torch_scatter package is not installed"):
            set_scatter_backend("torch_scatter")


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"src \(\.\.\., M, C\) and index \(\.\.\., M\)"):
        scatter_mean(torch.zeros(5, 3), torch.zeros(4, dtype=torch.long), 3)
