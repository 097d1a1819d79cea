"""Experiment configs: YAML with ``inherit_from``, packaged defaults, one schema, typed sections.

See :mod:`alto.config.loader` for the rules, ``default.yaml`` for the defaults,
``schema/experiment.yaml`` for every key and :mod:`alto.config.typed` for the
dataclasses a loaded config becomes.
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
from alto.config.typed import (
    DataConfig,
    ExperimentConfig,
    GenerationConfig,
    ModelConfig,
    TestConfig,
    TrainingConfig,
    as_experiment,
    load_experiment,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "INHERIT_KEY",
    "DataConfig",
    "ExperimentConfig",
    "GenerationConfig",
    "ModelConfig",
    "TestConfig",
    "TrainingConfig",
    "as_experiment",
    "experiment_schema",
    "load_config",
    "load_experiment",
    "merge_configs",
    "no_effect_keys",
    "parse_dotted_overrides",
    "validate_config",
]
