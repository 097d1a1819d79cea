"""Checkpoints: upstream layouts through the converter, our format, and the errors."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from alto.cli.main import main as alto_main
from alto.errors import CheckpointError
from alto.models import build_model, load_checkpoint, save_checkpoint
from alto.models.reference import load_reference

REFERENCE_DIR = Path(__file__).parent / "data" / "reference"
TOLERANCE = 1e-5


def _data_parallel(state: dict, nested: str) -> dict:
    """The key layout of ALTO's releases: ``module.`` everywhere, and again inside the U-Net."""
    out = {}
    for key, value in state.items():
        if key.startswith(nested):
            key = nested + "module." + key[len(nested) :]
        out["module." + key] = value
    return out


def _upstream_file(tmp_path: Path, state: dict) -> Path:
    path = tmp_path / "model_best.pt"
    optimizer = {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 1e-4, "params": [0]}]}
    torch.save(
        {"model": state, "optimizer": optimizer, "epoch_it": 7, "it": 1200, "loss_val_best": np.float64(0.81)},
        path,
    )
    return path


def test_alto_data_parallel_checkpoint_reproduces_the_reference(tmp_path):
    case = load_reference(REFERENCE_DIR, "alto_shapenet_3plane")
    path = _upstream_file(tmp_path, _data_parallel(case.upstream_state, "encoder.unet."))
    loaded = load_checkpoint(path, cfg=case.config)
    assert loaded["source_format"] == "upstream"
    assert sorted(loaded["dropped_keys"]) == sorted(case.unused_parameters)
    assert loaded["optimizer"] is None  # refers to upstream parameters
    assert (loaded["it"], loaded["epoch_it"]) == (1200, 7)
    assert loaded["loss_val_best"] == pytest.approx(0.81)
    model = loaded["model"].eval()
    with torch.no_grad():
        logits = model(case.query, case.inputs)
    assert (logits - case.logits).abs().max().item() < TOLERANCE


def test_convert_checkpoint_command_writes_a_self_contained_checkpoint(tmp_path, capsys):
    case = load_reference(REFERENCE_DIR, "alto_shapenet_3plane")
    source = _upstream_file(tmp_path, _data_parallel(case.upstream_state, "encoder.unet."))
    config = tmp_path / "alto.yaml"
    config.write_text(yaml.safe_dump(case.config))
    out = tmp_path / "converted" / "model_best.pt"
    assert alto_main(["convert-checkpoint", str(source), str(out), "--config", str(config)]) == 0
    assert "upstream checkpoint, 2747521 parameters, 10 unused upstream tensors dropped" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["model_best.pt"]  # no temporary left
    raw = torch.load(out, weights_only=True)
    assert raw["format"] == "alto-checkpoint"
    assert {k: raw["config"]["model"][k] for k in case.config["model"]} == case.config["model"]
    assert "training" in raw["config"]  # the full experiment config, defaults merged
    assert not any(k.startswith("module.") or "fc_interpolated_fea" in k for k in raw["model"])
    reloaded = load_checkpoint(out)  # no config or model needed: the file has both
    assert reloaded["source_format"] == "alto" and reloaded["it"] == 1200
    with torch.no_grad():
        logits = reloaded["model"].eval()(case.query, case.inputs)
    assert (logits - case.logits).abs().max().item() < TOLERANCE


def test_convert_checkpoint_without_config_fails_cleanly(tmp_path):
    case = load_reference(REFERENCE_DIR, "convonet_shapenet_3plane")
    source = _upstream_file(tmp_path, case.upstream_state)
    assert alto_main(["convert-checkpoint", str(source), str(tmp_path / "out.pt")]) == 2
    assert not (tmp_path / "out.pt").exists()


def test_volume_unet_prefix_is_stripped(tmp_path):
    case = load_reference(REFERENCE_DIR, "alto_room_grid64")
    path = _upstream_file(tmp_path, _data_parallel(case.upstream_state, "encoder.unet3d."))
    loaded = load_checkpoint(path, cfg=case.config)
    direct = load_checkpoint({"model": case.upstream_state}, cfg=case.config)
    assert sorted(loaded["dropped_keys"]) == sorted(case.unused_parameters)
    for name, value in direct["model"].state_dict().items():
        assert torch.equal(loaded["model"].state_dict()[name], value)


def test_missing_and_unexpected_keys_are_all_named():
    case = load_reference(REFERENCE_DIR, "convonet_shapenet_3plane")
    state = dict(case.upstream_state)
    del state["encoder.unet.up_convs.1.conv2.weight"]
    state["encoder.extra_head.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint({"model": state}, cfg=case.config)
    message = str(err.value)
    assert "missing keys [encoder.unet.up_convs.1.conv2.weight]" in message
    assert "unexpected keys [encoder.extra_head.weight]" in message


def test_shape_mismatch_is_named_and_nothing_is_loaded():
    case = load_reference(REFERENCE_DIR, "convonet_shapenet_3plane")
    model = build_model(case.config)
    before = copy.deepcopy(model.state_dict())
    state = dict(case.upstream_state)
    state["decoder.fc_p.weight"] = torch.zeros(32, 4)
    with pytest.raises(CheckpointError, match=r"decoder.fc_p.weight: checkpoint \(32, 4\) vs model \(32, 3\)"):
        load_checkpoint({"model": state}, model)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])


def test_our_format_round_trip_keeps_training_state(tmp_path):
    case = load_reference(REFERENCE_DIR, "convonet_shapenet_3plane")
    model = build_model({**case.config, "seed": 3})
    optimizer = torch.optim.Adam(model.parameters())
    model(case.query[:, :8], case.inputs[:, :100]).sum().backward()
    optimizer.step()
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        model,
        optimizer=optimizer.state_dict(),
        epoch_it=2,
        it=40,
        loss_val_best=np.float32(0.5),
        batch_in_epoch=5,
    )
    loaded = load_checkpoint(path)
    assert loaded["source_format"] == "alto" and loaded["dropped_keys"] == []
    assert (loaded["epoch_it"], loaded["it"], loaded["batch_in_epoch"]) == (2, 40, 5)
    assert loaded["loss_val_best"] == 0.5
    fresh = torch.optim.Adam(loaded["model"].parameters())
    fresh.load_state_dict(loaded["optimizer"])
    for name, value in model.state_dict().items():
        assert torch.equal(loaded["model"].state_dict()[name], value)
    again = build_model(case.config)
    load_checkpoint(path, again)
    assert torch.equal(again.decoder.fc_p.weight, model.decoder.fc_p.weight)


def test_unreadable_files_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint {garbage}"):
        load_checkpoint(garbage)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"model": {}, "hook": Path("x")}, unsafe)  # an arbitrary class: refused
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(unsafe)
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(CheckpointError, match="holds a list, expected a dict"):
        load_checkpoint(listed)


def test_format_version_and_missing_config_are_checked(tmp_path):
    case = load_reference(REFERENCE_DIR, "convonet_shapenet_3plane")
    model = build_model(case.config)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model)
    data = torch.load(path, weights_only=True)
    data["format_version"] = 99
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(data)
    with pytest.raises(CheckpointError, match="carries no experiment config"):
        load_checkpoint({"model": case.upstream_state})
    model.config = None
    with pytest.raises(CheckpointError, match="no experiment config to store"):
        save_checkpoint(tmp_path / "other.pt", model)
