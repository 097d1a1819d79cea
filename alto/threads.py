"""How many CPU threads torch uses, and how they wait: decided in one place.

torch runs its CPU kernels on OpenMP threads. Two defaults make that slow on a
machine that is not all ours:

* OpenMP threads *spin* at the end of every parallel region while they wait for the
  others. When another process holds one of the cores, the thread that should finish
  the region is descheduled while its partner burns the time slice spinning; the
  decoders run thousands of short regions, so a decode beside one busy process took
  3x to 30x its idle time. :func:`default_wait_policy` makes the threads sleep instead
  (``OMP_WAIT_POLICY=PASSIVE``), unless the environment already says otherwise. OpenMP
  reads the variable once, when torch is imported, so ``import alto`` sets it and
  must come first (the ``alto`` command does this).
* torch uses one thread per core it may run on, ignoring a container's CPU quota.
  :func:`configure_threads` takes the smaller of the cores in the affinity mask and
  the cgroup quota, shared between the ``torchrun`` ranks on the node.

Explicit settings win, in this order: ``alto --threads N`` (or the ``threads``
argument of :func:`alto.reconstruct`), ``ALTO_NUM_THREADS``, ``OMP_NUM_THREADS``
(which Snakemake sets to each job's ``threads:``), a count already set with
``torch.set_num_threads`` in this process. ``ALTO_THREAD_POLICY=off`` leaves torch's
and OpenMP's own defaults alone unless a count is asked for (the behaviour before this
module; ``bench/contention.py`` uses it to compare).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from alto.errors import InputError

__all__ = [
    "ALTO_THREADS_VAR",
    "OMP_THREADS_VAR",
    "POLICY_OFF",
    "POLICY_VAR",
    "WAIT_POLICY",
    "WAIT_POLICY_VAR",
    "ThreadChoice",
    "cgroup_cpu_limit",
    "choose_threads",
    "configure_threads",
    "default_wait_policy",
    "parse_cpu_max",
    "policy_enabled",
    "usable_cpus",
]

log = logging.getLogger(__name__)

#: the thread count alto uses, when set (``alto --threads`` wins over it)
ALTO_THREADS_VAR = "ALTO_NUM_THREADS"
#: OpenMP's thread count; Snakemake sets it to each job's ``threads:``
OMP_THREADS_VAR = "OMP_NUM_THREADS"
#: ``ALTO_THREAD_POLICY=off``: no wait policy, no thread count of alto's (torch's defaults)
POLICY_VAR = "ALTO_THREAD_POLICY"
POLICY_OFF = "off"
#: OpenMP's waiting: PASSIVE threads sleep at the end of a region instead of spinning
WAIT_POLICY_VAR = "OMP_WAIT_POLICY"
WAIT_POLICY = "PASSIVE"
#: torchrun's count of ranks on this node; the automatic count is shared between them
LOCAL_RANKS_VAR = "LOCAL_WORLD_SIZE"
#: set beside ``OMP_NUM_THREADS`` when alto exported its own automatic choice there, so
#: that processes it starts (torchrun's ranks) choose again instead of taking it as the user's
CHOSEN_VAR = "ALTO_THREADS_CHOSEN"

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
#: cgroup v2: "<quota> <period>" or "max <period>"
CPU_MAX_FILE = "cpu.max"
#: cgroup v1: quota (-1: none) and period, in microseconds, under the cpu controller
CFS_QUOTA_FILE, CFS_PERIOD_FILE = "cpu.cfs_quota_us", "cpu.cfs_period_us"
CGROUP_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")

#: whether torch was already imported when ``import alto`` set the wait policy (too late then)
_TORCH_BEFORE_WAIT_POLICY = False


@dataclass(frozen=True)
class ThreadChoice:
    """The CPU thread count torch uses in this process, why, and whether it was asked
    for (``explicit``) rather than chosen from the machine."""

    threads: int
    reason: str
    explicit: bool = True


def policy_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """False when ``ALTO_THREAD_POLICY=off`` asks for torch's and OpenMP's own defaults."""
    value = environ.get(POLICY_VAR, "").strip().lower()
    if value not in ("", "on", POLICY_OFF):
        raise InputError(f"{POLICY_VAR}={environ[POLICY_VAR]!r}: expected 'on' or '{POLICY_OFF}'")
    return value != POLICY_OFF


def default_wait_policy(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set already or the policy is off;
    returns whether it was set. Effective only before torch is imported."""
    global _TORCH_BEFORE_WAIT_POLICY
    if WAIT_POLICY_VAR in environ or environ.get(POLICY_VAR, "").strip().lower() == POLICY_OFF:
        return False
    environ[WAIT_POLICY_VAR] = WAIT_POLICY
    _TORCH_BEFORE_WAIT_POLICY = "torch" in sys.modules
    return True


