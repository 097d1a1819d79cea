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
  encoder with the ``simple_local`` decoder. :attr:`alto.config.ModelConfig.family` is
  the one home of this rule; the mesh extractor's "auto" protocol follows it too.

The config is validated against the schema first (:class:`alto.config.ExperimentConfig`),
so types and ranges are checked there; this module checks what the schema cannot say
(names alto implements, keyword arguments it supports, shapes that must agree).
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

from alto.config import ExperimentConfig, ModelConfig, as_experiment, no_effect_keys
from alto.config.typed import ALTO, ATTENTION_DECODER, CONVONET, UPSTREAM_PLANE_TYPE, config_dict
from alto.errors import AltoError, ConfigError
from alto.models.decoder import AttentionDecoder, LocalDecoder
from alto.models.encoder import PointEncoder
from alto.models.layers import init_parameters
from alto.models.network import OccupancyNetwork
from alto.models.unet import UNET_2D, UNET_3D, UNet, validate_layer_order
from alto.ops import canonical_planes

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
    "plane_type": UPSTREAM_PLANE_TYPE,
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


def _kwargs(
    value: Mapping[str, Any] | None, key: str, defaults: Mapping[str, Any], ignored: Collection[str] = ()
) -> dict[str, Any]:
    """Merge ``value`` (a mapping or None) over ``defaults``; unknown keys are an error and
    ``ignored`` ones (upstream keys with no effect) are logged and dropped."""
    if value is None:
        value = {}
    unknown = sorted(set(value) - set(defaults) - set(ignored))
    if unknown:
        raise ConfigError(
            f"config key '{key}' has keyword arguments alto does not support: {unknown}; supported: {sorted(defaults)}"
        )
    for name in sorted(set(ignored) & set(value)):
        logger.info("%s.%s=%r has no effect (upstream ignores it too)", key, name, value[name])
    return {**defaults, **{k: v for k, v in value.items() if k not in ignored}}


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
        kw["depth"],
        kw["start_filts"],
        full_res_levels=_ALTERNATING_FULL_RES_LEVELS if alternating else _PLAIN_FULL_RES_LEVELS,
        merge=kw["merge_mode"],
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
    levels = kw["num_levels"]
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
            kw["f_maps"],
            full_res_levels=full_res,
            layer_order=kw["layer_order"],
            num_groups=kw["num_groups"],
            alternating=alternating,
        )
    except ValueError as err:
        raise ConfigError(f"config key '{key}': {err}") from None


def model_family(cfg: ExperimentConfig | Mapping[str, Any]) -> str:
    """:data:`ALTO` or :data:`CONVONET` for ``cfg``: :attr:`alto.config.ModelConfig.family`."""
    return as_experiment(cfg).model.family


def _encoder(model: ModelConfig, padding: float) -> PointEncoder:
    key = "model.encoder_kwargs"
    alternating = model.family == ALTO
    kw = _kwargs(model.encoder_kwargs, key, _ENCODER_DEFAULTS, no_effect_keys("model", "encoder_kwargs"))
    planes, volume = model.planes, model.is_volume
    res_key = f"{key}.{'grid' if volume else 'plane'}_resolution"
    resolution = kw["grid_resolution" if volume else "plane_resolution"]
    if resolution is None:
        raise ConfigError(f"config key '{res_key}' is required for plane_type {kw['plane_type']!r}")
    if (kw["unet"] and volume) or (kw["unet3d"] and not volume):
        raise ConfigError(
            f"config key '{key}': 'unet' applies to feature planes and 'unet3d' to plane_type 'grid'; "
            f"got unet={kw['unet']!r}, unet3d={kw['unet3d']!r} with plane_type {kw['plane_type']!r}"
        )
    unet = None
    if kw["unet"]:
        unet = _plane_unet(_kwargs(kw["unet_kwargs"], f"{key}.unet_kwargs", _UNET_DEFAULTS), model.c_dim, alternating)
    elif kw["unet3d"]:
        unet3d_kw = _kwargs(kw["unet3d_kwargs"], f"{key}.unet3d_kwargs", _UNET3D_DEFAULTS)
        if "is_unet" in (kw["unet3d_kwargs"] or {}) and not alternating:
            raise ConfigError(
                f"config key '{key}.unet3d_kwargs.is_unet' belongs to ALTO's alternating 3D U-Net, "
                "but model.alternating is false"
            )
        unet = _volume_unet(unet3d_kw, model.c_dim, alternating)
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
        model.c_dim,
        kw["hidden_dim"],
        n_blocks=kw["n_blocks"],
        pool_reduce=kw["scatter_type"],
        padding=padding,
        unet=unet,
    )


