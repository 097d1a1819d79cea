"""The typed experiment config: every config loads into it, derived facts, immutability, errors."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from alto.config import (
    DataConfig,
    ExperimentConfig,
    GenerationConfig,
    ModelConfig,
    TestConfig,
    TrainingConfig,
    experiment_schema,
    load_config,
    load_experiment,
    no_effect_keys,
)
from alto.config import typed as typed_module
from alto.config.defaults import DEFAULT_PADDING, DEFAULT_SEED
from alto.config.typed import ALTO, CONVONET, as_experiment, packaged_defaults
from alto.errors import ConfigError
from alto.models.catalog import CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((REPO / "config" / "experiments").rglob("*.yaml"))
PACKAGED = sorted(CONFIG_DIR.glob("*.yaml"))
SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
    "test": TestConfig,
    "generation": GenerationConfig,
}


def _ids(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", [*PACKAGED, *EXPERIMENTS], ids=lambda p: _ids(p) if p.is_relative_to(REPO) else p.name)
def test_every_shipped_config_loads_into_the_dataclasses(path: Path) -> None:
    cfg = load_experiment(path)
    for name, cls in SECTIONS.items():
        assert isinstance(getattr(cfg, name), cls)
    assert cfg.to_dict() == load_config(path)
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.model.family in (ALTO, CONVONET)
    assert cfg.extractor != "auto"


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_fields_are_the_schema_keys_that_have_an_effect(section: str) -> None:
    """One list of keys: a schema key is a field, or marked "(upstream, unused)" and kept in ``raw`` only."""
    schema_keys = set(experiment_schema()["properties"][section]["properties"])
    fields = {field.name for field in dataclasses.fields(SECTIONS[section])}
    assert fields == schema_keys - no_effect_keys(section)


def test_every_field_has_a_docstring() -> None:
    tree = ast.parse(inspect.getsource(typed_module))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    undocumented = []
    for cls in [*SECTIONS.values(), ExperimentConfig]:
        body = classes[cls.__name__].body
        for statement, following in zip(body, [*body[1:], None], strict=True):
            if isinstance(statement, ast.AnnAssign):
                documented = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                if not documented:
                    undocumented.append(f"{cls.__name__}.{ast.unparse(statement.target)}")
    assert undocumented == []


@pytest.mark.parametrize(
    ("config", "family", "planes", "volume", "extractor", "scene"),
    [
        ("alto_shapenet_3plane.yaml", ALTO, ("xz", "xy", "yz"), False, ALTO, False),
        ("alto_rooms_grid64.yaml", ALTO, ("grid",), True, ALTO, True),
        ("convonet_shapenet_grid32.yaml", CONVONET, ("grid",), True, CONVONET, False),
        ("convonet_rooms_3plane.yaml", CONVONET, ("xz", "xy", "yz"), False, CONVONET, True),
        ("convonet_shapenet_1plane.yaml", CONVONET, ("xz",), False, CONVONET, False),
    ],
)
def test_derived_facts_of_the_published_models(config, family, planes, volume, extractor, scene) -> None:
    cfg = load_experiment(CONFIG_DIR / config)
    assert cfg.model.family == family
    assert cfg.model.planes == planes and cfg.model.is_volume is volume
    assert cfg.extractor == extractor
    assert cfg.is_scene is scene


def test_family_rule_and_extractor_resolution() -> None:
    plain = ExperimentConfig.from_dict({})
    assert plain.model.family == CONVONET and plain.extractor == CONVONET and plain.model.alternating is None
    assert plain.with_overrides({"model": {"alternating": True}}).extractor == ALTO
    is_unet = plain.with_overrides({"model": {"encoder_kwargs": {"unet3d_kwargs": {"is_unet": True}}}})
    assert is_unet.model.family == ALTO
    attention = plain.with_overrides({"model": {"decoder": "simple_local_attention_sub"}})
    assert attention.model.family == ALTO
    assert attention.with_overrides({"model": {"alternating": False}}).model.family == CONVONET
    preset = attention.with_overrides({"generation": {"extractor": "convonet"}})
    assert preset.extractor == CONVONET
    explicit = plain.with_overrides({"generation": {"extractor": {"method": "dense", "resolution": 16}}})
    assert dict(explicit.extractor) == {"method": "dense", "resolution": 16}


def test_the_config_is_frozen_all_the_way_down() -> None:
    cfg = load_experiment(CONFIG_DIR / "alto_rooms_grid64.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.data.padding = 0.2  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.model.encoder_kwargs["grid_resolution"] = 32  # type: ignore[index]
    with pytest.raises(TypeError):
        cfg.raw["data"]["path"] = "elsewhere"  # type: ignore[index]
    plain = cfg.to_dict()
    plain["data"]["path"] = "elsewhere"
    assert cfg.data.path != "elsewhere" and cfg.raw["data"]["path"] != "elsewhere"


def test_a_wrong_type_names_the_key_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"<config>: key 'training\.batch_size': expected integer, got str '4'"):
        ExperimentConfig.from_dict({"training": {"batch_size": "4"}})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"data": {"pointcloud_n": 1.5}}))
    with pytest.raises(ConfigError, match=rf"{path}: key 'data\.pointcloud_n': expected integer"):
        load_experiment(path)
    with pytest.raises(ConfigError, match=r"key 'model\.alternating': expected boolean, got str 'yes'"):
        as_experiment({"model": {"alternating": "yes"}})


def test_defaults_come_from_default_yaml_only() -> None:
    """A partial config gets default.yaml's values; no dataclass field has a default of its own
    except the optional keys default.yaml leaves out."""
    packaged = yaml.safe_load((REPO / "alto" / "config" / "default.yaml").read_text())
    defaults = packaged_defaults()
    assert defaults.to_dict() == packaged
    assert (DEFAULT_SEED, DEFAULT_PADDING) == (defaults.seed, defaults.data.padding)
    with_defaults = {
        f"{section}.{field.name}"
        for section, cls in SECTIONS.items()
        for field in dataclasses.fields(cls)
        if field.default is not dataclasses.MISSING
    }
    assert with_defaults == {"model.alternating", "generation.window"}
    assert not {key.split(".")[1] for key in with_defaults} & {
        key for section in packaged.values() if isinstance(section, dict) for key in section
    }


def test_upstream_keys_round_trip_and_overrides_revalidate() -> None:
    upstream = {"model": {"multi_gpu": True, "decoder_kwargs": {"K_neighbors": 10}}, "data": {"img_size": 224}}
    cfg = ExperimentConfig.from_dict(upstream)
    assert cfg.to_dict()["model"]["decoder_kwargs"]["K_neighbors"] == 10
    assert cfg.to_dict()["data"]["img_size"] == 224 and cfg.raw["model"]["multi_gpu"] is True
    moved = cfg.with_overrides({"data": {"classes": ["02691156"]}})
    assert moved.data.classes == ("02691156",) and moved.to_dict()["data"]["classes"] == ["02691156"]
    assert moved.to_dict()["data"]["img_size"] == 224
    with pytest.raises(ConfigError, match=r"<override>: key 'data\.classes': expected array or null"):
        cfg.with_overrides({"data": {"classes": "02691156"}})


def test_selection_mode_must_suit_the_metric() -> None:
    cfg = ExperimentConfig.from_dict({})
    assert cfg.training.selection_sign == 1.0
    loss = cfg.with_overrides({"training": {"model_selection_metric": "loss", "model_selection_mode": "minimize"}})
    assert loss.training.selection_sign == -1.0
    wrong = cfg.with_overrides({"training": {"model_selection_metric": "loss"}})
    with pytest.raises(ConfigError, match=r"training\.model_selection_mode: 'loss' must be 'minimize'd"):
        _ = wrong.training.selection_sign


def test_data_split_by_mode() -> None:
    data = ExperimentConfig.from_dict({"data": {"val_split": None}}).data
    assert (data.split("train"), data.split("val"), data.split("test")) == ("train", None, "test")
    with pytest.raises(ConfigError, match="dataset mode: got 'training'"):
        data.split("training")
