"""Experiment configs: YAML with ``inherit_from``, packaged defaults, one schema.

See :mod:`alto.config.loader` for the rules, ``default.yaml`` for the defaults and
``schema/experiment.yaml`` for every key.
"""

from alto.config.loader import (
    DEFAULT_CONFIG_PATH,
    INHERIT_KEY,
    experiment_schema,
    load_config,
    merge_configs,
    no_effect_keys,
    parse_dotted_overrides,
    validate_config,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "INHERIT_KEY",
    "experiment_schema",
    "load_config",
    "merge_configs",
    "no_effect_keys",
    "parse_dotted_overrides",
    "validate_config",
]