def parse_cpu_max(text: str) -> float | None:
    """Cores allowed by a cgroup v2 ``cpu.max`` line (``"150000 100000"`` -> 1.5); None for ``max``."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    period = float(fields[1]) if len(fields) > 1 else 100_000.0
    return float(fields[0]) / period


def _quota_v1(directory: Path) -> float | None:
    quota = int((directory / CFS_QUOTA_FILE).read_text())
    return None if quota < 0 else quota / int((directory / CFS_PERIOD_FILE).read_text())


def _own_and_ancestors(mount: Path, own: str) -> list[Path]:
    """``mount/own`` and the folders above it up to ``mount``, those that exist (inside a
    container ``own`` may name a path of the host that is not mounted here)."""
    relative = Path(own.lstrip("/"))
    folders = [mount / relative, *(mount / parent for parent in relative.parents)]
    return [folder for folder in folders if folder.is_dir()]


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The smallest CPU quota, in cores, of this process's cgroup and its ancestors
    (cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``); None without a quota."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, own = rest.partition(":")
        if hierarchy == "0" and not controllers:  # v2
            files = [folder / CPU_MAX_FILE for folder in _own_and_ancestors(root, own)]
            limits += [limit for f in files if f.is_file() and (limit := parse_cpu_max(f.read_text())) is not None]
        elif "cpu" in controllers.split(","):  # v1
            for mount in CGROUP_V1_CPU_MOUNTS:
                folders = _own_and_ancestors(root / mount, own)
                limits += [limit for d in folders if (d / CFS_QUOTA_FILE).is_file()
                           and (limit := _quota_v1(d)) is not None]
    return min(limits) if limits else None


def usable_cpus() -> int:
    """Cores this process may run on (its affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks on this platform
        return os.cpu_count() or 1


def _positive(value: str | int, source: str) -> int:
    """``value`` as a thread count >= 1; OpenMP's per-level lists (``"4,2"``) give their first entry."""
    text = str(value).split(",")[0].strip()
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{source}={value!r}: expected a whole number of threads, at least 1")
    return int(text)


def choose_threads(
    requested: int | None,
    environ: Mapping[str, str],
    cpus: int,
    quota: float | None,
    current: int | None = None,
) -> ThreadChoice:
    """The thread count and its reason, from an explicit ``requested`` count, the
    environment, the ``cpus`` of the affinity mask, a cgroup ``quota`` in cores and
    ``current``, torch's count when torch is already imported.

    Explicit settings win in the order ``requested``, ``ALTO_NUM_THREADS``,
    ``OMP_NUM_THREADS``, ``current`` when it differs from ``cpus`` (set with
    ``torch.set_num_threads`` by the caller); otherwise the smaller of ``cpus`` and the
    quota (rounded down, at least 1), shared between torchrun's ranks on the node.
    """
    if requested is not None:
        return ThreadChoice(_positive(requested, "--threads"), "asked for with --threads")
    for var in (ALTO_THREADS_VAR, OMP_THREADS_VAR):
        explicit = environ.get(var, "").strip()
        if explicit and not (var == OMP_THREADS_VAR and environ.get(CHOSEN_VAR) == explicit):
            return ThreadChoice(_positive(explicit, var), f"{var}={explicit} in the environment")
    if current is not None and current != cpus:
        return ThreadChoice(current, "torch's count in this process, set before alto was called")
    threads, reason = cpus, f"{cpus} cores in this process's affinity mask"
    if quota is not None and quota < cpus:
        threads, reason = max(1, math.floor(quota)), f"CPU quota of {quota:g} cores (cgroup)"
    ranks = _positive(environ.get(LOCAL_RANKS_VAR, "1"), LOCAL_RANKS_VAR)
    if ranks > 1:
        threads, reason = max(1, threads // ranks), f"{reason}, shared by {ranks} ranks on this node"
    return ThreadChoice(threads, reason, explicit=False)


def configure_threads(requested: int | None = None, environ: MutableMapping[str, str] = os.environ) -> ThreadChoice:
    """Choose torch's CPU thread count (see :func:`choose_threads`) and apply it.

    With torch imported it is set with ``torch.set_num_threads``; otherwise, so that
    commands that never use torch do not import it, through ``OMP_NUM_THREADS``, which
    torch reads when it is imported (an automatic choice is marked as alto's with
    ``ALTO_THREADS_CHOSEN``). With ``ALTO_THREAD_POLICY=off`` only an explicit
    ``requested`` count or ``ALTO_NUM_THREADS`` is applied.
    """
    torch = sys.modules.get("torch")
    current = torch.get_num_threads() if torch is not None else None
    if not policy_enabled(environ) and requested is None and not environ.get(ALTO_THREADS_VAR, "").strip():
        choice = ThreadChoice(current if current is not None else usable_cpus(),
                              f"{POLICY_VAR}={POLICY_OFF}: torch's and OpenMP's defaults")
        log.debug("CPU threads: %d (%s)", choice.threads, choice.reason)
        return choice
    cpus = usable_cpus()
    choice = choose_threads(requested, environ, cpus, cgroup_cpu_limit(), current)
    if torch is not None:
        torch.set_num_threads(choice.threads)
    else:
        environ[OMP_THREADS_VAR] = str(choice.threads)
        if choice.explicit:
            environ.pop(CHOSEN_VAR, None)
        else:
            environ[CHOSEN_VAR] = str(choice.threads)
    wait = environ.get(WAIT_POLICY_VAR, "unset")
    if _TORCH_BEFORE_WAIT_POLICY:
        wait = f"unset (torch was imported before alto; set {WAIT_POLICY_VAR}={WAIT_POLICY} before starting Python)"
    log.log(logging.INFO if choice.threads < cpus else logging.DEBUG, "CPU threads: %d (%s); %s %s",
            choice.threads, choice.reason, WAIT_POLICY_VAR, wait)
    return choice
