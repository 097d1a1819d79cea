"""The thread policy (alto.threads): the choice as a pure function, the cgroup quota,
OpenMP's wait policy before torch loads, and that every entry point applies it."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import alto.cli.main as cli_main
import alto.reconstruction.api as reconstruction_api
from alto import threads
from alto.errors import InputError
from alto.threads import (
    ALTO_THREADS_VAR,
    CHOSEN_VAR,
    OMP_THREADS_VAR,
    POLICY_VAR,
    WAIT_POLICY_VAR,
    ThreadChoice,
    cgroup_cpu_limit,
    choose_threads,
    configure_threads,
    default_wait_policy,
    parse_cpu_max,
)


@pytest.fixture
def torch_threads() -> Iterator[int]:
    """torch's thread count before the test, restored after it."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


# --- the choice ---------------------------------------------------------------------------


def test_without_settings_every_usable_core_within_the_quota() -> None:
    assert choose_threads(None, {}, cpus=8, quota=None) == ThreadChoice(8, "8 cores in this process's affinity mask",
                                                                         explicit=False)
    assert choose_threads(None, {}, cpus=8, quota=2.5).threads == 2
    assert "quota of 2.5 cores" in choose_threads(None, {}, cpus=8, quota=2.5).reason
    assert choose_threads(None, {}, cpus=8, quota=0.5).threads == 1  # a fraction of a core is still one thread
    assert choose_threads(None, {}, cpus=2, quota=16.0).threads == 2  # a quota above the mask changes nothing


def test_torchrun_ranks_share_the_cores() -> None:
    choice = choose_threads(None, {"LOCAL_WORLD_SIZE": "2"}, cpus=8, quota=None)
    assert (choice.threads, choice.explicit) == (4, False)
    assert "shared by 2 ranks" in choice.reason
    assert choose_threads(None, {"LOCAL_WORLD_SIZE": "4"}, cpus=2, quota=None).threads == 1


def test_explicit_settings_win_in_order() -> None:
    env = {ALTO_THREADS_VAR: "3", OMP_THREADS_VAR: "5"}
    assert choose_threads(7, env, cpus=2, quota=1.0).threads == 7
    assert choose_threads(None, env, cpus=2, quota=1.0) == ThreadChoice(3, f"{ALTO_THREADS_VAR}=3 in the environment")
    omp = choose_threads(None, {OMP_THREADS_VAR: "5"}, cpus=2, quota=1.0)
    assert (omp.threads, omp.explicit) == (5, True)
    assert choose_threads(None, {OMP_THREADS_VAR: "4,2"}, cpus=2, quota=None).threads == 4  # nested levels
    # a count set in this process before alto was called is kept, torch's default is not
    assert choose_threads(None, {}, cpus=8, quota=2.0, current=3).threads == 3
    assert choose_threads(None, {}, cpus=8, quota=2.0, current=8).threads == 2


def test_alto_s_own_exported_choice_is_not_taken_for_the_user_s() -> None:
    mine = {OMP_THREADS_VAR: "2", CHOSEN_VAR: "2", "LOCAL_WORLD_SIZE": "2"}
    assert choose_threads(None, mine, cpus=2, quota=None).threads == 1  # a rank chooses again
    changed = {OMP_THREADS_VAR: "2", CHOSEN_VAR: "4"}  # the user changed it since: theirs
    assert choose_threads(None, changed, cpus=8, quota=None).threads == 2


@pytest.mark.parametrize(("requested", "env", "named"), [
    (0, {}, "--threads=0"),
    (None, {ALTO_THREADS_VAR: "many"}, f"{ALTO_THREADS_VAR}='many'"),
    (None, {OMP_THREADS_VAR: "-1"}, f"{OMP_THREADS_VAR}='-1'"),
])
def test_bad_counts_name_their_source(requested: int | None, env: dict[str, str], named: str) -> None:
    with pytest.raises(InputError, match=named):
        choose_threads(requested, env, cpus=2, quota=None)


# --- the cgroup quota ---------------------------------------------------------------------


def test_cpu_max_lines() -> None:
    assert parse_cpu_max("max 100000\n") is None
    assert parse_cpu_max("150000 100000\n") == 1.5
    assert parse_cpu_max("50000 100000") == 0.5


