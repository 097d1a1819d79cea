"""The experiment config system: inheritance, merging, validation and its messages."""

from __future__ import annotations

import copy
import inspect
import logging
from pathlib import Path

import pytest
import torch
import yaml

import alto.mesh.lattice
import alto.ops
from alto.cli.main import main as alto_main
from alto.config import (
    DEFAULT_CONFIG_PATH,
    ExperimentConfig,
    experiment_schema,
    load_config,
    merge_configs,
    no_effect_keys,
    parse_dotted_overrides,
    validate_config,
)
from alto.config.defaults import DEFAULT_PADDING, DEFAULT_SEED
from alto.errors import ConfigError
from alto.geometry import UNIT_CUBE_PADDING
from alto.mesh import extractor_from_config
from alto.models import build_model
from alto.models.catalog import input_profile
from alto.reconstruction import Reconstructor

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


# Configs shaped like the published ones: an upstream checkout names parents relative
# to its repository root, keeps its own default.yaml, and uses keys alto does not
# act on (images, crops, latent_*). These are written here, not copied.
UPSTREAM_LIKE_DEFAULT = {
    "method": "conv_onet",
    "data": {
        "dataset": "Shapes3D", "path": "data/ShapeNet", "watertight_path": "data/watertight",
        "classes": None, "input_type": "img", "train_split": "train", "val_split": "val",
        "test_split": "test", "dim": 3, "points_file": "points.npz", "points_iou_file": "points.npz",
        "multi_files": None, "points_subsample": 1024, "points_unpackbits": True,
        "model_file": "model.off", "watertight_file": "model_watertight.off", "img_folder": "img",
        "img_size": 224, "img_with_camera": False, "img_augment": False, "n_views": 24,
        "pointcloud_file": "pointcloud.npz", "pointcloud_chamfer_file": "pointcloud.npz",
        "pointcloud_n": 256, "pointcloud_target_n": 1024, "pointcloud_noise": 0.05,
        "voxels_file": "model.binvox", "padding": 0.1,
    },
    "model": {"decoder": "simple", "encoder": "resnet18", "decoder_kwargs": {}, "encoder_kwargs": {},
              "multi_gpu": False, "c_dim": 512},
    "training": {"out_dir": "out/default", "batch_size": 64, "print_every": 200, "visualize_every": 1000,
                 "checkpoint_every": 1000, "validate_every": 2000, "backup_every": 100000,
                 "eval_sample": False, "model_selection_metric": "loss",
                 "model_selection_mode": "minimize", "n_workers": 4, "n_workers_val": 4},
    "test": {"threshold": 0.5, "eval_mesh": True, "eval_pointcloud": True, "remove_wall": False,
             "model_file": "model_best.pt"},
    "generation": {"batch_size": 100000, "refinement_step": 0, "vis_n_outputs": 30, "generate_mesh": True,
                   "generate_pointcloud": True, "generation_dir": "generation", "use_sampling": False,
                   "resolution_0": 32, "upsampling_steps": 3, "simplify_nfaces": None,
                   "copy_groundtruth": False, "copy_input": True, "latent_number": 4, "latent_H": 8,
                   "latent_W": 8, "latent_ny": 2, "latent_nx": 2, "latent_repeat": True,
                   "sliding_window": False},
}

UPSTREAM_LIKE_ROOM_GRID_ATTENTION = {
    "method": "conv_onet",
    "data": {"input_type": "pointcloud", "classes": ["rooms_04", "rooms_05"], "path": "data/rooms",
             "pointcloud_n": 10000, "pointcloud_noise": 0.005, "points_subsample": 2048,
             "points_file": "points_iou", "points_iou_file": "points_iou", "pointcloud_file": "pointcloud",
             "pointcloud_chamfer_file": "pointcloud", "multi_files": 10, "voxels_file": None},
    "model": {"encoder": "pointnet_local_pool",
              "encoder_kwargs": {"hidden_dim": 32, "plane_type": "grid", "grid_resolution": 64,
                                 "unet3d": True, "unet3d_kwargs": {"num_levels": 4, "f_maps": 32,
                                                                   "in_channels": 32, "out_channels": 32,
                                                                   "is_unet": True}},
              "decoder": "simple_local_attention_sub",
              "decoder_kwargs": {"sample_mode": "bilinear", "hidden_size": 32, "plane_type": "grid",
                                 "num_heads": 4, "K_neighbors": 10},
              "c_dim": 32},
    "training": {"out_dir": "out/x", "batch_size": 10, "model_selection_metric": "iou",
                 "model_selection_mode": "maximize"},
    "test": {"threshold": 0.2, "remove_wall": True},
    "generation": {"generation_dir": "mc", "vis_n_outputs": 2, "refine": False, "n_x": 128, "n_z": 1},
}

