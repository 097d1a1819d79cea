"""Published models by name: the catalog, the per-user cache, ``alto models``, ``-m NAME``.

The "published" checkpoints are built here from the reference weights
(``tests/data/reference``) in the authors' layouts (ALTO's with DataParallel
prefixes) and served from a local HTTP server, behind a Drive-style confirmation
page where the real one has it, and from ``file://`` mirrors.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from download_helpers import (
    LocalServer,
    closed_port_url,
    no_proxies,  # noqa: F401 (an autouse fixture)
    sha256,
)

import alto
from alto.cli.main import main as alto_main
from alto.config import load_config
from alto.data.download import CONVONET_CHECKPOINTS
from alto.errors import DataError, InputError
from alto.models import build_model, load_checkpoint
from alto.models.catalog import CATALOG, input_profile, published_model
from alto.models.reference import load_reference
from alto.models.zoo import CACHE_ENV, MIRROR_ENV, cached_paths, fetch_model, read_record, resolve_checkpoint

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "data" / "reference"
#: catalog name -> reference case with the same architecture (its upstream state dict names and shapes)
REFERENCE_CASES = {
    "alto-shapenet": "alto_shapenet_3plane",
    "alto-rooms-grid64": "alto_room_grid64",
    "convonet-shapenet-3plane": "convonet_shapenet_3plane",
    "convonet-rooms-3plane": "convonet_room_3plane",
    "convonet-rooms-grid64": "convonet_room_grid64",
}
#: catalog name -> our training experiment of the same published setup
EXPERIMENTS = {
    "alto-shapenet": "alto_shapenet_3plane",
    "alto-rooms-grid64": "alto_rooms_grid64",
    "convonet-shapenet-3plane": "convonet_shapenet_3plane",
    "convonet-rooms-grid64": "convonet_rooms_grid64",
}
ITERATIONS = 42


def published_bytes(name: str) -> bytes:
    """An upstream checkpoint of catalog model ``name`` as its authors save it (reference weights)."""
    state = load_reference(REFERENCE, REFERENCE_CASES[name]).upstream_state
    if name.startswith("alto-"):  # ALTO's DataParallel layout: module. and encoder.unet(3d).module.
        state = {"module." + key.replace("encoder.unet.", "encoder.unet.module."): value
                 for key, value in state.items()}
    buffer = io.BytesIO()
    torch.save({"model": state, "optimizer": {}, "epoch_it": 3, "it": ITERATIONS, "loss_val_best": 0.25}, buffer)
    return buffer.getvalue()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    return folder


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def mirror(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    monkeypatch.setenv(MIRROR_ENV, prefix)


# ----------------------------------------------------------------------------- the catalog


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_catalog_model_builds_from_its_packaged_config(name: str) -> None:
    model = published_model(name)
    cfg = model.load_config()
    build_model(cfg)
    assert model.config_path.is_relative_to(REPO / "alto")  # shipped with the package, not config/
    profile = model.profile()
    assert profile.frame == ("scene" if "rooms" in name else "object")
    assert profile.points == (10000 if "rooms" in name else 3000) and profile.noise == 0.005
    assert profile.partial == name.endswith("-partial")
    if model.method == "ConvONet":
        assert model.url in CONVONET_CHECKPOINTS.values()


@pytest.mark.parametrize("name", list(REFERENCE_CASES))
def test_catalog_architectures_are_those_of_the_published_weights(name: str) -> None:
    reference = load_reference(REFERENCE, REFERENCE_CASES[name]).config["model"]
    packaged = published_model(name).load_config()["model"]
    assert {key: packaged[key] for key in reference} == reference


@pytest.mark.parametrize(("name", "experiment"), list(EXPERIMENTS.items()))
def test_training_experiments_of_published_setups_match_the_catalog(name: str, experiment: str) -> None:
    ours = load_config(REPO / "config" / "experiments" / f"{experiment}.yaml")
    packaged = published_model(name).load_config()
    assert ours["model"] == packaged["model"]
    assert input_profile(ours) == input_profile(packaged)


def test_unknown_names_list_the_catalog(cache: Path) -> None:
    with pytest.raises(InputError, match="alto-shapenet"):
        published_model("alto-shapenet-xl")
    with pytest.raises(InputError, match=r"no published model of that name \(alto-shapenet, "):
        resolve_checkpoint("alto-shapenet-xl")


# ----------------------------------------------------------------------------- fetch and cache


def test_drive_confirmation_then_cache_then_offline(cache: Path, server: LocalServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = published_bytes("alto-shapenet")
    server.serve("alto-shapenet.pt", data, drive="form")
    mirror(monkeypatch, server.origin)
    path = fetch_model("alto-shapenet")
    assert path == cached_paths("alto-shapenet")[0]
    record = read_record("alto-shapenet")
    assert record["upstream_sha256"] == sha256(data) and record["source_format"] == "upstream"
    assert record["iterations"] == ITERATIONS and record["dropped_keys"]
    loaded = load_checkpoint(path)
    assert loaded["source_format"] == "alto" and loaded["it"] == ITERATIONS
    assert sorted(p.name for p in cache.iterdir()) == ["alto-shapenet.json", "alto-shapenet.pt", "downloads"]
    assert list((cache / "downloads").iterdir()) == []

    requests = len(server.requests)
    mirror(monkeypatch, closed_port_url(""))
    assert fetch_model("alto-shapenet") == path
    assert len(server.requests) == requests


def test_a_recorded_checksum_is_checked_on_every_use_and_refetch(cache: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "convonet-shapenet-3plane.pt").write_bytes(published_bytes("convonet-shapenet-3plane"))
    mirror(monkeypatch, folder.as_uri())
    path = fetch_model("convonet-shapenet-3plane")

    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(DataError, match="--force"):
        fetch_model("convonet-shapenet-3plane")

    (folder / "convonet-shapenet-3plane.pt").write_bytes(published_bytes("convonet-rooms-3plane"))
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch_model("convonet-shapenet-3plane", force=True)
    (folder / "convonet-shapenet-3plane.pt").write_bytes(published_bytes("convonet-shapenet-3plane"))
    refetched = fetch_model("convonet-shapenet-3plane", force=True)
    assert fetch_model("convonet-shapenet-3plane") == refetched  # verified against the new record
    assert load_checkpoint(refetched)["it"] == ITERATIONS


@pytest.mark.parametrize("answer", ["html", "text"])
def test_a_download_that_is_no_checkpoint_is_refused_saying_what_came_back(
    cache: Path, server: LocalServer, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    if answer == "html":
        server.serve("alto-shapenet.pt", b"<html><head><title>Sign in - Google Accounts</title></head></html>",
                     html=True)
        expected = "HTML page titled 'Sign in - Google Accounts'"
    else:
        server.serve("alto-shapenet.pt", b"quota exceeded, try again tomorrow\n")
        expected = "starting with b'quota exceeded"
    mirror(monkeypatch, server.origin)
    with pytest.raises(DataError) as info:
        fetch_model("alto-shapenet")
    message = str(info.value)
    assert expected in message and str(cache / "downloads" / "alto-shapenet.pt") in message
    assert not cached_paths("alto-shapenet")[0].exists()


def test_offline_without_a_cache_says_how_to_get_the_model(cache: Path) -> None:
    with pytest.raises(DataError, match="alto models fetch convonet-rooms-grid64"):
        fetch_model("convonet-rooms-grid64", offline=True)


# ----------------------------------------------------------------------------- commands


def test_models_list_and_fetch_commands(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "convonet-shapenet-3plane.pt").write_bytes(published_bytes("convonet-shapenet-3plane"))
    mirror(monkeypatch, folder.as_uri())
    assert alto_main(["models", "list", "--urls"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in CATALOG)
    assert f"{folder.as_uri()}/alto-shapenet.pt" in listing

    out, summary = tmp_path / "run" / "model_best.pt", tmp_path / "run" / "train_summary.json"
    assert alto_main(["models", "fetch", "convonet-shapenet-3plane", "--out", str(out), "--summary",
                      str(summary)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes() == cached_paths("convonet-shapenet-3plane")[0].read_bytes()
    assert json.loads(summary.read_text())["iterations"] == ITERATIONS
    assert alto_main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("convonet-shapenet-3plane "))
    assert row.split()[2] == "yes"
    assert alto_main(["models", "fetch", "no-such-model"]) == 2


def test_a_checkpoint_outside_the_catalog_is_fetched_by_url(cache: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    upstream = tmp_path / "mine.pt"
    upstream.write_bytes(published_bytes("convonet-rooms-grid64"))
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({"inherit_from": str(published_model("convonet-rooms-grid64").config_path)}))
    assert alto_main(["models", "fetch", "--url", upstream.as_uri(), "--config", str(config),
                      "--sha256", sha256(upstream.read_bytes())]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.parent == cache and load_checkpoint(path)["source_format"] == "alto"


# ----------------------------------------------------------------------------- -m NAME


def test_a_model_argument_is_a_file_a_published_name_or_an_experiment(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one resolver behind `alto reconstruct -m`, `alto generate --checkpoint` and `alto.reconstruct`."""
    results = tmp_path / "results" / "models"
    (results / "my_experiment").mkdir(parents=True)
    trained = results / "my_experiment" / "model_best.pt"
    trained.write_bytes(b"a checkpoint")
    assert resolve_checkpoint(trained, results) == trained
    assert resolve_checkpoint("my_experiment", results) == trained
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "convonet-shapenet-1plane.pt").write_bytes(published_bytes("convonet-shapenet-3plane"))
    mirror(monkeypatch, folder.as_uri())
    assert resolve_checkpoint("convonet-shapenet-1plane", results) == cached_paths("convonet-shapenet-1plane")[0]
    with pytest.raises(InputError, match="trained experiments: my_experiment"):
        resolve_checkpoint("my_experiment_2", results)


