"""Config defaults that code needs without a config, read from their one home: ``default.yaml``.

A loaded experiment config already carries every packaged default (it is merged over
``default.yaml``); these names serve function signatures that take no config at all
(a seed, a padding), so each value is written once, in the YAML. They are read
without schema validation, which would cost every import a few hundred milliseconds;
:func:`alto.config.typed.packaged_defaults` is the validated, typed view.
"""

from __future__ import annotations

from alto.config.loader import DEFAULT_CONFIG_PATH, read_yaml

__all__ = ["DEFAULT_PADDING", "DEFAULT_SEED"]

_PACKAGED = read_yaml(DEFAULT_CONFIG_PATH)

#: ``seed``: the root of every random draw of a run when a config gives none
DEFAULT_SEED: int = int(_PACKAGED["seed"])
#: ``data.padding``: the unit cube [-0.5, 0.5]^3 grows to [-0.55, 0.55]^3 (Occupancy Networks' convention)
DEFAULT_PADDING: float = float(_PACKAGED["data"]["padding"])