UPSTREAM_LIKE_CROP = {
    "method": "conv_onet",
    "data": {"input_type": "pointcloud_crop", "unit_size": 0.005, "query_vol_size": 25, "multi_files": 10},
    "model": {"local_coord": True, "encoder": "pointnet_crop_local_pool",
              "encoder_kwargs": {"hidden_dim": 32, "plane_type": ["grid"], "unet3d": True,
                                 "unet3d_kwargs": {"num_levels": 4, "f_maps": 32, "in_channels": 32,
                                                   "out_channels": 32}},
              "decoder": "simple_local_crop", "decoder_kwargs": {"sample_mode": "bilinear", "hidden_size": 32},
              "c_dim": 32},
    "training": {"batch_size": 2, "validate_every": 1000000000},
    "generation": {"sliding_window": True, "resolution_0": 32, "upsampling_steps": 0},
}


@pytest.fixture
def upstream_checkout(tmp_path: Path) -> Path:
    root = tmp_path / "upstream"
    write(root / "configs/default.yaml", UPSTREAM_LIKE_DEFAULT)
    write(root / "configs/voxel/room_grid64_attention_sub_2gpu.yaml", UPSTREAM_LIKE_ROOM_GRID_ATTENTION)
    write(root / "configs/pointcloud_crop/room_grid64.yaml", UPSTREAM_LIKE_CROP)
    write(
        root / "configs/pointcloud_crop/pretrained/room_grid64.yaml",
        {"inherit_from": "configs/pointcloud_crop/room_grid64.yaml",
         "generation": {"generation_dir": "generation_pretrained"},
         "test": {"model_file": "https://example.org/models/room_grid64.pt"}},
    )
    return root


def test_default_config_is_valid() -> None:
    cfg = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    validate_config(cfg, source=str(DEFAULT_CONFIG_PATH))
    assert cfg["data"]["padding"] == pytest.approx(0.1)
    assert set(cfg) >= {"data", "model", "training", "test", "generation"}


def test_upstream_shaped_configs_load_unchanged_from_any_directory(
    upstream_checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the checkout: parents resolve against the file's ancestors
    loaded = {
        path.relative_to(upstream_checkout).as_posix(): load_config(path)
        for path in sorted(upstream_checkout.rglob("*.yaml"))
    }
    assert len(loaded) == 4
    grid = loaded["configs/voxel/room_grid64_attention_sub_2gpu.yaml"]
    assert grid["model"]["decoder_kwargs"]["num_heads"] == 4
    assert grid["model"]["encoder_kwargs"]["unet3d_kwargs"]["is_unet"] is True
    assert grid["data"]["padding"] == pytest.approx(0.1)  # from alto's defaults
    pretrained = loaded["configs/pointcloud_crop/pretrained/room_grid64.yaml"]
    assert pretrained["generation"]["generation_dir"] == "generation_pretrained"
    assert pretrained["data"]["query_vol_size"] == 25  # inherited from the parent
    assert pretrained["test"]["model_file"].startswith("https://")


def test_inheritance_merges_dicts_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path / "parent.yaml", {
        "data": {"pointcloud_n": 3000, "classes": ["a", "b"]},
        "model": {"encoder_kwargs": {"hidden_dim": 32, "plane_type": ["xz", "xy"]}},
    })
    child = write(tmp_path / "nested/child.yaml", {
        "inherit_from": "parent.yaml",
        "data": {"classes": ["c"]},
        "model": {"encoder_kwargs": {"plane_type": ["yz"]}},
    })
    cfg = load_config(child)
    assert cfg["data"]["classes"] == ["c"]
    assert cfg["data"]["pointcloud_n"] == 3000
    assert cfg["model"]["encoder_kwargs"] == {"hidden_dim": 32, "plane_type": ["yz"]}
    assert cfg["data"]["padding"] == pytest.approx(0.1)
    assert "inherit_from" not in cfg


def test_overrides_apply_last_and_are_validated(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"training": {"batch_size": 32}})
    cfg = load_config(path, overrides=[parse_dotted_overrides(["training.batch_size=4", "data.classes=[x, y]"])])
    assert cfg["training"]["batch_size"] == 4
    assert cfg["data"]["classes"] == ["x", "y"]
    with pytest.raises(ConfigError, match=r"<override>: key 'training.batch_size': expected integer"):
        load_config(path, overrides=[parse_dotted_overrides(["training.batch_size=many"])])


@pytest.mark.parametrize("bad", ["training.batch_size", "=4", "a..b=1"])
def test_malformed_override_is_named(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"expected KEY\.PATH=VALUE"):
        parse_dotted_overrides([bad])


