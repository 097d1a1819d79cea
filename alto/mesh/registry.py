"""Extractors by name, the two upstream protocols, and the mapping from a config.

``build_extractor("mise", resolution_0=32, ...)`` makes any extractor from plain
settings; :func:`convonet_extractor` and :func:`alto_extractor` are the published
protocols; :func:`extractor_from_config` reads an experiment config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from alto.config import ExperimentConfig, as_experiment
from alto.config.typed import ALTO, CONVONET
from alto.errors import ConfigError
from alto.mesh.base import LatticeExtractor
from alto.mesh.dense import DenseExtractor
from alto.mesh.field import logit
from alto.mesh.generator import MeshGenerator
from alto.mesh.lattice import DEFAULT_PADDING
from alto.mesh.mise import DEFAULT_RESOLUTION_0, DEFAULT_UPSAMPLING_STEPS, MiseExtractor
from alto.mesh.model_field import EncoderDecoder
from alto.mesh.region_growing import (
    DEFAULT_DILATION,
    DEFAULT_REFINEMENT_STEPS,
    DEFAULT_REGION_RESOLUTION,
    RegionGrowingExtractor,
)
from alto.mesh.sliding import SlidingWindow

__all__ = [
    "ALTO_THRESHOLD",
    "CONVONET_THRESHOLD",
    "EXTRACTORS",
    "PRESETS",
    "alto_extractor",
    "build_extractor",
    "convonet_extractor",
    "extractor_from_config",
    "generator_from_config",
    "window_from_config",
]

#: Extractor classes by name.
EXTRACTORS: dict[str, type[LatticeExtractor]] = {
    cls.name: cls for cls in (DenseExtractor, MiseExtractor, RegionGrowingExtractor)
}

#: Occupancy probability of ConvONet's surfaces (``test.threshold`` of its configs).
CONVONET_THRESHOLD = 0.2
#: Occupancy probability of ALTO's surfaces (its region growing ignores ``test.threshold``).
ALTO_THRESHOLD = 0.5


def build_extractor(method: str, **settings: Any) -> LatticeExtractor:
    """The extractor named ``method`` ("dense", "mise", "region_growing") with ``settings``."""
    if method not in EXTRACTORS:
        raise ConfigError(f"unknown extraction method {method!r}; expected one of {sorted(EXTRACTORS)}")
    cls = EXTRACTORS[method]
    unknown = sorted(set(settings) - set(cls.parameter_names()))
    if unknown:
        raise ConfigError(f"{method}: unknown setting(s) {unknown}; accepted: {sorted(cls.parameter_names())}")
    return cls(**settings)


def convonet_extractor(
    threshold: float = CONVONET_THRESHOLD,
    padding: float = DEFAULT_PADDING,
    resolution_0: int = DEFAULT_RESOLUTION_0,
    upsampling_steps: int = DEFAULT_UPSAMPLING_STEPS,
) -> LatticeExtractor:
    """ConvONet's protocol: MISE 32 -> 128 at p = 0.2 over the box ``1 + padding``.

    With ``upsampling_steps == 0`` ConvONet evaluates a dense lattice of
    ``resolution_0`` points per axis instead, and so does this.
    """
    common: dict[str, Any] = {"level": logit(threshold), "value_space": "logit", "box": "unit", "padding": padding}
    if upsampling_steps == 0:
        return DenseExtractor(resolution=resolution_0, **common)
    return MiseExtractor(resolution_0=resolution_0, upsampling_steps=upsampling_steps, **common)


def alto_extractor() -> RegionGrowingExtractor:
    """ALTO's protocol: region growing on 256^3 points over the inputs' cubic bounding box,
    p = 0.5, interpolation in probability, 10 bisection steps."""
    return RegionGrowingExtractor(
        resolution=DEFAULT_REGION_RESOLUTION,
        dilation=DEFAULT_DILATION,
        refinement_steps=DEFAULT_REFINEMENT_STEPS,
        box="input_bbox",
        level=logit(ALTO_THRESHOLD),
        value_space="probability",
    )


def _convonet_preset(cfg: ExperimentConfig) -> LatticeExtractor:
    return convonet_extractor(
        threshold=cfg.test.threshold,
        padding=cfg.data.padding,
        resolution_0=cfg.generation.resolution_0,
        upsampling_steps=cfg.generation.upsampling_steps,
    )


def _alto_preset(cfg: ExperimentConfig) -> LatticeExtractor:
    return alto_extractor()


#: The published protocols by name (also the model families), each built from an experiment config.
PRESETS: dict[str, Callable[[ExperimentConfig], LatticeExtractor]] = {
    CONVONET: _convonet_preset,
    ALTO: _alto_preset,
}


def extractor_from_config(cfg: ExperimentConfig | Mapping[str, Any]) -> LatticeExtractor:
    """The extractor an experiment config asks for.

    ``generation.extractor`` (an alto key) is either a preset name, "convonet"
    (MISE from ``generation.resolution_0`` / ``upsampling_steps`` at
    ``test.threshold`` over ``1 + data.padding``), "alto", or "auto" (the default:
    the preset of the model's family, :attr:`alto.config.ExperimentConfig.extractor`,
    which is what each upstream code base does), or a mapping with ``method`` and that
    extractor's settings, where ``threshold`` (a probability) may stand for ``level`` and
    ``test.threshold`` / ``data.padding`` are the defaults. The schema has already
    refused any other value (an unknown preset, a mapping without ``method``).
    """
    experiment = as_experiment(cfg)
    spec = experiment.extractor
    if isinstance(spec, str):
        return PRESETS[spec](experiment)
    settings = dict(spec)
    method = settings.pop("method")
    try:
        if "threshold" in settings and "level" in settings:
            raise ConfigError("give either 'threshold' or 'level', not both")
        if "level" not in settings:
            settings["level"] = logit(settings.pop("threshold", experiment.test.threshold))
        settings.setdefault("padding", experiment.data.padding)
        return build_extractor(method, **settings)
    except ConfigError as error:
        raise ConfigError(f"generation.extractor: {error}") from error


def window_from_config(cfg: ExperimentConfig | Mapping[str, Any]) -> SlidingWindow:
    """The sliding window of ``generation.window`` (block size, crop margin, resolution ...).

    The iso-level is ``test.threshold`` and the model's frame is ``1 + data.padding``.
    """
    experiment = as_experiment(cfg)
    settings = {
        "level": logit(experiment.test.threshold),
        "model_box": 1.0 + experiment.data.padding,
        **(experiment.generation.window or {}),
    }
    try:
        return SlidingWindow(**settings)
    except TypeError as error:
        raise ConfigError(f"generation.window: {error}") from error


def generator_from_config(
    cfg: ExperimentConfig | Mapping[str, Any], model: EncoderDecoder, device: str | torch.device = "cpu"
) -> MeshGenerator:
    """A :class:`MeshGenerator` with the extractor (or sliding window) the config asks for."""
    experiment = as_experiment(cfg)
    sliding = experiment.generation.sliding_window
    method = window_from_config(experiment) if sliding else extractor_from_config(experiment)
    return MeshGenerator(model, method, device)