def _proc_cgroup(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc_cgroup"
    path.write_text(text)
    return path


def test_cgroup_v2_quota_is_the_smallest_of_the_process_s_cgroup_and_its_ancestors(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    (root / "job" / "step").mkdir(parents=True)
    (root / "cpu.max").write_text("max 100000\n")
    (root / "job" / "cpu.max").write_text("300000 100000\n")
    (root / "job" / "step" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(root, _proc_cgroup(tmp_path, "0::/job/step\n")) == 3.0
    # inside a container the host's path is not mounted: the mount's root holds the quota
    (root / "cpu.max").write_text("200000 100000\n")
    assert cgroup_cpu_limit(root, _proc_cgroup(tmp_path, "0::/elsewhere/on/the/host\n")) == 2.0


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    own = root / "cpu,cpuacct" / "docker" / "abc"
    own.mkdir(parents=True)
    (own / "cpu.cfs_quota_us").write_text("150000\n")
    (own / "cpu.cfs_period_us").write_text("100000\n")
    (root / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("-1\n")
    (root / "cpu,cpuacct" / "cpu.cfs_period_us").write_text("100000\n")
    lines = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n"
    assert cgroup_cpu_limit(root, _proc_cgroup(tmp_path, lines)) == 1.5
    (own / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(root, _proc_cgroup(tmp_path, lines)) is None


def test_no_cgroup_information_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path, tmp_path / "missing") is None
    assert cgroup_cpu_limit(tmp_path, _proc_cgroup(tmp_path, "0::/\n")) is None


# --- OpenMP's wait policy -----------------------------------------------------------------


def test_wait_policy_default_only_when_unset_and_the_policy_is_on() -> None:
    env: dict[str, str] = {}
    assert default_wait_policy(env) and env[WAIT_POLICY_VAR] == "PASSIVE"
    mine = {WAIT_POLICY_VAR: "ACTIVE"}
    assert not default_wait_policy(mine) and mine[WAIT_POLICY_VAR] == "ACTIVE"
    off = {POLICY_VAR: "off"}
    assert not default_wait_policy(off) and WAIT_POLICY_VAR not in off


def _fresh_python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in (WAIT_POLICY_VAR, POLICY_VAR, OMP_THREADS_VAR, CHOSEN_VAR)}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_import_alto_sets_the_wait_policy_before_torch_is_loaded() -> None:
    code = "import os, sys, alto; print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    assert _fresh_python(code) == "PASSIVE False"
    assert _fresh_python(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE False"
    assert _fresh_python(code, ALTO_THREAD_POLICY="off") == "None False"


# --- applying the choice ------------------------------------------------------------------


def test_configure_threads_sets_torch_s_count_when_torch_is_loaded(torch_threads: int) -> None:
    choice = configure_threads(1, environ={})
    assert choice.threads == 1 and torch.get_num_threads() == 1


def test_before_torch_loads_the_choice_goes_through_openmp_s_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 2.0)
    env: dict[str, str] = {}
    assert configure_threads(environ=env).threads == 2
    assert env == {OMP_THREADS_VAR: "2", CHOSEN_VAR: "2"}  # marked as alto's own choice
    assert configure_threads(3, environ=env).threads == 3
    assert env == {OMP_THREADS_VAR: "3"}  # asked for: the user's, not marked


def test_policy_off_changes_nothing_unless_a_count_is_asked_for(torch_threads: int) -> None:
    env = {POLICY_VAR: "off"}
    choice = configure_threads(environ=env)
    assert choice.threads == torch_threads and "off" in choice.reason
    assert env == {POLICY_VAR: "off"} and torch.get_num_threads() == torch_threads
    assert configure_threads(1, environ=env).threads == torch.get_num_threads() == 1
    with pytest.raises(InputError, match=POLICY_VAR):
        configure_threads(environ={POLICY_VAR: "sometimes"})


def test_the_cli_applies_threads_before_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[object] = []
    monkeypatch.setattr(cli_main, "configure_threads", lambda requested: events.append(("threads", requested)))
    command = types.ModuleType("fake_command")
    command.main = lambda argv, prog: events.append(("command", argv)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_command", command)
    monkeypatch.setitem(cli_main.COMMANDS, "fake", ("fake_command", "a test command"))
    assert cli_main.main(["--threads", "3", "fake", "x"]) == 0
    assert cli_main.main(["fake"]) == 0
    assert events == [("threads", 3), ("command", ["x"]), ("threads", None), ("command", [])]


def test_the_cli_logs_its_choice_and_rejects_a_bad_count() -> None:
    clean = {k: v for k, v in os.environ.items() if k not in (OMP_THREADS_VAR, CHOSEN_VAR, ALTO_THREADS_VAR)}
    run = [sys.executable, "-m", "alto", "-v", "--threads", "1", "config", "--help"]
    done = subprocess.run(run, env=clean, capture_output=True, text=True, check=True)
    assert "CPU threads: 1 (asked for with --threads)" in done.stderr
    bad = subprocess.run([*run[:4], "--threads", "0", "config", "--help"], env=clean, capture_output=True, text=True)
    assert bad.returncode == 2 and "--threads=0" in bad.stderr


def test_reconstruct_applies_its_threads_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    class Applied(Exception):
        pass

    def record(requested: int | None) -> None:
        raise Applied(requested)

    monkeypatch.setattr(reconstruction_api, "configure_threads", record)
    with pytest.raises(Applied) as applied:
        reconstruction_api.reconstruct(None, "no-such-model", threads=2)  # type: ignore[arg-type]
    assert applied.value.args == (2,)
