"""The workflow on a real one-node SLURM cluster, through the shipped profile.

Needs Debian's ``slurmctld``, ``slurmd``, ``slurm-client`` and ``munge`` (``.ci/run``
installs them) and root to start the daemons. Where they cannot be had the test is
skipped with the reason; CI installs them, so there it runs.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml
from slurm_cluster import GPU_PARTITION, PARTITION, SlurmCluster, missing_tools
from test_workflow import REPO, fresh_workdir, snakemake, without_timings, write_config

pytestmark = pytest.mark.slow

SLURM_ARGS = [
    "--workflow-profile", str(REPO / "profiles" / "slurm"),
    # the test node has no accounting and 2 cores: status through squeue, small group jobs
    "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
    "--latency-wait", "5", "--slurm-keep-successful-logs",
    "--cores", "2", "--resources", "gpu=1", "mem_mb=6000",
]


def _cluster_problem() -> str | None:
    missing = missing_tools()
    if missing:
        return f"no one-node SLURM cluster can run here: missing {', '.join(missing)} (.ci/run installs them)"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged needs root"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    problem = _cluster_problem()
    if problem and os.environ.get("ALTO_REQUIRE_SLURM") == "1":
        pytest.fail(f"ALTO_REQUIRE_SLURM=1 but {problem}")
    if problem:
        warnings.warn(f"SKIPPING the SLURM test: {problem}", stacklevel=1)
        pytest.skip(problem)
    with SlurmCluster(tmp_path_factory.mktemp("slurm"), memory_mb=8000) as running:
        yield running


def _gpu_config(workdir: Path) -> str:
    """The tiny config with its training and generation asking for one GPU each."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["resources"]["train"]["gpu"] = 1
    config["resources"]["generate"]["gpu"] = 1
    return write_config(workdir, "gpu.yaml", config)


def test_workflow_runs_through_sbatch_and_matches_a_local_run(cluster: SlurmCluster, tmp_path: Path) -> None:
    remote = fresh_workdir(tmp_path / "remote")
    # the partitions come from the environment (SBATCH_PARTITION, SBATCH_GPU_PARTITION), not from the profile
    result = snakemake(remote, "all", *SLURM_ARGS, config=_gpu_config(remote), timeout=1500, env=cluster.env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    output = result.stdout + result.stderr

    submitted = dict(re.findall(r"has been submitted with SLURM jobid (\d+) \(log: ([^)]+)\)", output))
    assert submitted, "no job went through sbatch"
    records = cluster.jobs()
    for job_id, log in submitted.items():
        assert Path(log).is_file(), f"no SLURM log for job {job_id}"
        assert records[job_id]["JobState"] == "COMPLETED", records[job_id]
    # logs lie in .snakemake/slurm_logs/<rule or group>/[<wildcards>/]<job id>.log
    names = {}
    for job_id, log in submitted.items():
        parts = Path(log).parts
        names[job_id] = parts[parts.index("slurm_logs") + 1]
    gpu_jobs = {job_id for job_id, record in records.items() if "gres:gpu:1" in record.get("TresPerJob", "")}
    trained = [job_id for job_id, name in names.items() if name.startswith("rule_train")]
    assert len(trained) == 3 and set(trained) <= gpu_jobs  # GPU rules ask for their GPU
    generated = [job_id for job_id, name in names.items() if name.startswith("rule_generate_chunk")]
    assert generated and set(generated) <= gpu_jobs  # chunks of objects are the cluster jobs
    cpu_only = [job_id for job_id, name in names.items() if name in ("rule_demo_data", "rule_evaluate_chunk")]
    assert {names[job_id] for job_id in cpu_only} == {"rule_demo_data", "rule_evaluate_chunk"}
    assert not set(cpu_only) & gpu_jobs
    on_gpu_partition = {job_id for job_id, name in names.items() if name.startswith(("rule_train", "rule_generate"))}
    for job_id in submitted:
        expected = GPU_PARTITION if job_id in on_gpu_partition else PARTITION
        assert records[job_id]["Partition"] == expected, (names[job_id], records[job_id]["Partition"])

    local = fresh_workdir(tmp_path / "local")
    local_run = snakemake(local, "all", "--workflow-profile", "none", config=_gpu_config(local))
    assert local_run.returncode == 0, local_run.stderr[-4000:]
    for dataset in ("demo_objects", "demo_rooms"):
        on_cluster = pd.read_csv(remote / "results" / "tables" / f"{dataset}.csv", dtype={"class_id": str})
        here = pd.read_csv(local / "results" / "tables" / f"{dataset}.csv", dtype={"class_id": str})
        pd.testing.assert_frame_equal(without_timings(on_cluster), without_timings(here))
