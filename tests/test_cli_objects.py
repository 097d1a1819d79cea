"""Test-object selection, prefetching and progress lines shared by ``alto generate`` and ``alto evaluate``."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import pytest

from alto.cli.objects import ProgressLog, prefetched, select_test_objects, split_object
from alto.errors import InputError


def test_named_objects_come_in_the_order_asked_and_load_their_own_inputs(demo_data_config: dict[str, Any]) -> None:
    everything = select_test_objects(demo_data_config, [])
    assert len(everything.selected) == len(everything.dataset) > 2
    last, first = everything.selected[-1], everything.selected[0]
    chosen = select_test_objects(demo_data_config, [f"{last[0]}/{last[1]}", f"{first[0]}/{first[1]}"])
    assert chosen.selected == [last, first]
    assert chosen.info(last).model == last[1]
    # an object's inputs are drawn from its own seed: the same whatever else is selected
    np.testing.assert_array_equal(chosen.load(last)["inputs"], everything.load(last)["inputs"])


def test_an_object_missing_from_the_split_is_named(demo_data_config: dict[str, Any]) -> None:
    category = select_test_objects(demo_data_config, []).selected[0][0]
    with pytest.raises(InputError, match=f"not in the test split of .*: {category}/no_such_model"):
        select_test_objects(demo_data_config, [f"{category}/no_such_model"])


@pytest.mark.parametrize("spec", ["chair", "chair/", "/model", "a/b/c"])
def test_object_names_must_be_category_slash_model(spec: str) -> None:
    with pytest.raises(InputError, match="expected CATEGORY/MODEL"):
        split_object(spec)


def test_prefetch_yields_every_item_in_order_loading_the_next_in_another_thread() -> None:
    loaded_in = {}

    def load(item: int) -> int:
        loaded_in[item] = threading.current_thread().name
        return item * item

    assert list(prefetched([3, 1, 2], load)) == [(3, 9), (1, 1), (2, 4)]
    assert all(name.startswith("prefetch") for name in loaded_in.values())
    assert list(prefetched([], load)) == []


def test_progress_lines_count_objects_and_estimate_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.progress")
    progress = ProgressLog(3, logger)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress.skipped("a/1", "up to date")
        progress.start()
        progress.finished("a/2", "done")
    assert "1/3 a/1: skipped (up to date)" in caplog.messages[0]
    assert caplog.messages[1].startswith("2/3 a/2: done, ") and "ETA" in caplog.messages[1]
