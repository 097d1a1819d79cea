"""ALTO and ConvONet models: point encoder, U-Nets, decoders, checkpoints.

:func:`build_model` turns an upstream-format experiment config into an
:class:`OccupancyNetwork` with ``encode`` / ``decode`` / ``forward``;
:func:`load_checkpoint` / :func:`save_checkpoint` read our checkpoints and the
published ALTO / ConvONet ones.
"""

from alto.models.build import ALTO, CONVONET, DECODERS, ENCODERS, build_model, model_family
from alto.models.checkpoint import (
    FORMAT_TAG,
    convert_upstream_state_dict,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    strip_parallel_prefixes,
)
from alto.models.decoder import AttentionDecoder, LocalDecoder
from alto.models.encoder import PointEncoder
from alto.models.layers import init_parameters
from alto.models.network import OccupancyNetwork
from alto.models.unet import UNET_2D, UNET_3D, UNet, UNetStyle

__all__ = [
    "ALTO",
    "CONVONET",
    "DECODERS",
    "ENCODERS",
    "FORMAT_TAG",
    "UNET_2D",
    "UNET_3D",
    "AttentionDecoder",
    "LocalDecoder",
    "OccupancyNetwork",
    "PointEncoder",
    "UNet",
    "UNetStyle",
    "build_model",
    "convert_upstream_state_dict",
    "init_parameters",
    "load_checkpoint",
    "model_family",
    "read_checkpoint",
    "save_checkpoint",
    "strip_parallel_prefixes",
]
