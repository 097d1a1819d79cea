"""build_model: upstream config names and kwargs, and the errors for what alto lacks."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch

from alto.config import load_config
from alto.errors import ConfigError
from alto.models import ALTO, CONVONET, AttentionDecoder, LocalDecoder, build_model, model_family
from alto.models.reference import load_reference

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(__file__).parent / "data" / "reference"

#: the repository's experiment configs and the reference case each must reproduce
EXPERIMENTS = {
    "alto_shapenet_3plane.yaml": "alto_shapenet_3plane",
    "alto_rooms_3plane.yaml": "alto_room_3plane",
    "alto_rooms_grid64.yaml": "alto_room_grid64",
    "convonet_shapenet_3plane.yaml": "convonet_shapenet_3plane",
    "convonet_rooms_3plane.yaml": "convonet_room_3plane",
    "convonet_rooms_grid64.yaml": "convonet_room_grid64",
}


def tiny_planes() -> dict:
    return {
        "model": {
            "encoder": "pointnet_local_pool",
            "decoder": "simple_local",
            "encoder_kwargs": {
                "hidden_dim": 8,
                "plane_type": ["xz", "xy", "yz"],
                "plane_resolution": 8,
                "unet": True,
                "unet_kwargs": {"depth": 2, "start_filts": 4, "merge_mode": "concat"},
            },
            "decoder_kwargs": {"hidden_size": 8, "sample_mode": "bilinear"},
            "c_dim": 4,
        },
        "data": {"padding": 0.1, "dim": 3},
    }


def _with(cfg: dict, section: str, **changes) -> dict:
    cfg = copy.deepcopy(cfg)
    target = cfg["model"]
    for key in section.split(".") if section else []:
        target = target[key]
    target.update(changes)
    return cfg


@pytest.mark.parametrize(("experiment", "reference"), sorted(EXPERIMENTS.items()))
def test_repository_experiment_configs_build_the_reference_architectures(experiment, reference):
    cfg = load_config(ROOT / "config" / "experiments" / experiment)
    case = load_reference(REFERENCE_DIR, reference)
    model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == case.used_params
    reference_model = build_model(case.config)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference_model.state_dict().items()
    }


def test_decoder_name_selects_alto_or_convonet():
    cfg = tiny_planes()
    convonet = build_model(cfg)
    assert isinstance(convonet.decoder, LocalDecoder) and not convonet.encoder.unet.alternating
    alto = build_model(
        _with(
            _with(cfg, "", decoder="simple_local_attention_sub"),
            "decoder_kwargs",
            plane_type=["xz", "xy", "yz"],
        )
    )
    assert isinstance(alto.decoder, AttentionDecoder) and alto.encoder.unet.alternating
    explicit = build_model(_with(cfg, "", alternating=True))
    assert isinstance(explicit.decoder, LocalDecoder) and explicit.encoder.unet.alternating


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "encoder",
            "pointnet_plus_plus",
            r"'pointnet_plus_plus'; alto implements \['pointnet_local_pool'\].*pointnet_crop_local_pool",
        ),
        ("encoder", "resnet18", r"model.encoder.*'resnet18'"),
        (
            "decoder",
            "simple_local_crop",
            r"'simple_local_crop'; alto implements \['simple_local', 'simple_local_attention_sub'\]"
            r".*simple_local_point",
        ),
    ],
)
def test_unsupported_names_list_the_supported_ones(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        build_model(_with(tiny_planes(), "", **{key: value}))


@pytest.mark.parametrize(
    ("section", "changes", "named"),
    [
        ("encoder_kwargs", {"padding": 0.1, "local_coord": True}, "padding"),
        ("encoder_kwargs", {"c_dim": 4}, "c_dim"),
        ("encoder_kwargs.unet_kwargs", {"in_channels": 4}, "in_channels"),
        ("decoder_kwargs", {"c_dim": 4, "gaussian_val": 0.1, "num_iterations": 2}, "c_dim"),
    ],
)
def test_unsupported_kwargs_are_named(section, changes, named):
    """Only the unsupported key is named, not the upstream ones that have no effect."""
    with pytest.raises(ConfigError, match=rf"model\.{section}.*: \['{named}'\];"):
        build_model(_with(tiny_planes(), section, **changes))


def test_unsupported_unet3d_kwargs_are_named():
    cfg = _with(tiny_planes(), "encoder_kwargs", plane_type="grid", grid_resolution=8, unet=False, unet3d=True)
    cfg["model"]["encoder_kwargs"]["unet3d_kwargs"] = {
        "num_levels": 2,
        "f_maps": 8,
        "in_channels": 4,
        "out_channels": 4,
        "final_sigmoid": True,
    }
    with pytest.raises(ConfigError, match=r"unet3d_kwargs.*\['final_sigmoid'\]"):
        build_model(cfg)


def test_attention_decoder_accepts_upstream_no_op_kwargs(caplog):
    cfg = _with(
        _with(tiny_planes(), "", decoder="simple_local_attention_sub"),
        "decoder_kwargs",
        plane_type=["xz", "xy", "yz"],
        K_neighbors=10,
    )
    with caplog.at_level(logging.INFO, logger="alto.models.build"):
        build_model(cfg)
    assert "K_neighbors=10 has no effect" in caplog.text


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        ("encoder_kwargs", {"plane_resolution": 7}, r"plane_resolution'=7 must be divisible by 2"),
        ("encoder_kwargs", {"plane_type": ["xz", "grid"]}, r"plane_type.*mixes the volume"),
        ("encoder_kwargs", {"scatter_type": "sum"}, r"scatter_type': expected one of \['max', 'mean'\], got 'sum'"),
        ("encoder_kwargs.unet_kwargs", {"up_mode": "upsample"}, r"up_mode' must be one of \['transpose'\]"),
        ("decoder_kwargs", {"sample_mode": "gaussian"}, r"sample_mode' must be one of"),
        ("", {"c_dim": 0}, r"model.c_dim': 0 is less than the minimum of 1"),
    ],
)
def test_invalid_values_name_the_key(section, changes, message):
    with pytest.raises(ConfigError, match=message):
        build_model(_with(tiny_planes(), section, **changes))


def test_attention_decoder_plane_checks():
    cfg = _with(tiny_planes(), "", decoder="simple_local_attention_sub")
    with pytest.raises(ConfigError, match="plane_type' is required"):
        build_model(cfg)
    with pytest.raises(ConfigError, match="differs from the encoder's plane_type"):
        build_model(_with(cfg, "decoder_kwargs", plane_type=["xz"]))
    with pytest.raises(ConfigError, match="num_heads' applies only to plane_type 'grid'"):
        build_model(_with(cfg, "decoder_kwargs", plane_type=["xz", "xy", "yz"], num_heads=2))


def test_volume_checks():
    cfg = _with(
        tiny_planes(),
        "encoder_kwargs",
        plane_type="grid",
        grid_resolution=8,
        unet=False,
        unet3d=True,
        unet3d_kwargs={"num_levels": 2, "f_maps": 8, "in_channels": 8, "out_channels": 4},
    )
    with pytest.raises(ConfigError, match=r"unet3d_kwargs.in_channels' must equal model.c_dim=4"):
        build_model(cfg)
    with pytest.raises(ConfigError, match="'unet' applies to feature planes"):
        build_model(_with(cfg, "encoder_kwargs", unet=True))
    alto = _with(cfg, "", decoder="simple_local_attention_sub")
    alto["model"]["encoder_kwargs"]["unet3d_kwargs"]["in_channels"] = 4
    alto["model"]["decoder_kwargs"]["plane_type"] = "grid"
    with pytest.raises(ConfigError, match="num_heads' must be a positive integer"):
        build_model(alto)
    alto["model"]["decoder_kwargs"]["num_heads"] = 2
    model = build_model(alto)
    assert model.encoder.unet.alternating and model.decoder.num_heads == 2
    with pytest.raises(ConfigError, match="is_unet' belongs to ALTO"):
        plain = _with(alto, "", decoder="simple_local", alternating=False)
        plain["model"]["decoder_kwargs"] = {"hidden_size": 8}
        plain["model"]["encoder_kwargs"]["unet3d_kwargs"]["is_unet"] = True
        build_model(plain)


def test_alternating_needs_a_unet():
    cfg = _with(_with(tiny_planes(), "", alternating=True), "encoder_kwargs", unet=False)
    with pytest.raises(ConfigError, match="alternating encoder needs a U-Net"):
        build_model(cfg)


def test_initialisation_is_seeded_and_leaves_the_global_rng_alone():
    cfg = tiny_planes()
    before = torch.random.get_rng_state()
    a = build_model(cfg)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = build_model(cfg)
    c = build_model({**cfg, "seed": 1})
    d = build_model(cfg, generator=torch.Generator().manual_seed(1))
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name])
        assert torch.equal(c.state_dict()[name], d.state_dict()[name])
    differs = [n for n, v in a.state_dict().items() if not torch.equal(v, c.state_dict()[n])]
    assert differs


def test_initialisation_follows_upstream_schemes():
    model = build_model(tiny_planes())
    for block in [*model.encoder.blocks, *model.decoder.blocks]:
        assert torch.count_nonzero(block.fc_1.weight) == 0
        assert torch.count_nonzero(block.fc_0.weight) > 0
    conv = model.encoder.unet.down[0].block[0].conv
    assert torch.count_nonzero(conv.bias) == 0  # 2D U-Net: Xavier weights, zero bias
    fan_in, fan_out = conv.in_channels * 9, conv.out_channels * 9
    assert conv.weight.std().item() == pytest.approx((2 / (fan_in + fan_out)) ** 0.5, rel=0.25)


def test_model_family_is_the_one_rule_for_alto():
    cfg = tiny_planes()
    assert model_family(cfg) == CONVONET
    assert model_family(_with(cfg, "", decoder="simple_local_attention_sub")) == ALTO
    assert model_family(_with(cfg, "", alternating=True)) == ALTO
    assert model_family(_with(cfg, "encoder_kwargs", unet3d_kwargs={"is_unet": True})) == ALTO
    assert model_family(_with(cfg, "", decoder="simple_local_attention_sub", alternating=False)) == CONVONET
    with pytest.raises(ConfigError, match=r"model\.alternating.*'yes'"):
        model_family(_with(cfg, "", alternating="yes"))
