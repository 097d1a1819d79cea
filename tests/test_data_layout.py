"""Seeding, split arithmetic, metadata and the packed-occupancy format."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from alto.data.formats import pack_occupancies, unpack_occupancies
from alto.data.layout import list_categories, read_metadata, read_split, split_counts, write_metadata, write_split
from alto.data.seeding import make_rng, stable_hash
from alto.errors import DataError


def _draws(*keys: int | str) -> np.ndarray:
    return make_rng(*keys).integers(0, 2**62, size=4)


def test_rng_depends_on_every_key_and_nothing_else() -> None:
    np.testing.assert_array_equal(_draws(0, "train", 1, 5), _draws(0, "train", 1, 5))
    variants = [(1, "train", 1, 5), (0, "val", 1, 5), (0, "train", 2, 5), (0, "train", 1, 6), (0, "train", 1, 5, 0)]
    for keys in variants:
        assert not np.array_equal(_draws(*keys), _draws(0, "train", 1, 5)), keys


def test_key_encoding_is_unambiguous() -> None:
    assert stable_hash(1) != stable_hash(1, 0)  # SeedSequence([1]) == SeedSequence([1, 0])
    assert stable_hash("1") != stable_hash(1)
    assert stable_hash("ab", "c") != stable_hash("a", "bc")
    assert stable_hash(2**40) != stable_hash(0, 256)
    with pytest.raises(TypeError):
        stable_hash(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        stable_hash(-1)


def test_hash_is_stable_across_processes() -> None:
    """Python's own ``hash`` of a str changes between processes; ours must not."""
    code = "from alto.data.seeding import stable_hash; print(stable_hash('03001627', 'chair_0001'))"
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert outputs == {f"{stable_hash('03001627', 'chair_0001')}\n"}


@pytest.mark.parametrize(
    ("n", "fractions", "expected"),
    [
        (1000, (0.75, 0.05, 0.2), [750, 50, 200]),
        (10, (0.7, 0.1, 0.2), [7, 1, 2]),
        (10, (0.75, 0.05, 0.2), [7, 1, 2]),
        (3, (0.7, 0.1, 0.2), [1, 1, 1]),
        (1, (0.7, 0.1, 0.2), [1, 0, 0]),
        (5, (1.0, 0.0, 0.0), [5, 0, 0]),
        (2, (0.0, 0.0, 1.0), [0, 0, 2]),
    ],
)
def test_split_counts(n: int, fractions: tuple[float, ...], expected: list[int]) -> None:
    assert split_counts(n, fractions) == expected


def test_split_counts_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        split_counts(10, (0.5, 0.1, 0.1))


@pytest.mark.parametrize("n", [1, 7, 8, 9, 100_003])
def test_packbits_round_trip(n: int) -> None:
    occ = np.random.default_rng(n).random(n) < 0.3
    packed = pack_occupancies(occ)
    assert packed.dtype == np.uint8 and packed.shape == ((n + 7) // 8,)
    np.testing.assert_array_equal(unpack_occupancies(packed, n).astype(bool), occ)
    # the first label is the most significant bit of the first byte (np.packbits' order)
    assert bool(packed[0] & 0x80) == occ[0]


def test_metadata_and_split_lists(tmp_path) -> None:
    for cat in ("b_cat", "a_cat"):
        (tmp_path / cat / "m1").mkdir(parents=True)
    write_metadata(tmp_path, {"a_cat": "first,one", "b_cat": "second"})
    assert json.loads((tmp_path / "metadata.yaml").read_text())["a_cat"] == {"id": "a_cat", "name": "first,one"}
    cats = read_metadata(tmp_path, list_categories(tmp_path))
    assert [(c.id, c.name, c.index) for c in cats] == [("a_cat", "first,one", 0), ("b_cat", "second", 1)]
    write_split(tmp_path, "a_cat", "train", ["m1", "m2"])
    assert read_split(tmp_path, "a_cat", "train") == ["m1", "m2"]
    (tmp_path / "a_cat" / "val.lst").write_text("m3\r\n\r\n  m4 \n\n")
    assert read_split(tmp_path, "a_cat", "val") == ["m3", "m4"]
    assert read_split(tmp_path, "b_cat", None) == ["m1"]
    (tmp_path / "metadata.yaml").unlink()
    assert [c.name for c in read_metadata(tmp_path, ["a_cat"])] == ["a_cat"]


def test_bad_metadata_and_missing_split_name_the_file(tmp_path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "metadata.yaml").write_text("- just\n- a list\n")
    with pytest.raises(DataError, match=r"metadata\.yaml: expected a mapping"):
        read_metadata(tmp_path, ["cat"])
    (tmp_path / "metadata.yaml").write_text("{cat: [unclosed\n")
    with pytest.raises(DataError, match=r"metadata\.yaml: cannot parse"):
        read_metadata(tmp_path, ["cat"])
    with pytest.raises(DataError, match=r"cat/test\.lst: split list not found"):
        read_split(tmp_path, "cat", "test")
    with pytest.raises(DataError, match=r"nope: category folder not found"):
        read_split(tmp_path, "nope", "test")