@pytest.mark.slow
def test_reconstruct_by_name_from_an_empty_cache_then_offline(
    cache: Path, server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A fresh install: `alto reconstruct scan.xyz -m NAME` downloads, converts, reconstructs.

    The server drops the connection part-way through the first download; the second
    run resumes it. The third runs with the publisher unreachable, from the cache.
    """
    name = "convonet-shapenet-3plane"
    server.serve(f"{name}.pt", published_bytes(name), drop_after=1_000_000)
    mirror(monkeypatch, server.origin)
    scan = tmp_path / "scan.xyz"
    points = np.random.default_rng(0).normal(size=(4000, 3))
    np.savetxt(scan, 2.0 * points / np.linalg.norm(points, axis=1, keepdims=True) + 7.0)
    out = tmp_path / "mesh.ply"
    command = ["reconstruct", str(scan), "-m", name, "-o", str(out), "--method", "dense",
               "--resolution", "16"]
    assert alto_main(command) == 2  # the connection dropped part-way: the error says to run it again
    assert alto_main(command) == 0  # ... which resumes the download
    assert out.is_file() and f"{out}: 4000 points in (3000 used, object mode)" in capsys.readouterr().out
    assert [r.headers.get("Range") for r in server.requests] == [None, "bytes=1000000-"]

    out.unlink()
    server.routes.clear()
    mirror(monkeypatch, closed_port_url(""))
    assert alto_main(command) == 0
    assert out.is_file()
    mesh = alto.reconstruct(np.loadtxt(scan), name, method="dense", resolution=16)
    assert mesh.vertices.shape[1] == 3
