"""Build a model from an experiment config written in the upstream (ALTO / ConvONet) format.

``build_model(cfg)`` reads ``cfg['model']`` (``encoder``, ``decoder``, ``encoder_kwargs``,
``decoder_kwargs``, ``c_dim``) and ``cfg['data']`` (``padding``, ``dim``) exactly as
upstream ``src/conv_onet/config.py`` does, so that the published config files select
the published architectures:

* ConvONet: encoder ``pointnet_local_pool`` with the plain ``unet`` / ``unet3d`` and
  decoder ``simple_local``;
* ALTO: the same encoder name, but ALTO's encoder always runs its alternating U-Net,
  and ALTO's configs are recognised by the decoder ``simple_local_attention_sub``
  (or by ``unet3d_kwargs.is_unet``, a keyword only ALTO's 3D U-Net has). An optional
  ``model.alternating: true|false`` states the choice explicitly, e.g. for ALTO's
  encoder with the ``simple_local`` decoder. :func:`model_family` is the one home of
  this rule; the mesh extractor's "auto" protocol follows it too.

Keyword arguments that alto does not implement are an error that names them; the
upstream keys that the schema marks "(upstream, unused)" (``K_neighbors``,
``local_coord``, ``pos_encoding`` ...; :func:`alto.config.no_effect_keys`) are
logged and have no effect.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

import torch

from alto.config import no_effect_keys
from alto.config.defaults import DEFAULT_PADDING, DEFAULT_SEED
from alto.errors import AltoError, ConfigError
from alto.models.decoder import AttentionDecoder, LocalDecoder
from alto.models.encoder import PointEncoder
from alto.models.layers import init_parameters
from alto.models.network import OccupancyNetwork
from alto.models.unet import UNET_2D, UNET_3D, UNet, validate_layer_order
from alto.ops import GRID, canonical_planes

__all__ = [
    "ALTO",
    "CONVONET",
    "DECODERS",
    "ENCODERS",
    "UNIMPLEMENTED_DECODERS",
    "UNIMPLEMENTED_ENCODERS",
    "build_model",
    "model_family",
]

logger = logging.getLogger(__name__)

#: encoder names alto implements
ENCODERS = ("pointnet_local_pool",)
#: decoder names alto implements
DECODERS = ("simple_local", "simple_local_attention_sub")
#: encoder names found in upstream configs that alto does not implement
UNIMPLEMENTED_ENCODERS = ("pointnet_plus_plus", "voxel_simple_local", "pointnet_crop_local_pool")
#: decoder names found in upstream code that alto does not implement
UNIMPLEMENTED_DECODERS = ("simple_local_point", "simple_local_crop")

#: model families: which paper's architecture (and generation protocol) a config selects
ALTO = "alto"
CONVONET = "convonet"

_ATTENTION = "simple_local_attention_sub"

# keyword arguments alto supports, with the upstream defaults of the ones that have one
_ENCODER_DEFAULTS: dict[str, Any] = {
    "hidden_dim": 128,
    "scatter_type": "max",
    "unet": False,
    "unet_kwargs": None,
    "unet3d": False,
    "unet3d_kwargs": None,
    "plane_resolution": None,
    "grid_resolution": None,
    "plane_type": "xz",
    "n_blocks": 5,
}
_UNET_DEFAULTS: dict[str, Any] = {
    "depth": 5,
    "start_filts": 64,
    "merge_mode": "concat",
    "up_mode": "transpose",
}
_UNET3D_DEFAULTS: dict[str, Any] = {
    "in_channels": None,
    "out_channels": None,
    "f_maps": 64,
    "num_levels": 4,
    "layer_order": "gcr",
    "num_groups": 8,
    "is_unet": True,
}
_DECODER_DEFAULTS: dict[str, Any] = {
    "hidden_size": 256,
    "n_blocks": 5,
    "leaky": False,
    "sample_mode": "bilinear",
}
_ATTENTION_DEFAULTS: dict[str, Any] = {**_DECODER_DEFAULTS, "plane_type": None, "num_heads": None}
#: levels at full resolution: ConvONet pools from the second level on, ALTO from the third
_PLAIN_FULL_RES_LEVELS = 1
_ALTERNATING_FULL_RES_LEVELS = 2


def _section(cfg: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = cfg.get(key)
    if not isinstance(value, Mapping):
        raise ConfigError(f"config key '{key}' must be a mapping, got {type(value).__name__}")
    return value


def _kwargs(value: Any, key: str, defaults: Mapping[str, Any], ignored: Collection[str] = ()) -> dict[str, Any]:
    """Merge ``value`` (a mapping or None) over ``defaults``; unknown keys are an error and
    ``ignored`` ones (upstream keys with no effect) are logged and dropped."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"config key '{key}' must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - set(defaults) - set(ignored))
    if unknown:
        raise ConfigError(
            f"config key '{key}' has keyword arguments alto does not support: {unknown}; supported: {sorted(defaults)}"
        )
    for name in sorted(set(ignored) & set(value)):
        logger.info("%s.%s=%r has no effect (upstream ignores it too)", key, name, value[name])
    return {**defaults, **{k: v for k, v in value.items() if k not in ignored}}


