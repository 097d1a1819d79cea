"""Model API, shapes, gradients and batching for every model kind, at tiny sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from alto.errors import InputError
from alto.models import build_model

PLANES = ["xz", "xy", "yz"]


def _cfg(encoder_kwargs: dict, decoder: str, decoder_kwargs: dict, **model: object) -> dict:
    return {
        "model": {
            "encoder": "pointnet_local_pool",
            "decoder": decoder,
            "encoder_kwargs": {"hidden_dim": 8, **encoder_kwargs},
            "decoder_kwargs": {"hidden_size": 8, **decoder_kwargs},
            "c_dim": 8,
            **model,
        },
        "data": {"padding": 0.1, "dim": 3},
    }


_PLANE_ENCODER = {"plane_type": PLANES, "plane_resolution": 8, "unet": True}
_GRID_ENCODER = {"plane_type": "grid", "grid_resolution": 8, "unet3d": True}
_UNET3D = {"f_maps": 8, "in_channels": 8, "out_channels": 8}

#: one tiny config per model kind: ConvONet and ALTO, planes and volume, and no U-Net
KINDS = {
    "convonet_planes": _cfg({**_PLANE_ENCODER, "unet_kwargs": {"depth": 3, "start_filts": 4}}, "simple_local", {}),
    "convonet_volume": _cfg({**_GRID_ENCODER, "unet3d_kwargs": {**_UNET3D, "num_levels": 2}}, "simple_local", {}),
    "alto_planes": _cfg(
        {**_PLANE_ENCODER, "unet_kwargs": {"depth": 3, "start_filts": 4}},
        "simple_local_attention_sub",
        {"plane_type": PLANES},
    ),
    "alto_volume": _cfg(
        {**_GRID_ENCODER, "unet3d_kwargs": {**_UNET3D, "num_levels": 3, "is_unet": True}},
        "simple_local_attention_sub",
        {"plane_type": "grid", "num_heads": 2},
    ),
    "alto_planes_add_merge": _cfg(
        {**_PLANE_ENCODER, "unet_kwargs": {"depth": 3, "start_filts": 4, "merge_mode": "add"}},
        "simple_local",
        {},
        alternating=True,
    ),
    "pointnet_only": _cfg(
        {"plane_type": ["xz"], "plane_resolution": 8, "scatter_type": "mean"}, "simple_local", {"leaky": True}
    ),
}


def _batch(seed: int, batch: int = 2, inputs: int = 64, queries: int = 20):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.rand(batch, queries, 3, generator=gen) * 1.1 - 0.55,
        torch.rand(batch, inputs, 3, generator=gen) - 0.5,
    )


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
        model.decoder.chunk_points = 1000
        whole = model.decode(points, features)
        model.decoder.chunk_points = 7
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
