"""One resolution of device names for training, generation and reconstruction (CPU only)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from alto.cli.main import main as alto_main
from alto.config import load_config
from alto.devices import resolve_device
from alto.errors import ConfigError, InputError
from alto.models import build_model
from alto.reconstruction import Reconstructor, load_model, reconstruct
from alto.train.distributed import ProcessInfo
from alto.train.trainer import select_device

REPO = Path(__file__).parents[1]


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_names_resolve_to_devices(two_gpus: None) -> None:
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda", 0)) == torch.device("cuda", 0)


def test_auto_falls_back_to_the_cpu(no_cuda: None) -> None:
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("spec", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_clear_error(no_cuda: None, spec: str) -> None:
    with pytest.raises(InputError, match=rf"--device: '{spec}' was asked for but CUDA is not available"):
        resolve_device(spec)


def test_index_out_of_range_and_unknown_names(two_gpus: None) -> None:
    with pytest.raises(InputError, match=r"'cuda:2' is out of range; this machine has 2 CUDA device"):
        resolve_device("cuda:2")
    for spec in ("gpu", "cuda:", "cuda:x", "CPU"):
        with pytest.raises(InputError, match=rf"unknown device '{spec}'"):
            resolve_device(spec)
    with pytest.raises(ConfigError, match=r"^training\.device: unknown device 'tpu'"):
        resolve_device("tpu", "training.device", ConfigError)


def test_training_names_its_config_key(no_cuda: None) -> None:
    assert select_device("auto", ProcessInfo.from_env()) == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"training\.device: 'cuda' was asked for but CUDA is not available"):
        select_device("cuda", ProcessInfo.from_env())


@pytest.mark.parametrize("command", ["generate", "reconstruct"])
def test_cli_refuses_cuda_before_any_work(no_cuda: None, tmp_path, capsys, command: str) -> None:
    """The missing GPU is reported even though the (absent) inputs were never read."""
    missing = str(tmp_path / "missing")
    argv = [command, missing, "--device", "cuda"]
    if command == "reconstruct":
        argv = [command, missing, "--model", missing, "--output", missing + ".ply", "--device", "cuda"]
    assert alto_main(argv) == 2
    assert "--device: 'cuda' was asked for but CUDA is not available" in capsys.readouterr().err


def test_python_api_refuses_cuda(no_cuda: None, tmp_path) -> None:
    with pytest.raises(InputError, match="device: 'cuda' was asked for"):
        load_model(tmp_path / "missing.pt", device="cuda")
    with pytest.raises(InputError, match="device: 'cuda:1' was asked for"):
        reconstruct([[0.0, 0.0, 0.0]], tmp_path / "missing.pt", device="cuda:1")
    model = build_model(load_config(REPO / "config" / "experiments" / "demo_convonet_objects.yaml"))
    with pytest.raises(InputError, match="device: 'cuda' was asked for"):
        Reconstructor(model, device="cuda")
    assert Reconstructor(model, device="auto").device == torch.device("cpu")
