# Config validation and the decisions the rules share; plain config lookups are written
# in the rules. Keep this cheap: a cluster job parses the workflow again.

import bisect
import json
import os
import re
import shlex
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate


# Also writes the schema's defaults (resources, chunk sizes, ...) into the config: their only home.
validate(config, schema="../schemas/config.schema.yaml")

DATASETS = config["datasets"]
EXPERIMENTS = config["experiments"]
#: name in tables and figures of each experiment
LABELS = {name: exp.get("label", name) for name, exp in EXPERIMENTS.items()}
#: declared outputs of a chunk: the generation manifest (the meshes are written beside it,
#: results/meshes/{dataset}/{experiment}/{category}/{object}.ply) and the metric rows
MANIFEST = "results/meshes/{dataset}/{experiment}/chunks/{chunk}.json"
ROWS = "results/eval/{dataset}/{experiment}/chunks/{chunk}.csv"


def chunk_size(dataset, stage):
    """Objects per ``stage`` ("generate" or "evaluate") job: the dataset's `chunks:`, else the config's."""
    return DATASETS[dataset].get("chunks", {}).get(stage, config["chunks"][stage])


def _check_config():
    """Every name a config refers to exists (a typo fails here, not after hours of training), and each
    generation chunk feeds exactly one evaluation chunk (a rerun of one generation chunk reruns one
    evaluation chunk, and grouped chunks never chain a whole dataset)."""
    known = ", ".join(DATASETS)
    problems = [f"targets: unknown dataset '{n}' (known: {known})" for n in config["targets"] if n not in DATASETS]
    for name, exp in EXPERIMENTS.items():
        if exp["dataset"] not in DATASETS:
            problems.append(f"experiments.{name}.dataset: unknown dataset '{exp['dataset']}'")
        if not Path(exp["config"]).is_file():
            problems.append(f"experiments.{name}.config: file '{exp['config']}' not found")
    for name, ds in DATASETS.items():
        unknown = [exp for exp in ds.get("evaluate", []) if exp not in EXPERIMENTS]
        problems += [f"datasets.{name}.evaluate: unknown experiment '{exp}'" for exp in unknown]
        generate, evaluate = chunk_size(name, "generate"), chunk_size(name, "evaluate")
        if evaluate % generate:
            problems.append(
                f"datasets.{name}: chunks.evaluate ({evaluate}) must be a multiple of chunks.generate ({generate})"
            )
    if problems:
        raise ValueError("invalid workflow config:\n  " + "\n  ".join(problems))


_check_config()


def name_pattern(names):
    """A regex matching exactly ``names``, or nothing when there are none (wildcard
    constraints keep the DAG unambiguous)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def trained(name):
    """Trained here, unless it takes a published model (`model`) or a checkpoint URL (`checkpoint`)."""
    return not {"model", "checkpoint"} & set(EXPERIMENTS[name])


def dataset_path(name):
    """Root of a dataset's category folders: its path, or the subfolder of it that holds them."""
    ds = DATASETS[name]
    return f"{ds['path']}/{ds['subfolder']}" if ds.get("subfolder") else ds["path"]


def evaluated_experiments(dataset):
    """The dataset's `evaluate:` list, else the experiments trained on it."""
    if "evaluate" in DATASETS[dataset]:
        return list(DATASETS[dataset]["evaluate"])
    return [name for name, exp in EXPERIMENTS.items() if exp["dataset"] == dataset]


def train_resource(key):
    """Resource function of a training job: the experiment's `train_resources`, else `resources.train`."""
    default = config["resources"]["train"][key]
    return lambda wc: EXPERIMENTS[wc.experiment].get("train_resources", {}).get(key, default)


def _cluster_setting(key, variable):
    """A `cluster:` value, else the SBATCH_* environment variable (neither: the SLURM plugin's default)."""
    return config["cluster"].get(key) or os.environ.get(variable)


def _slurm_resources(partition):
    """The SLURM plugin's resources that put a job on ``partition`` and charge the account (unset: left out)."""
    resources = {"slurm_partition": partition, "slurm_account": _cluster_setting("account", "SBATCH_ACCOUNT")}
    return {key: value for key, value in resources.items() if value}


