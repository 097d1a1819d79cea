"""The two ways to install (pyproject.toml via make, environment.yaml via conda) agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _normalise(spec: str) -> tuple[str, str]:
    req = Requirement(spec)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def test_environment_yaml_matches_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_normalise(s) for s in [*project["dependencies"], *project["optional-dependencies"]["test"]]}

    env = yaml.safe_load((REPO / "environment.yaml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yaml needs exactly one pip section"
    in_env = {_normalise(s) for s in pip_sections[0] if not s.startswith("-")}

    assert in_env == declared, (
        f"only in environment.yaml: {sorted(in_env - declared)}; only in pyproject.toml: {sorted(declared - in_env)}"
    )
    assert "--editable ." in pip_sections[0], "environment.yaml must install alto itself"


def test_workflow_environment_matches_the_runtime_dependencies() -> None:
    """The conda env of every rule holds what alto needs at run time (not the test tools)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_normalise(s) for s in project["dependencies"]}

    env = yaml.safe_load((REPO / "workflow" / "envs" / "alto.yaml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "workflow/envs/alto.yaml needs exactly one pip section"
    in_env = {_normalise(s) for s in pip_sections[0] if not s.startswith("-")}

    assert in_env == runtime, (
        f"only in workflow/envs/alto.yaml: {sorted(in_env - runtime)}; "
        f"only in pyproject.toml's dependencies: {sorted(runtime - in_env)}"
    )


def test_console_script_points_at_the_cli() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    module, _, func = project["scripts"]["alto"].partition(":")
    imported = __import__(module, fromlist=[func])
    assert callable(getattr(imported, func))
