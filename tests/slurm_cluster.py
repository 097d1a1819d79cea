"""A real one-node SLURM cluster on this machine, for the workflow's cluster test.

munged, slurmctld and slurmd (Debian's ``munge`` and ``slurm-wlm``) run on
localhost with all state in one temporary folder: three partitions (the default one
and the two the workflow is told to use) over this machine's cores and one GRES GPU
backed by /dev/null (jobs that ask for a GPU are scheduled and see
``CUDA_VISIBLE_DEVICES``; torch then finds no CUDA and runs on the CPU). Accounting
is off, so job records come from ``scontrol`` (kept for ``MIN_JOB_AGE`` seconds)
and the controller's log. :meth:`SlurmCluster.stop` kills exactly the daemons it
started, by their pid files.

Job steps find the configuration only at SLURM's compiled-in default path, as on a
real cluster (the executor plugin removes ``SLURM_*`` variables, ``SLURM_CONF``
too, before its nested ``srun``), so the cluster links its files there for its
lifetime, and refuses to start where that path is already taken.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged", "sbatch", "scontrol")
#: partitions of the workflow's CPU and GPU jobs, passed through SBATCH_PARTITION and
#: SBATCH_GPU_PARTITION; neither is the cluster's default partition (DEFAULT_PARTITION),
#: so a job that lands in one of them was sent there
PARTITION = "alto_cpu"
GPU_PARTITION = "alto_gpu"
DEFAULT_PARTITION = "unused"
#: Seconds SLURM keeps finished jobs visible to scontrol/squeue (accounting is off).
MIN_JOB_AGE = 3600
CONTROLLER_PORT = 16817
NODE_PORT = 16818
MUNGE_KEY = Path("/etc/munge/munge.key")
#: Where SLURM's clients and job steps read their configuration by default.
SYSTEM_CONF_DIR = Path("/etc/slurm")
CONF_FILES = ("slurm.conf", "gres.conf")


def missing_tools() -> list[str]:
    """What the cluster needs but this machine lacks (programs, the munge key, a free config path)."""
    missing = [name for name in DAEMONS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]
    if not MUNGE_KEY.is_file():
        missing.append(str(MUNGE_KEY))
    taken = [str(SYSTEM_CONF_DIR / name) for name in CONF_FILES if (SYSTEM_CONF_DIR / name).exists()]
    if taken:
        missing.append(f"free {', '.join(taken)} (a SLURM installation is configured here)")
    return missing


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@dataclass
class SlurmCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    root: Path
    cpus: int = field(default_factory=lambda: os.cpu_count() or 2)
    memory_mb: int = 8000

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment for SLURM clients (sbatch, squeue, the executor plugin)."""
        return {
            **os.environ,
            "SLURM_CONF": str(self.conf),
            "SBATCH_PARTITION": PARTITION,
            "SBATCH_GPU_PARTITION": GPU_PARTITION,
        }

    def _write_config(self) -> None:
        host = socket.gethostname().split(".")[0]
        for folder in ("state", "spool"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        settings = {
            "ClusterName": "altotest",
            "SlurmctldHost": f"{host}(127.0.0.1)",
            "SlurmctldPort": CONTROLLER_PORT,
            "SlurmdPort": NODE_PORT,
            "AuthType": "auth/munge",
            "AuthInfo": f"socket={self.root / 'munge.socket'}",
            "CredType": "cred/munge",
            "StateSaveLocation": self.root / "state",
            "SlurmdSpoolDir": self.root / "spool",
            "SlurmctldPidFile": self.root / "slurmctld.pid",
            "SlurmdPidFile": self.root / "slurmd.pid",
            "SlurmctldLogFile": self.root / "slurmctld.log",
            "SlurmdLogFile": self.root / "slurmd.log",
            "SlurmctldDebug": "info",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "SwitchType": "switch/none",
            "MpiDefault": "none",
            "ReturnToService": 2,
            "SchedulerType": "sched/builtin",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            "JobCompType": "jobcomp/none",
            "AccountingStorageType": "accounting_storage/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "MinJobAge": MIN_JOB_AGE,
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "GresTypes": "gpu",
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines.append(f"NodeName={host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} "
                     "Gres=gpu:1 State=UNKNOWN")
        for partition in (DEFAULT_PARTITION, PARTITION, GPU_PARTITION):
            default = "YES" if partition == DEFAULT_PARTITION else "NO"
            lines.append(f"PartitionName={partition} Nodes={host} Default={default} MaxTime=INFINITE State=UP")
        self.conf.write_text("\n".join(lines) + "\n")
        (self.root / "gres.conf").write_text(f"NodeName={host} Name=gpu File=/dev/null\n")

    def _link_system_config(self) -> None:
        SYSTEM_CONF_DIR.mkdir(parents=True, exist_ok=True)
        for name in CONF_FILES:
            target = SYSTEM_CONF_DIR / name
            if target.exists() or target.is_symlink():
                raise RuntimeError(f"{target} exists: not starting a test cluster over a configured SLURM")
            target.symlink_to(self.root / name)

    def _unlink_system_config(self) -> None:
        for name in CONF_FILES:
            target = SYSTEM_CONF_DIR / name
            if target.is_symlink() and Path(os.readlink(target)) == self.root / name:
                target.unlink()

    def start(self, timeout: float = 60.0) -> SlurmCluster:
        self._write_config()
        self._link_system_config()
        subprocess.run(
            [_binary("munged"), f"--socket={self.root / 'munge.socket'}", f"--key-file={MUNGE_KEY}",
             f"--pid-file={self.root / 'munged.pid'}", f"--log-file={self.root / 'munged.log'}",
             f"--seed-file={self.root / 'munge.seed'}", "--force"],
            check=True, capture_output=True, text=True,
        )
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([_binary(daemon), "-f", str(self.conf)], check=True, env=self.env,
                           capture_output=True, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True)
            if state.returncode == 0 and set(state.stdout.split()) == {"idle"}:
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the SLURM node did not come up within {timeout} s; see {self.root}/slurm*.log")

    def stop(self) -> None:
        """Kill the daemons this cluster started (by pid file) and wait for them to go."""
        pids = []
        for name in ("slurmd", "slurmctld", "munged"):
            pid_file = self.root / f"{name}.pid"
            if pid_file.is_file():
                pid = int(pid_file.read_text().split()[0])
                try:
                    os.kill(pid, signal.SIGTERM)
                    pids.append(pid)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for pid in pids:
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                os.kill(pid, signal.SIGKILL)
        self._unlink_system_config()

    def jobs(self) -> dict[str, dict[str, str]]:
        """SLURM's own records of every job it ran (``scontrol show job``), by job id."""
        out = subprocess.run(["scontrol", "-o", "show", "job"], env=self.env, capture_output=True, text=True,
                             check=True).stdout
        records = {}
        for line in out.splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if "JobId" in fields:
                records[fields["JobId"]] = fields
        return records

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