def test_typo_names_file_key_path_and_closest_key(tmp_path: Path) -> None:
    write(tmp_path / "parent.yaml", {"data": {"pointcloud_n": 3000}})
    child = write(tmp_path / "child.yaml", {
        "inherit_from": "parent.yaml",
        "model": {"decoder_kwargs": {"hiden_size": 32}},
    })
    with pytest.raises(ConfigError) as info:
        load_config(child)
    message = str(info.value)
    assert f"{child.resolve()}: key 'model.decoder_kwargs.hiden_size' is not a valid key" in message
    assert "did you mean 'hidden_size'?" in message


def test_error_names_the_file_that_set_the_key(tmp_path: Path) -> None:
    parent = write(tmp_path / "parent.yaml", {"data": {"pointcloud_noise": "loud"}})
    child = write(tmp_path / "child.yaml", {"inherit_from": "parent.yaml", "data": {"pointcloud_n": 10}})
    with pytest.raises(ConfigError) as info:
        load_config(child)
    message = str(info.value)
    assert f"{parent.resolve()}: key 'data.pointcloud_noise': expected number, got str 'loud'" in message
    assert str(child.resolve()) not in message


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"model": {"encoder_kwargs": {"plane_type": ["xz", "zx"]}}},
         r"key 'model.encoder_kwargs.plane_type.1': expected one of \['xz', 'xy', 'yz', 'grid'\], got 'zx'"),
        ({"test": {"threshold": 1.5}}, r"key 'test.threshold': 1.5 is greater than or equal"),
        ({"data": {"classes": "chairs"}}, r"key 'data.classes': expected array or null, got str"),
        ({"trainig": {"batch_size": 3}}, r"key 'trainig' is not a valid key in the top level; "
                                               r"did you mean 'training'\?"),
    ],
)
def test_wrong_values_are_reported_with_expectation(tmp_path: Path, section: dict, expected: str) -> None:
    path = write(tmp_path / "c.yaml", section)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"data": {"pointcloud_nn": 1, "padding": "x"}, "training": {"batch_size": 0}})
    with pytest.raises(ConfigError, match=r"3 problems") as info:
        load_config(path)
    assert all(k in str(info.value) for k in ("data.pointcloud_nn", "data.padding", "training.batch_size"))


def test_missing_parent_lists_the_places_tried(tmp_path: Path) -> None:
    child = write(tmp_path / "a/child.yaml", {"inherit_from": "nowhere/parent.yaml"})
    with pytest.raises(ConfigError, match=r"key 'inherit_from': parent config 'nowhere/parent.yaml' not found") as info:
        load_config(child)
    assert str(tmp_path / "a" / "nowhere" / "parent.yaml") in str(info.value)


