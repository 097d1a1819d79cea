"""The published models' reference outputs, for checking alto's models number for number.

A reference case (``tests/data/reference/``) holds inputs, query points and the
logits that the authors' model classes computed with deterministic weights, plus a
summary (``summary_alto.json`` / ``summary_convonet.json``) with the encoder and
decoder keyword arguments and the upstream state-dict names and shapes in order.
The weights are not stored: tensor number ``i`` of that list is

    v[j] = sin(j * 12.9898 + i * 78.233)     (float64, j = 0 .. numel - 1)
    tensor = v * sqrt(3 / fan_in)            (fan_in = prod(shape[1:]), 2+ dims)
    tensor = v * 0.1                         (0- and 1-dim tensors)

reshaped row-major and cast to float32. :func:`load_reference` rebuilds everything
needed to run the case through :func:`alto.models.build_model`, and
:func:`reference_model` builds that model with the case's weights converted and loaded.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from alto.errors import DataError
from alto.models.build import build_model
from alto.models.checkpoint import convert_upstream_state_dict
from alto.models.network import OccupancyNetwork

__all__ = [
    "PARITY_TOLERANCE",
    "ReferenceCase",
    "load_reference",
    "reference_config",
    "reference_model",
    "reference_names",
    "reference_state_dict",
]

#: largest absolute difference of logits and feature planes from the published models (fp32, no TF32)
PARITY_TOLERANCE = 1e-5
#: frequency of the element index in the reference weights
_ELEMENT_FREQUENCY = 12.9898
#: phase step between consecutive tensors
_TENSOR_PHASE = 78.233
#: scale of 0- and 1-dim tensors (biases, norm parameters)
_VECTOR_SCALE = 0.1
#: weights are ``U``-like with variance ``1 / fan_in``: scale ``sqrt(3 / fan_in)``
_FAN_IN_NUMERATOR = 3.0
#: decoder class names in the summaries -> upstream config names
_DECODER_NAMES = {"LocalDecoder": "simple_local", "LocalDecoder_attention_sub": "simple_local_attention_sub"}
#: keyword arguments that upstream passes from the config sections rather than from kwargs
_SECTION_KEYS = ("c_dim", "dim", "padding")


def reference_state_dict(spec: Sequence[tuple[str, Sequence[int]]]) -> dict[str, Tensor]:
    """The deterministic upstream-named weights for ``[(name, shape), ...]`` in that order."""
    state = {}
    for i, (name, shape) in enumerate(spec):
        numel = math.prod(shape)
        v = np.sin(np.arange(numel, dtype=np.float64) * _ELEMENT_FREQUENCY + i * _TENSOR_PHASE)
        scale = math.sqrt(_FAN_IN_NUMERATOR / math.prod(shape[1:])) if len(shape) >= 2 else _VECTOR_SCALE
        state[name] = torch.from_numpy((v * scale).reshape(tuple(shape)).astype(np.float32))
    return state


def reference_config(summary: Mapping[str, Any]) -> dict[str, Any]:
    """An upstream-format experiment config (``model`` and ``data``) for a summary entry."""
    encoder_kwargs = dict(summary["encoder_kwargs"])
    decoder_kwargs = dict(summary["decoder_kwargs"])
    section = {k: encoder_kwargs[k] for k in _SECTION_KEYS}
    for kwargs in (encoder_kwargs, decoder_kwargs):
        for key in _SECTION_KEYS:
            kwargs.pop(key, None)
    return {
        "model": {
            "encoder": "pointnet_local_pool",
            "decoder": _DECODER_NAMES[summary["decoder_class"]],
            "encoder_kwargs": encoder_kwargs,
            "decoder_kwargs": decoder_kwargs,
            "c_dim": section["c_dim"],
        },
        "data": {"padding": section["padding"], "dim": section["dim"]},
    }


@dataclass(frozen=True)
class ReferenceCase:
    """One reference file with its summary."""

    name: str
    config: dict[str, Any]
    upstream_state: dict[str, Tensor]
    inputs: Tensor
    query: Tensor
    logits: Tensor
    features: dict[str, Tensor]
    used_params: int
    unused_parameters: tuple[str, ...]
    n_input_points: int


def reference_names(directory: str | os.PathLike[str]) -> list[str]:
    """Names of the reference cases in ``directory`` (from the summary files)."""
    names = []
    for summary in sorted(Path(directory).glob("summary_*.json")):
        names += list(json.loads(summary.read_text()))
    return names


def load_reference(directory: str | os.PathLike[str], name: str) -> ReferenceCase:
    """Load reference case ``name`` (e.g. ``'alto_shapenet_3plane'``) from ``directory``."""
    directory = Path(directory)
    family = name.split("_", 1)[0]
    summary_path = directory / f"summary_{family}.json"
    npz_path = directory / f"{name}.npz"
    for path in (summary_path, npz_path):
        if not path.is_file():
            raise DataError(f"reference file {path} does not exist")
    summaries = json.loads(summary_path.read_text())
    if name not in summaries:
        raise DataError(f"{summary_path} has no entry {name!r}; it lists {sorted(summaries)}")
    summary = summaries[name]
    with np.load(npz_path) as data:
        arrays = {k: torch.from_numpy(data[k]) for k in data.files}
    prefix = "features/"
    return ReferenceCase(
        name=name,
        config=reference_config(summary),
        upstream_state=reference_state_dict([(n, tuple(s)) for n, s in summary["state_dict"]]),
        inputs=arrays["inputs"],
        query=arrays["query"],
        logits=arrays["logits"],
        features={k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
        used_params=summary["used_params"],
        unused_parameters=tuple(summary["unused_parameters"]),
        n_input_points=summary["n_input_points"],
    )


def reference_model(case: ReferenceCase) -> OccupancyNetwork:
    """alto's model of ``case`` with the upstream weights converted and loaded, in eval mode (on the CPU).

    The converter must drop exactly the tensors the summary lists as unused by the
    published forward pass; anything else means the case and the model disagree.
    """
    model = build_model(case.config)
    state, dropped = convert_upstream_state_dict(model, case.upstream_state, source=case.name)
    if sorted(dropped) != sorted(case.unused_parameters):
        raise DataError(
            f"reference {case.name!r}: the converter dropped {sorted(dropped)}, "
            f"but the summary lists {sorted(case.unused_parameters)} as unused"
        )
    model.load_state_dict(state)
    return model.eval()
