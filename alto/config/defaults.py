"""Config defaults that code needs without a config, read from their one home: ``default.yaml``.

A loaded experiment config already carries every packaged default (it is merged over
``default.yaml``); these names serve code that gets a partial config (a published
checkpoint's, a test's) or none at all, so each value is written once, in the YAML.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import yaml

from alto.config.loader import DEFAULT_CONFIG_PATH

__all__ = ["DATA_DEFAULTS", "DEFAULT_PADDING", "DEFAULT_SEED"]

_PACKAGED: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())

#: ``seed``: the root of every random draw of a run when a config gives none
DEFAULT_SEED: int = int(_PACKAGED["seed"])
#: ``data.padding``: the unit cube [-0.5, 0.5]^3 grows to [-0.55, 0.55]^3 (Occupancy Networks' convention)
DEFAULT_PADDING: float = float(_PACKAGED["data"]["padding"])
#: the packaged ``data`` section (upstream ConvONet/ALTO's ``configs/default.yaml`` values), read-only
DATA_DEFAULTS: MappingProxyType[str, Any] = MappingProxyType(_PACKAGED["data"])