_PARTITION = _cluster_setting("partition", "SBATCH_PARTITION")
#: spread into the `resources:` of the cluster jobs (all but local rules); training and
#: generation go to the GPU partition (default - the partition), the rest to the partition
CPU_JOB_SLURM = _slurm_resources(_PARTITION)
GPU_JOB_SLURM = _slurm_resources(_cluster_setting("gpu_partition", "SBATCH_GPU_PARTITION") or _PARTITION)


# ----------------------------------------------------------------------- command lines
def options(**flags):
    """``--name value`` per flag (a list: ``--name v1 v2``), shell-quoted, in order; unset (None) or
    empty values are left out."""
    args = []
    for name, value in flags.items():
        values = value if isinstance(value, list) else [value]
        if value is not None and value != "" and values:
            args.append(" ".join([f"--{name.replace('_', '-')}", *(shlex.quote(str(v)) for v in values)]))
    return " ".join(args)


def override_list(*override_maps):
    """``key=value`` strings of the merged overrides, in a stable order (params changes trigger reruns).

    JSON is valid YAML, so every value survives the round trip through `alto ... --set`."""
    merged = {}
    for mapping in override_maps:
        merged.update(mapping or {})
    return [f"{key}={json.dumps(value)}" for key, value in sorted(merged.items())]


def set_args(*override_maps):
    """``--set key=value`` command-line arguments of the merged overrides."""
    return " ".join(f"--set {shlex.quote(item)}" for item in override_list(*override_maps))


def eval_overrides(experiment, dataset):
    """Override maps when generating and evaluating: the experiment's, then the dataset's (which wins)."""
    return EXPERIMENTS[experiment].get("overrides"), DATASETS[dataset].get("overrides")


def published_source(wildcards):
    """`alto models fetch` arguments: a catalog name, or a checkpoint URL with its config (and sha256)."""
    exp = EXPERIMENTS[wildcards.experiment]
    if "model" in exp:
        return shlex.quote(exp["model"])
    return options(url=exp["checkpoint"], config=exp["config"], sha256=exp.get("checkpoint_sha256"))


def scannet_at(root):
    """The ScanNet dataset whose `path` is ``root`` (a wildcard of the per-scene rule)."""
    return next(ds for ds in DATASETS.values() if ds["source"] == "scannet" and ds["path"] == root)


def scannet_points(wildcards):
    """Points per scene: the dataset's `points`, else alto's default."""
    from alto.data.scannet import DEFAULT_N_POINTS

    return scannet_at(wildcards.scannet_root).get("points", DEFAULT_N_POINTS)


def scannet_scenes(dataset):
    """Configured scenes, else the scene folders present (alto's rule; none if ScanNet is missing)."""
    ds = DATASETS[dataset]
    if "scenes" in ds:
        return list(ds["scenes"])
    # imported here, not at the top: only workflows with a ScanNet dataset pay for it
    from alto.data.scannet import list_scenes
    from alto.errors import DataError

    try:
        return list_scenes(ds["scans"])
    except DataError:  # not in place (yet): the scannet rule fails with the instructions
        return []


# ------------------------------------------------------------------------------ chunks
#: split list (path, modification time) -> its (category, object) pairs, in the list's order and sorted
_SPLITS = {}


def test_split(dataset):
    """The test split (category, object) pairs, in the list's order and sorted, read once per version
    of the list (input functions ask once per job); the first read drops the dataset's stale manifests."""
    listing = checkpoints.split_list.get(dataset=dataset).output[0]
    key = (listing, os.stat(listing).st_mtime_ns)
    if key not in _SPLITS:
        with open(listing) as handle:
            objects = [tuple(line.strip().split("/", 1)) for line in handle if line.strip()]
        _SPLITS[key] = (objects, sorted(objects))
        _drop_stale_manifests(dataset, _SPLITS[key][1])
    return _SPLITS[key]


