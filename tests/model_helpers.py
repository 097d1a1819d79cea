"""Tiny model configs of every kind and seeded batches for the model tests."""

from __future__ import annotations

import torch

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


def batch(seed: int, batch: int = 2, inputs: int = 64, queries: int = 20):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.rand(batch, queries, 3, generator=gen) * 1.1 - 0.55,
        torch.rand(batch, inputs, 3, generator=gen) - 0.5,
    )
