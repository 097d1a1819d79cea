"""Number-for-number parity with the published ALTO and ConvONet models.

The reference files (tests/data/reference, see alto.models.reference) were computed
by the authors' own model classes with deterministic weights in the upstream
state-dict order. Each case is rebuilt from its config, the upstream weights are
converted by the checkpoint converter, and logits (and feature planes, where
stored) must agree within 1e-5.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

import alto.ops.grid
from alto.models.reference import PARITY_TOLERANCE, ReferenceCase, load_reference, reference_model, reference_names

REFERENCE_DIR = Path(__file__).parent / "data" / "reference"
CASES = reference_names(REFERENCE_DIR)
#: the ALTO room models take over ten seconds each on a CPU: left to the full suite (make test)
SLOW_CASES = ("alto_room_3plane", "alto_room_grid64")


@functools.cache
def _load(name: str) -> ReferenceCase:
    return load_reference(REFERENCE_DIR, name)


@functools.cache
def _converted_model(name: str) -> torch.nn.Module:
    return reference_model(_load(name))


def test_all_six_references_are_present():
    assert sorted(CASES) == sorted(
        f"{family}_{setting}"
        for family in ("alto", "convonet")
        for setting in ("shapenet_3plane", "room_3plane", "room_grid64")
    )


@pytest.mark.parametrize("name", CASES)
def test_parameter_count_is_the_used_upstream_count(name):
    case = _load(name)
    assert sum(p.numel() for p in _converted_model(name).parameters()) == case.used_params
    used = sum(t.numel() for k, t in case.upstream_state.items() if k not in case.unused_parameters)
    assert used == case.used_params


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_CASES else name for name in CASES]
)
def test_logits_and_features_match_the_published_model(name):
    """Triplane cases run both samples; the volume cases (seconds each) the first one,
    which also checks that a sample does not depend on the rest of its batch."""
    case = _load(name)
    model = _converted_model(name)
    samples = 1 if "grid" in name else len(case.inputs)
    with torch.no_grad():
        features = model.encode(case.inputs[:samples])
        logits = model.decode(case.query[:samples], features)
    assert logits.shape == case.logits[:samples].shape
    assert (logits - case.logits[:samples]).abs().max().item() < PARITY_TOLERANCE
    for plane, expected in case.features.items():
        assert (features[plane][0] - expected).abs().max().item() < PARITY_TOLERANCE


def test_parity_detects_a_changed_plane_normalisation(monkeypatch):
    """The comparison is sensitive to the normalisation epsilon (the fast triplane case)."""
    case = _load("alto_shapenet_3plane")
    model = _converted_model("alto_shapenet_3plane")
    for eps in (alto.ops.grid.GRID_CLAMP_EPS, 0.0):
        monkeypatch.setattr(alto.ops.grid, "PLANE_CLAMP_EPS", eps)
        with torch.no_grad():
            logits = model(case.query, case.inputs)
        assert (logits - case.logits).abs().max().item() > PARITY_TOLERANCE