def chunk_ids(dataset, stage):
    """Ids (zero-padded indices) of the chunks of the sorted test list, cut into pieces of ``chunk_size``."""
    return [f"{index:04d}" for index in range(-(-len(test_split(dataset)[0]) // chunk_size(dataset, stage)))]


def chunk_range(dataset, stage, chunk):
    """[start, end) of chunk ``chunk`` (an id) in the sorted test list."""
    size, total = chunk_size(dataset, stage), len(test_split(dataset)[0])
    start = int(chunk) * size
    if start >= total:
        raise ValueError(f"{dataset}: no {stage} chunk {chunk} (the test split has {total} objects, {size} per chunk)")
    return start, min(start + size, total)


def _drop_stale_manifests(dataset, objects):
    """Remove the manifest of every generation chunk one of whose meshes or records is gone.

    Snakemake then reruns exactly that chunk (which regenerates only the missing objects),
    its evaluation chunk and the tables, and nothing on the next run: the rerun leaves
    inputs, params and outputs as they were. Costs a stat per file of a finished chunk."""
    size = chunk_size(dataset, "generate")
    for experiment in evaluated_experiments(dataset):
        for start in range(0, len(objects), size):
            manifest = Path(MANIFEST.format(dataset=dataset, experiment=experiment, chunk=f"{start // size:04d}"))
            if not manifest.exists():
                continue
            folder = f"results/meshes/{dataset}/{experiment}"
            meshes = [Path(f"{folder}/{category}/{obj}.ply") for category, obj in objects[start : start + size]]
            gone = [path for mesh in meshes for path in (mesh, mesh.with_suffix(".json")) if not path.exists()]
            if gone:
                logger.warning(f"{manifest}: {gone[0]} is missing ({len(gone)} file(s) in all), the chunk runs again")
                manifest.unlink()


def chunk_object_args(stage):
    """Params function: the ``--object CATEGORY/MODEL`` arguments of a ``stage`` chunk job."""

    def object_args(wildcards):
        start, end = chunk_range(wildcards.dataset, stage, wildcards.chunk)
        objects = test_split(wildcards.dataset)[1][start:end]
        return " ".join(f"--object {shlex.quote(category + '/' + obj)}" for category, obj in objects)

    return object_args


def generation_chunks(dataset, experiment, positions):
    """The manifests of the generation chunks holding these positions of the sorted test list."""
    size = chunk_size(dataset, "generate")
    indices = sorted({position // size for position in positions})
    return [MANIFEST.format(dataset=dataset, experiment=experiment, chunk=f"{index:04d}") for index in indices]


def chunk_files(wildcards):
    """The chunk manifests and metric rows of every target dataset.

    Requested directly by `all`: Snakemake does not rerun the producer of a missing
    intermediate file while the files made from it exist, so a manifest dropped as stale
    (one of its meshes deleted) must be a target for its chunk to run again."""
    files = []
    for dataset in config["targets"]:
        for experiment in evaluated_experiments(dataset):
            files += expand(MANIFEST, dataset=dataset, experiment=experiment, chunk=chunk_ids(dataset, "generate"))
            files += expand(ROWS, dataset=dataset, experiment=experiment, chunk=chunk_ids(dataset, "evaluate"))
    return files


# ---------------------------------------------------------------------------- report
def all_targets():
    """Each target's table and figures, and the comparison and figures over all targets (none without targets)."""
    targets = config["targets"]
    overall = ["tables/paper_comparison.csv", "figures/runtime_vs_iou.png", "figures/training_curves.png"]
    return [
        *expand("results/tables/{dataset}.csv", dataset=targets),
        *[f"results/{path}" for path in overall if targets],
        *expand("results/figures/{dataset}_{figure}.png", figure=["qualitative", "per_class"], dataset=targets),
    ]


def qualitative_objects(wildcards):
    """The first objects of distinct classes (then of any class), up to the configured number."""
    objects = test_split(wildcards.dataset)[0]
    chosen, seen = [], set()
    for category, obj in objects:
        if category not in seen:
            chosen.append((category, obj))
            seen.add(category)
    chosen += [pair for pair in objects if pair not in chosen]
    return [f"{category}/{obj}" for category, obj in chosen[: config["figures"]["qualitative_per_dataset"]]]


def qualitative_manifests(wildcards):
    """The generation chunks holding the meshes the figure shows."""
    ordered = test_split(wildcards.dataset)[1]
    positions = [bisect.bisect_left(ordered, tuple(pair.split("/", 1))) for pair in qualitative_objects(wildcards)]
    dataset = wildcards.dataset
    return [path for exp in evaluated_experiments(dataset) for path in generation_chunks(dataset, exp, positions)]