def test_inheritance_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"inherit_from": "b.yaml"})
    write(tmp_path / "b.yaml", {"inherit_from": "a.yaml"})
    with pytest.raises(ConfigError, match="forms a cycle"):
        load_config(tmp_path / "a.yaml")


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.yaml", "data:\n  path: [unclosed\n  pointcloud_n: 3\n")
    with pytest.raises(ConfigError, match=r"broken.yaml \(line \d+, column \d+\): invalid YAML"):
        load_config(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_config(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_merge_does_not_modify_its_arguments() -> None:
    base = {"a": {"b": 1, "c": [1]}}
    override = {"a": {"b": 2}}
    merged = merge_configs(base, override)
    assert merged == {"a": {"b": 2, "c": [1]}}
    assert base == {"a": {"b": 1, "c": [1]}}
    merged["a"]["c"].append(2)
    assert base["a"]["c"] == [1]


def test_validate_requires_sections() -> None:
    with pytest.raises(ConfigError, match="'generation' is a required property"):
        validate_config({"data": {}, "model": {}, "training": {}, "test": {}})


@pytest.mark.parametrize(
    "path", sorted((REPO / "config" / "experiments").glob("*.yaml")), ids=lambda p: p.name
)
def test_shipped_experiments_are_valid(path: Path) -> None:
    cfg = load_config(path)
    assert cfg["model"]["encoder"] == "pointnet_local_pool"
    assert cfg["training"]["out_dir"]


def test_cli_check_reports_and_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.yaml", {"data": {"pointcloud_n": 10}})
    bad = write(tmp_path / "bad.yaml", {"data": {"pointcloud_nn": 10}})
    assert alto_main(["config", "check", str(good)]) == 0
    assert alto_main(["config", "check", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "FAIL" in err and "data.pointcloud_nn" in err and "pointcloud_n" in err


def test_cli_show_prints_merged_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "c.yaml", {"data": {"pointcloud_n": 10}})
    assert alto_main(["config", "show", str(path), "--set", "training.batch_size=3"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["training"]["batch_size"] == 3
    assert shown["data"]["pointcloud_n"] == 10
    assert shown["data"]["padding"] == pytest.approx(0.1)


def test_a_parent_inside_the_package_is_named_with_the_alto_prefix(tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml", {
        "inherit_from": "alto:models/configs/alto_shapenet_3plane.yaml",
        "training": {"out_dir": "out", "batch_size": 4},
    })
    cfg = load_config(child)
    assert cfg["model"]["decoder"] == "simple_local_attention_sub"
    assert cfg["data"]["pointcloud_n"] == 3000 and cfg["training"]["batch_size"] == 4


def test_a_missing_package_parent_is_named_in_the_error(tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml", {"inherit_from": "alto:models/configs/nothing.yaml"})
    with pytest.raises(ConfigError, match=r"no config 'alto:models/configs/nothing.yaml' in the alto package"):
        load_config(child)


#: a valid value of each schema type, for configs that carry every no-effect key
SAMPLE_VALUES = {"boolean": True, "integer": 3, "number": 0.25, "string": "upstream", "null": None}


def _no_effect_sections(schema: dict, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every object section of the schema that has keys marked "(upstream ..., unused)"."""
    found = [path] if no_effect_keys(*path) else []
    for name, spec in schema.get("properties", {}).items():
        if "properties" in spec:
            found += _no_effect_sections(spec, (*path, name))
    return found


def _sample(spec: dict) -> object:
    if "$ref" in spec:
        return None
    kind = spec["type"]
    return SAMPLE_VALUES[kind[0] if isinstance(kind, list) else kind]


def test_upstream_keys_marked_unused_load_and_have_no_effect(caplog: pytest.LogCaptureFixture) -> None:
    """The schema's promise: keys marked "(upstream, unused)" are accepted and change nothing."""
    plain = load_config(REPO / "config" / "experiments" / "demo_alto_rooms.yaml")
    carrying = copy.deepcopy(plain)
    sections = _no_effect_sections(experiment_schema())
    assert ("model",) in sections and ("model", "decoder_kwargs") in sections
    for path in sections:
        schema, target = experiment_schema(), carrying
        for key in path:
            schema, target = schema["properties"][key], target.setdefault(key, {})
        target.update({key: _sample(schema["properties"][key]) for key in no_effect_keys(*path)})
    assert carrying["model"]["local_coord"] is True and carrying["model"]["pos_encoding"] == "upstream"
    validate_config(carrying, source="carrying.yaml")
    with caplog.at_level(logging.INFO, logger="alto.models.build"):
        model = build_model(carrying)
    assert "model.local_coord=True has no effect" in caplog.text
    assert "model.decoder_kwargs.gaussian_val=0.25 has no effect" in caplog.text
    expected = build_model(plain).state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in model.state_dict().items())
    assert model.state_dict().keys() == expected.keys()
    assert extractor_from_config(carrying) == extractor_from_config(plain)


def _property_specs(schema: dict) -> list[tuple[str, dict]]:
    specs = []
    for name, spec in schema.get("properties", {}).items():
        specs += [(name, spec), *_property_specs(spec)]
    return specs


def test_schema_descriptions_are_whole_strings() -> None:
    """An unquoted comma in a YAML flow mapping splits a description into a bogus key."""
    specs = _property_specs(experiment_schema())
    split = [(name, sorted(key for key, value in spec.items() if value is None)) for name, spec in specs]
    assert [entry for entry in split if entry[1]] == []


def test_code_defaults_are_the_packaged_ones(tmp_path: Path) -> None:
    """Code given a partial config falls back to the same values a loaded config carries."""
    loaded = load_config(write(tmp_path / "minimal.yaml", {"training": {"out_dir": str(tmp_path)}}))
    partial = {"data": {"path": loaded["data"]["path"], "input_type": loaded["data"]["input_type"]}}
    assert ExperimentConfig.from_dict(partial).to_dict()["data"] == loaded["data"]
    assert input_profile(partial) == input_profile(loaded)
    without_seed = {key: value for key, value in loaded.items() if key != "seed"}
    assert ExperimentConfig.from_dict(without_seed).seed == loaded["seed"] == DEFAULT_SEED
    assert DEFAULT_PADDING == loaded["data"]["padding"]
    assert alto.ops.DEFAULT_PADDING == alto.mesh.lattice.DEFAULT_PADDING == UNIT_CUBE_PADDING == DEFAULT_PADDING
    assert inspect.signature(Reconstructor).parameters["seed"].default == DEFAULT_SEED
