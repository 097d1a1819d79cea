"""Model API, shapes, gradients and batching for every model kind, at tiny sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from model_helpers import KINDS
from model_helpers import batch as _batch

from alto.errors import InputError
from alto.models import build_model


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_encode_decode_forward_shapes(kind):
    model = build_model(KINDS[kind])
    points, inputs = _batch(0)
    features = model.encode(inputs)
    if "volume" in kind:
        assert set(features) == {"grid"} and features["grid"].shape == (2, 8, 8, 8, 8)
    else:
        assert set(features) == set(model.planes)
        assert all(f.shape == (2, 8, 8, 8) for f in features.values())
    logits = model.decode(points, features)
    assert logits.shape == (2, 20) and logits.dtype == torch.float32
    torch.testing.assert_close(model(points, inputs), logits)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_parameter_gets_a_gradient(kind):
    """No parameter is left without a gradient; after one Adam step (which moves the
    zero-initialised residual layers) every gradient is non-zero somewhere."""
    model = build_model(KINDS[kind])
    points, inputs = _batch(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    occupancy = (points.norm(dim=-1) < 0.3).float()
    for step in range(2):
        optimizer.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(model(points, inputs), occupancy)
        loss.backward()
        assert not [name for name, p in model.named_parameters() if p.grad is None]
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        if step == 0:
            optimizer.step()
    assert not [name for name, p in model.named_parameters() if not p.grad.any()]


@pytest.mark.parametrize("kind", ["alto_planes", "alto_volume", "convonet_planes"])
def test_samples_of_a_batch_are_independent(kind):
    model = build_model(KINDS[kind]).eval()
    points, inputs = _batch(2, batch=3)
    with torch.no_grad():
        together = model(points, inputs)
        alone = model(points[1:2], inputs[1:2])
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["alto_planes", "alto_volume"])
def test_chunked_decoding_equals_one_pass(kind):
    model = build_model(KINDS[kind]).eval()
    points, inputs = _batch(3, queries=50)
    with torch.no_grad():
        features = model.encode(inputs)
        model.decoder.chunk_points = model.decoder.chunk_rows = 100_000
        whole = model.decode(points, features)
        model.decoder.chunk_points, model.decoder.chunk_rows, model.decoder.block_points = 7, 7 * 27, 20
        chunked = model.decode(points, features)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-6)


def test_bad_inputs_are_named():
    model = build_model(KINDS["alto_planes"])
    points, inputs = _batch(5)
    with pytest.raises(InputError, match=r"inputs must have shape \(B, N, 3\), got \(64, 3\)"):
        model.encode(inputs[0])
    features = model.encode(inputs)
    with pytest.raises(InputError, match=r"features have keys \['xy', 'xz'\]"):
        model.decode(points, {k: v for k, v in features.items() if k != "yz"})
    with pytest.raises(InputError, match="features are for 2 samples but the points for 1"):
        model.decode(points[:1], features)
    with pytest.raises(InputError, match=r"query points must have shape \(B, T, 3\)"):
        model.decode(points[..., :2], features)
