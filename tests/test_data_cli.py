"""``alto data demo | from-meshes | check`` through the ``alto`` entry point."""

from __future__ import annotations

import shutil

import numpy as np
import trimesh

from alto.cli.main import main


def test_demo_then_check(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    args = ["data", "demo", str(out), "--seed", "2", "--categories", "03797390", "04256520",
            "--objects-per-category", "3", "--points", "800", "--surface-points", "400", "--rooms-per-class", "2",
            "--room-files", "2", "--room-points", "500", "--room-surface-points", "500", "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "03797390 (mug): train 1, val 1, test 1" in printed and "rooms_08: train 1, val 0, test 1" in printed
    assert np.load(out / "objects" / "03797390" / "mug_0000" / "points.npz")["points"].shape == (800, 3)
    assert main(["data", "check", str(out / "objects")]) == 0
    assert "checked 6 models, 12 files: 0 problem(s)" in capsys.readouterr().out
    assert main(["data", "check", str(out / "rooms")]) == 0
    assert "checked 10 models, 40 files: 0 problem(s)" in capsys.readouterr().out
    shutil.rmtree(out / "rooms" / "rooms_05" / "00000000" / "pointcloud")
    assert main(["data", "check", str(out / "rooms")]) == 1
    assert "00000000: neither pointcloud.npz nor pointcloud/ found" in capsys.readouterr().out


def test_from_meshes_cli_and_errors(tmp_path, capsys) -> None:
    src = tmp_path / "meshes"
    src.mkdir()
    trimesh.creation.box([1.0, 2.0, 3.0]).export(src / "a.off")
    trimesh.creation.capsule(height=1.0, radius=0.3).export(src / "b.ply")
    out = tmp_path / "out"
    args = ["data", "from-meshes", str(src), str(out), "--category", "things", "--points", "500",
            "--surface-points", "200", "--workers", "2"]  # fmt: skip
    assert main(args) == 0
    assert "built 2 model(s), skipped 0" in capsys.readouterr().out
    assert (out / "things" / "b" / "pointcloud.npz").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "from-meshes", str(empty), str(out)]) == 2  # AltoError: clean message, exit code 2
    assert main(["data", "demo", str(out), "--categories", "nope"]) == 2