def _positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"config key '{key}' must be a positive integer, got {value!r}")
    return value


def _choice(value: Any, key: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"config key '{key}' must be one of {list(choices)}, got {value!r}")
    return value


def _planes(value: Any, key: str) -> tuple[str, ...]:
    try:
        return canonical_planes(value)
    except AltoError as err:
        raise ConfigError(f"config key '{key}': {err}") from None


def _name(value: Any, key: str, implemented: tuple[str, ...], unimplemented: tuple[str, ...]) -> str:
    if value not in implemented:
        raise ConfigError(
            f"config key '{key}' is {value!r}; alto implements {list(implemented)} "
            f"(upstream also names {list(unimplemented)}, which alto does not implement)"
        )
    return value


def _plane_unet(kw: Mapping[str, Any], c_dim: int, alternating: bool) -> UNet:
    key = "model.encoder_kwargs.unet_kwargs"
    _choice(kw["up_mode"], f"{key}.up_mode", ("transpose",))
    return UNet(
        UNET_2D,
        c_dim,
        c_dim,
        _positive_int(kw["depth"], f"{key}.depth"),
        _positive_int(kw["start_filts"], f"{key}.start_filts"),
        full_res_levels=_ALTERNATING_FULL_RES_LEVELS if alternating else _PLAIN_FULL_RES_LEVELS,
        merge=_choice(kw["merge_mode"], f"{key}.merge_mode", ("concat", "add")),
        alternating=alternating,
    )


def _volume_unet(kw: Mapping[str, Any], c_dim: int, alternating: bool) -> UNet:
    key = "model.encoder_kwargs.unet3d_kwargs"
    for side in ("in_channels", "out_channels"):
        if kw[side] != c_dim:
            raise ConfigError(f"config key '{key}.{side}' must equal model.c_dim={c_dim}, got {kw[side]!r}")
    try:
        validate_layer_order(kw["layer_order"])
    except ValueError as err:
        raise ConfigError(f"config key '{key}.layer_order': {err}") from None
    levels = _positive_int(kw["num_levels"], f"{key}.num_levels")
    if alternating:
        full_res = _ALTERNATING_FULL_RES_LEVELS if kw["is_unet"] else levels
    else:
        full_res = _PLAIN_FULL_RES_LEVELS
    try:
        return UNet(
            UNET_3D,
            c_dim,
            c_dim,
            levels,
            _positive_int(kw["f_maps"], f"{key}.f_maps"),
            full_res_levels=full_res,
            layer_order=kw["layer_order"],
            num_groups=_positive_int(kw["num_groups"], f"{key}.num_groups"),
            alternating=alternating,
        )
    except ValueError as err:
        raise ConfigError(f"config key '{key}': {err}") from None


