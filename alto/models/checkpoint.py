"""Checkpoints: our own format, and the ALTO / ConvONet layout with name conversion.

Both are the upstream dict layout: ``model`` (the state dict), ``optimizer``,
optionally ``scheduler``, and the scalars ``epoch_it``, ``it``, ``loss_val_best``.
Ours adds ``format`` (:data:`FORMAT_TAG`), ``format_version`` and ``config`` (the
experiment config), so that a model can be rebuilt from the file alone, and may hold
further training state (e.g. the position inside the epoch).

Upstream checkpoints are converted on load: the ``module.`` prefix of
``nn.DataParallel`` (also nested as ``encoder.unet.module.`` / ``encoder.unet3d.module.``
in ALTO's releases) is stripped, upstream names are mapped onto our modules (per-plane
attention layers are stacked into grouped ones), and exactly the parameters that the
published forward pass never uses are dropped. Anything else that does not match (a
missing or unexpected key, a shape mismatch) is a :class:`CheckpointError` listing every
offending key; nothing is loaded partially.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from alto.config import ExperimentConfig
from alto.config.typed import config_dict
from alto.errors import CheckpointError
from alto.io import atomic_path
from alto.models.build import build_model
from alto.models.network import OccupancyNetwork

__all__ = [
    "FORMAT_TAG",
    "FORMAT_VERSION",
    "convert_upstream_state_dict",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "strip_parallel_prefixes",
]

logger = logging.getLogger(__name__)

#: value of the ``format`` entry of checkpoints written by :func:`save_checkpoint`
FORMAT_TAG = "alto-checkpoint"
#: version of that format
FORMAT_VERSION = 1
#: prefix ``nn.DataParallel`` puts before every key
_PARALLEL_PREFIX = "module."
#: submodules that ALTO's releases wrapped in their own ``nn.DataParallel``
_NESTED_PARALLEL = ("encoder.unet.", "encoder.unet3d.")
#: longest list of keys quoted in one error message
_MAX_LISTED = 20
#: numpy objects that the weights-only unpickler may rebuild: upstream training scripts
#: store ``loss_val_best`` as a numpy scalar. The scalar constructor is listed under its
#: numpy 2 path and under the numpy 1 path that older checkpoints name.
_NUMPY_CORE = getattr(np, "_core", None) or np.core
_NUMPY_SAFE_GLOBALS = [
    _NUMPY_CORE.multiarray.scalar,
    (_NUMPY_CORE.multiarray.scalar, "numpy.core.multiarray.scalar"),
    np.dtype,
    *(type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)),
]


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else "")


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint file with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    try:
        with torch.serialization.safe_globals(_NUMPY_SAFE_GLOBALS):
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or unsafe files
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(data).__name__}, expected a dict")
    return data


def strip_parallel_prefixes(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Remove ``module.`` prefixes (``nn.DataParallel``), also after ``encoder.unet[3d].``."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix(_PARALLEL_PREFIX)
        for inner in _NESTED_PARALLEL:
            if key.startswith(inner + _PARALLEL_PREFIX):
                key = inner + key[len(inner + _PARALLEL_PREFIX) :]
        out[key] = value
    return out


def _mismatch_error(source: str, missing: list[str], unexpected: list[str], shapes: list[str]) -> None:
    problems = []
    if missing:
        problems.append(f"missing keys [{_listing(missing)}]")
    if unexpected:
        problems.append(f"unexpected keys [{_listing(unexpected)}]")
    if shapes:
        problems.append(f"shape mismatches [{_listing(shapes)}]")
    if problems:
        raise CheckpointError(f"checkpoint {source} does not match the model: " + "; ".join(problems))


def convert_upstream_state_dict(
    model: OccupancyNetwork, state: Mapping[str, Tensor], source: str = "<state dict>"
) -> tuple[dict[str, Tensor], list[str]]:
    """Map an upstream state dict (prefixes already stripped) onto ``model``'s names.

    Returns our state dict and the upstream keys dropped as unused; raises
    :class:`CheckpointError` listing missing (upstream names) and unexpected keys.
    """
    layout = model.upstream_layout()
    unused = set(layout.unused)
    converted: dict[str, Tensor] = {}
    missing: list[str] = []
    consumed: set[str] = set()
    for entry in layout.tensors:
        absent = [s for s in entry.sources if s not in state]
        if absent:
            missing += absent
            continue
        consumed.update(entry.sources)
        tensors = [state[s] for s in entry.sources]
        converted[entry.name] = torch.stack(tensors) if entry.stack else tensors[0]
    unexpected = [k for k in state if k not in consumed and k not in unused]
    _mismatch_error(source, missing, unexpected, [])
    return converted, [k for k in state if k in unused]


def _check_and_load(model: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    _mismatch_error(source, missing, unexpected, shapes)
    model.load_state_dict(state, strict=True)


def load_checkpoint(
    source: str | os.PathLike[str] | Mapping[str, Any],
    model: OccupancyNetwork | None = None,
    cfg: ExperimentConfig | Mapping[str, Any] | None = None,
    *,
    map_location: Any = "cpu",
) -> dict[str, Any]:
    """Load our or an upstream checkpoint (a file or an already loaded dict).

    The model is ``model`` if given, else built from ``cfg``, else from the config
    stored in the checkpoint (ours only; upstream files need ``cfg``).

    Returns a dict with ``model`` (the module, weights loaded), ``config``,
    ``source_format`` (``'alto'`` or ``'upstream'``), ``dropped_keys`` (upstream tensors
    left out as unused) and every other entry of the checkpoint (``optimizer``,
    ``scheduler``, ``epoch_it``, ``it``, ``loss_val_best``, ...). An upstream optimizer
    state refers to upstream parameters and is returned as ``None``.
    """
    if isinstance(source, Mapping):
        name, data = "<dict>", dict(source)
    else:
        name, data = str(source), read_checkpoint(source, map_location)
    state = data.get("model", data)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {name} has no state dict under 'model'")
    ours = data.get("format") == FORMAT_TAG
    if ours and data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {name} has format version {data.get('format_version')!r}; "
            f"this alto reads version {FORMAT_VERSION}"
        )
    config = cfg if cfg is not None else data.get("config")
    if model is None:
        if config is None:
            raise CheckpointError(
                f"checkpoint {name} carries no experiment config (upstream checkpoints never do); "
                "pass the config it was trained with"
            )
        model = build_model(config)
    elif config is None:
        config = model.config
    state = strip_parallel_prefixes(state)
    dropped: list[str] = []
    # an untagged dict already in our naming (e.g. a bare ``model.state_dict()``) counts as ours
    ours = ours or set(state) == set(model.state_dict())
    if not ours:
        state, dropped = convert_upstream_state_dict(model, state, name)
    _check_and_load(model, state, name)
    result = {k: v for k, v in data.items() if k not in ("model", "format", "format_version")}
    if not ours and result.get("optimizer") is not None:
        logger.info("checkpoint %s: the upstream optimizer state is not carried over", name)
        result["optimizer"] = None
    result.update(
        model=model,
        config=config_dict(config) if config is not None else None,
        source_format="alto" if ours else "upstream",
        dropped_keys=dropped,
    )
    if dropped:
        logger.info("checkpoint %s: dropped %d unused upstream tensors", name, len(dropped))
    return result


def save_checkpoint(
    path: str | os.PathLike[str],
    model: OccupancyNetwork,
    *,
    config: ExperimentConfig | Mapping[str, Any] | None = None,
    optimizer: Mapping[str, Any] | None = None,
    scheduler: Mapping[str, Any] | None = None,
    epoch_it: int = 0,
    it: int = 0,
    loss_val_best: float | None = None,
    **extra: Any,
) -> None:
    """Write ``model`` in our format, atomically (upstream layout plus config and format tag).

    ``optimizer`` / ``scheduler`` are state dicts; ``extra`` holds further training
    state (plain values or tensors, as ``torch.load(weights_only=True)`` reads them).
    """
    config = config if config is not None else model.config
    if config is None:
        raise CheckpointError(f"cannot save {path}: the model has no experiment config to store")
    reserved = {"model", "format", "format_version", "config"} & set(extra)
    if reserved:
        raise CheckpointError(f"cannot save {path}: {sorted(reserved)} are reserved checkpoint keys")
    payload = {
        "format": FORMAT_TAG,
        "format_version": FORMAT_VERSION,
        "config": config_dict(config),
        "model": model.state_dict(),
        "optimizer": optimizer,
        "scheduler": scheduler,
        "epoch_it": int(epoch_it),
        "it": int(it),
        "loss_val_best": None if loss_val_best is None else float(loss_val_best),
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
