"""`alto data` commands used by the workflow: list, check --stamp, download --url, scannet modes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from alto.cli.main import main as alto_main
from alto.data.demo import DemoResult
from alto.data.layout import read_split


def test_list_writes_every_test_object(demo_dataset: DemoResult, tmp_path: Path) -> None:
    out = tmp_path / "split.txt"
    assert alto_main(["data", "list", str(demo_dataset.objects_root), "--split", "test", "--out", str(out)]) == 0
    listed = out.read_text().splitlines()
    expected = [
        f"{category}/{model}"
        for category in sorted(demo_dataset.objects)
        for model in read_split(Path(demo_dataset.objects_root), category, "test")
    ]
    assert listed == expected
    assert len(listed) == len(demo_dataset.objects)  # one test object per category in the tiny demo


def test_list_limits_per_class_and_prints(
    demo_dataset: DemoResult, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(demo_dataset.objects_root)
    category = sorted(demo_dataset.objects)[0]
    assert alto_main(["data", "list", root, "--split", "train", "--classes", category, "--max-per-class", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{category}/{read_split(Path(root), category, 'train')[0]}"]


def test_list_names_a_missing_split(demo_dataset: DemoResult) -> None:
    assert alto_main(["data", "list", str(demo_dataset.objects_root), "--split", "nosuchsplit"]) == 2


def test_check_writes_a_stamp_only_when_valid(demo_dataset: DemoResult, tmp_path: Path) -> None:
    stamp = tmp_path / "stamp.json"
    assert alto_main(["data", "check", str(demo_dataset.rooms_root), "--limit", "1", "--stamp", str(stamp)]) == 0
    summary = json.loads(stamp.read_text())
    assert set(summary["categories"]) == set(demo_dataset.rooms)
    empty = tmp_path / "empty_dataset"
    (empty / "cat" / "model").mkdir(parents=True)
    (empty / "cat" / "test.lst").write_text("model\n")
    bad_stamp = tmp_path / "bad.json"
    assert alto_main(["data", "check", str(empty), "--splits", "test", "--stamp", str(bad_stamp)]) == 1
    assert not bad_stamp.exists()


def test_download_of_any_url_into_a_file(tmp_path: Path) -> None:
    source = tmp_path / "published.pt"
    source.write_bytes(b"checkpoint bytes")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = tmp_path / "models" / "copy.pt"
    args = ["data", "download", "--url", source.as_uri(), "--dest", str(dest)]
    assert alto_main([*args, "--sha256", digest]) == 0
    assert dest.read_bytes() == b"checkpoint bytes"
    dest.unlink()
    assert alto_main([*args, "--sha256", "0" * 64]) == 2
    assert not dest.exists()


def test_scannet_index_only_explains_a_missing_scannet_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no_scannet_here"
    code = alto_main(["data", "scannet", "--scans", str(missing), "--out", str(tmp_path / "out"), "--index-only"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "cannot be downloaded automatically" in err


def test_check_of_scans_without_occupancy_samples(demo_dataset: DemoResult, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "scans"
    source = Path(demo_dataset.objects_root)
    category = sorted(demo_dataset.objects)[0]
    model = read_split(source, category, "test")[0]
    (root / category / model).mkdir(parents=True)
    shutil.copy(source / category / model / "pointcloud.npz", root / category / model)
    (root / category / "test.lst").write_text(f"{model}\n")
    args = ["data", "check", str(root), "--splits", "test"]
    assert alto_main(args) == 1  # occupancy samples are missing
    assert alto_main([*args, "--surface-only"]) == 0