def model_family(cfg: Mapping[str, Any]) -> str:
    """:data:`ALTO` or :data:`CONVONET`: the one rule for which paper's model a config selects.

    ``model.alternating`` decides when given; otherwise ALTO's configs are recognised by
    the attention decoder or by ``encoder_kwargs.unet3d_kwargs.is_unet`` (a keyword only
    ALTO's 3D U-Net has). ALTO's models run the alternating U-Net and are extracted with
    region growing; ConvONet's run the plain U-Net and use MISE.
    """
    model_cfg = cfg.get("model") or {}
    if not isinstance(model_cfg, Mapping):
        raise ConfigError(f"config key 'model' must be a mapping, got {type(model_cfg).__name__}")
    explicit = model_cfg.get("alternating")
    if explicit is not None:
        if not isinstance(explicit, bool):
            raise ConfigError(f"config key 'model.alternating' must be true or false, got {explicit!r}")
        return ALTO if explicit else CONVONET
    encoder_kwargs = model_cfg.get("encoder_kwargs")
    unet3d_kwargs = encoder_kwargs.get("unet3d_kwargs") if isinstance(encoder_kwargs, Mapping) else None
    has_is_unet = isinstance(unet3d_kwargs, Mapping) and "is_unet" in unet3d_kwargs
    return ALTO if model_cfg.get("decoder") == _ATTENTION or has_is_unet else CONVONET


def _encoder(model_cfg: Mapping[str, Any], c_dim: int, padding: float, alternating: bool) -> PointEncoder:
    key = "model.encoder_kwargs"
    kw = _kwargs(model_cfg.get("encoder_kwargs"), key, _ENCODER_DEFAULTS, no_effect_keys("model", "encoder_kwargs"))
    planes = _planes(kw["plane_type"], f"{key}.plane_type")
    volume = planes == (GRID,)
    res_key = f"{key}.{'grid' if volume else 'plane'}_resolution"
    resolution = _positive_int(kw["grid_resolution" if volume else "plane_resolution"], res_key)
    if (kw["unet"] and volume) or (kw["unet3d"] and not volume):
        raise ConfigError(
            f"config key '{key}': 'unet' applies to feature planes and 'unet3d' to plane_type 'grid'; "
            f"got unet={kw['unet']!r}, unet3d={kw['unet3d']!r} with plane_type {kw['plane_type']!r}"
        )
    unet = None
    if kw["unet"]:
        unet = _plane_unet(_kwargs(kw["unet_kwargs"], f"{key}.unet_kwargs", _UNET_DEFAULTS), c_dim, alternating)
    elif kw["unet3d"]:
        unet3d_kw = _kwargs(kw["unet3d_kwargs"], f"{key}.unet3d_kwargs", _UNET3D_DEFAULTS)
        if "is_unet" in (kw["unet3d_kwargs"] or {}) and not alternating:
            raise ConfigError(
                f"config key '{key}.unet3d_kwargs.is_unet' belongs to ALTO's alternating 3D U-Net, "
                "but model.alternating is false"
            )
        unet = _volume_unet(unet3d_kw, c_dim, alternating)
    elif alternating:
        raise ConfigError(
            f"ALTO's alternating encoder needs a U-Net: set '{key}.unet' (planes) or '{key}.unet3d' (grid) to true"
        )
    if unet is not None and resolution % unet.total_downsampling:
        raise ConfigError(
            f"config key '{res_key}'={resolution} must be divisible by {unet.total_downsampling} "
            "(the U-Net's total downsampling)"
        )
    return PointEncoder(
        planes,
        resolution,
        c_dim,
        _positive_int(kw["hidden_dim"], f"{key}.hidden_dim"),
        n_blocks=_positive_int(kw["n_blocks"], f"{key}.n_blocks"),
        pool_reduce=_choice(kw["scatter_type"], f"{key}.scatter_type", ("max", "mean")),
        padding=padding,
        unet=unet,
    )