def _decoder(model: ModelConfig, planes: tuple[str, ...], padding: float) -> LocalDecoder | AttentionDecoder:
    key = "model.decoder_kwargs"
    ignored = no_effect_keys("model", "decoder_kwargs")
    heads = 1
    if model.decoder == ATTENTION_DECODER:
        kw = _kwargs(model.decoder_kwargs, key, _ATTENTION_DEFAULTS, ignored)
        if kw["plane_type"] is None:
            raise ConfigError(f"config key '{key}.plane_type' is required by {ATTENTION_DECODER}")
        if _planes(kw["plane_type"], f"{key}.plane_type") != planes:
            raise ConfigError(
                f"config key '{key}.plane_type'={kw['plane_type']!r} differs from the encoder's "
                f"plane_type (planes {list(planes)})"
            )
        if model.is_volume:
            if kw["num_heads"] is None:
                raise ConfigError(f"config key '{key}.num_heads' must be a positive integer for plane_type 'grid'")
            heads = kw["num_heads"]
        elif kw["num_heads"] is not None:
            raise ConfigError(f"config key '{key}.num_heads' applies only to plane_type 'grid'")
    else:
        kw = _kwargs(model.decoder_kwargs, key, _DECODER_DEFAULTS, ignored)
    common = {
        "n_blocks": kw["n_blocks"],
        "leaky": bool(kw["leaky"]),
        "sample_mode": _choice(kw["sample_mode"], f"{key}.sample_mode", ("bilinear", "nearest")),
        "padding": padding,
    }
    if model.decoder == ATTENTION_DECODER:
        return AttentionDecoder(planes, model.c_dim, kw["hidden_size"], num_heads=heads, **common)
    return LocalDecoder(planes, model.c_dim, kw["hidden_size"], **common)


def build_model(
    cfg: ExperimentConfig | Mapping[str, Any], generator: torch.Generator | None = None
) -> OccupancyNetwork:
    """Build the ConvONet or ALTO model that an upstream-format config describes.

    A dict is read as :meth:`alto.config.ExperimentConfig.from_dict` reads it (the packaged
    defaults fill what it leaves out). Parameters are initialised as upstream does, drawing
    from ``generator`` (default: a CPU generator seeded with the config's ``seed``).
    Raises :class:`ConfigError` naming the offending key for anything unsupported.
    """
    experiment = as_experiment(cfg)
    model_cfg = experiment.model
    _name(model_cfg.encoder, "model.encoder", ENCODERS, UNIMPLEMENTED_ENCODERS)
    _name(model_cfg.decoder, "model.decoder", DECODERS, UNIMPLEMENTED_DECODERS)
    raw_model = experiment.raw["model"]
    for key in sorted(no_effect_keys("model") & set(raw_model)):
        logger.info("model.%s=%r has no effect (alto ignores it)", key, raw_model[key])
    padding = float(experiment.data.padding)
    with torch.device("meta"):
        encoder = _encoder(model_cfg, padding)
        decoder = _decoder(model_cfg, encoder.planes, padding)
        model = OccupancyNetwork(encoder, decoder, config=config_dict(experiment))
    # Module.to_empty would use empty_like on meta tensors, whose first call imports sympy
    # (half a second of every `alto reconstruct`); plain empty tensors are the same here
    model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device="cpu"))
    if generator is None:
        generator = torch.Generator().manual_seed(experiment.seed)
    init_parameters(model, generator)
    logger.debug(
        "built %s + %s (%d parameters)",
        model_cfg.encoder,
        model_cfg.decoder,
        sum(p.numel() for p in model.parameters()),
    )
    return model