def _decoder(
    model_cfg: Mapping[str, Any], planes: tuple[str, ...], c_dim: int, padding: float
) -> LocalDecoder | AttentionDecoder:
    key = "model.decoder_kwargs"
    name = model_cfg.get("decoder")
    ignored = no_effect_keys("model", "decoder_kwargs")
    if name == _ATTENTION:
        kw = _kwargs(model_cfg.get("decoder_kwargs"), key, _ATTENTION_DEFAULTS, ignored)
        if kw["plane_type"] is None:
            raise ConfigError(f"config key '{key}.plane_type' is required by {_ATTENTION}")
        if _planes(kw["plane_type"], f"{key}.plane_type") != planes:
            raise ConfigError(
                f"config key '{key}.plane_type'={kw['plane_type']!r} differs from the encoder's "
                f"plane_type (planes {list(planes)})"
            )
        if planes == (GRID,):
            heads = _positive_int(kw["num_heads"], f"{key}.num_heads")
        elif kw["num_heads"] is not None:
            raise ConfigError(f"config key '{key}.num_heads' applies only to plane_type 'grid'")
        else:
            heads = 1
    else:
        kw = _kwargs(model_cfg.get("decoder_kwargs"), key, _DECODER_DEFAULTS, ignored)
    common = {
        "n_blocks": _positive_int(kw["n_blocks"], f"{key}.n_blocks"),
        "leaky": bool(kw["leaky"]),
        "sample_mode": _choice(kw["sample_mode"], f"{key}.sample_mode", ("bilinear", "nearest")),
        "padding": padding,
    }
    hidden = _positive_int(kw["hidden_size"], f"{key}.hidden_size")
    if name == _ATTENTION:
        return AttentionDecoder(planes, c_dim, hidden, num_heads=heads, **common)
    return LocalDecoder(planes, c_dim, hidden, **common)


def build_model(cfg: Mapping[str, Any], generator: torch.Generator | None = None) -> OccupancyNetwork:
    """Build the ConvONet or ALTO model that an upstream-format config describes.

    Parameters are initialised as upstream does, drawing from ``generator``
    (default: a CPU generator seeded with ``cfg['seed']``, or the packaged default seed).
    Raises :class:`ConfigError` naming the offending key for anything unsupported.
    """
    model_cfg = _section(cfg, "model")
    data_cfg = _section(cfg, "data")
    _name(model_cfg.get("encoder"), "model.encoder", ENCODERS, UNIMPLEMENTED_ENCODERS)
    _name(model_cfg.get("decoder"), "model.decoder", DECODERS, UNIMPLEMENTED_DECODERS)
    for key in sorted(no_effect_keys("model") & set(model_cfg)):
        logger.info("model.%s=%r has no effect (alto ignores it)", key, model_cfg[key])
    if data_cfg.get("dim", 3) != 3:
        raise ConfigError(f"config key 'data.dim' must be 3, got {data_cfg.get('dim')!r}")
    padding = data_cfg.get("padding", DEFAULT_PADDING)
    if isinstance(padding, bool) or not isinstance(padding, int | float) or padding < 0:
        raise ConfigError(f"config key 'data.padding' must be a non-negative number, got {padding!r}")
    c_dim = _positive_int(model_cfg.get("c_dim"), "model.c_dim")
    with torch.device("meta"):
        encoder = _encoder(model_cfg, c_dim, float(padding), model_family(cfg) == ALTO)
        decoder = _decoder(model_cfg, encoder.planes, c_dim, float(padding))
        model = OccupancyNetwork(encoder, decoder, config=dict(cfg))
    model.to_empty(device="cpu")
    if generator is None:
        generator = torch.Generator().manual_seed(int(cfg.get("seed", DEFAULT_SEED)))
    init_parameters(model, generator)
    logger.debug(
        "built %s + %s (%d parameters)",
        model_cfg.get("encoder"),
        model_cfg.get("decoder"),
        sum(p.numel() for p in model.parameters()),
    )
    return model
