# Config validation and the input/params functions shared by the rules.
# Keep this cheap: a cluster job parses the workflow again.

import bisect
import json
import os
import re
import shlex
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

DATASETS = config["datasets"]
EXPERIMENTS = config["experiments"]
RESOURCES = config.get("resources", {})


def _check_references():
    """Every name a config refers to exists (a typo fails here, not after hours of training)."""
    problems = []
    for name in config["targets"]:
        if name not in DATASETS:
            problems.append(f"targets: unknown dataset '{name}' (known: {', '.join(DATASETS)})")
    for name, exp in EXPERIMENTS.items():
        if exp["dataset"] not in DATASETS:
            problems.append(f"experiments.{name}.dataset: unknown dataset '{exp['dataset']}'")
        if not Path(exp["config"]).is_file():
            problems.append(f"experiments.{name}.config: file '{exp['config']}' not found")
    for name, ds in DATASETS.items():
        for exp in ds.get("evaluate", []):
            if exp not in EXPERIMENTS:
                problems.append(f"datasets.{name}.evaluate: unknown experiment '{exp}'")
    if problems:
        raise ValueError("invalid workflow config:\n  " + "\n  ".join(problems))


_check_references()


def _names(mapping, **required):
    """A pattern of the names whose entry has the ``required`` values."""
    return name_pattern([n for n, v in mapping.items() if all(v.get(k) == want for k, want in required.items())])


def name_pattern(names):
    """A regex matching exactly ``names``, or nothing when there are none (wildcard
    constraints keep the DAG unambiguous)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def _trained(name):
    """Trained here, unless it takes a published model (`model`) or a checkpoint URL (`checkpoint`)."""
    return not {"model", "checkpoint"} & set(EXPERIMENTS[name])


# ----------------------------------------------------------------------------- datasets
def dataset_path(name):
    """Root of a dataset's category folders: its path, or the subfolder of it that holds them."""
    ds = DATASETS[name]
    return f"{ds['path']}/{ds['subfolder']}" if ds.get("subfolder") else ds["path"]


def ds_download_dest(wildcards):
    return DATASETS[wildcards.dataset]["path"]


def dataset_ready(name):
    """Stamp written once the dataset folder is complete (built, downloaded or checked)."""
    return f"results/datasets/{name}.json"


def evaluated_experiments(dataset):
    ds = DATASETS[dataset]
    if "evaluate" in ds:
        return list(ds["evaluate"])
    return [name for name, exp in EXPERIMENTS.items() if exp["dataset"] == dataset]


#: split list (path, modification time) -> its (category, object) pairs, in the list's order and sorted
_SPLITS = {}


def _split(dataset):
    """The test split of ``dataset`` as read once per version of its list (input functions ask
    for it once per job); the first read also drops the stale chunk manifests of the dataset."""
    listing = checkpoints.split_list.get(dataset=dataset).output[0]
    key = (listing, os.stat(listing).st_mtime_ns)
    if key not in _SPLITS:
        with open(listing) as handle:
            objects = [tuple(line.strip().split("/", 1)) for line in handle if line.strip()]
        _SPLITS[key] = (objects, sorted(objects))
        _drop_stale_manifests(dataset, _SPLITS[key][1])
    return _SPLITS[key]


def test_objects(dataset):
    """(category, object) pairs of the test split, in the list's order; needs the split_list checkpoint."""
    return _split(dataset)[0]


# -------------------------------------------------------------------------- experiments
def experiment_config(experiment):
    return EXPERIMENTS[experiment]["config"]


def experiment_label(experiment):
    return EXPERIMENTS[experiment].get("label", experiment)


def model_dir(experiment):
    return f"results/models/{experiment}"


def trained_model(experiment):
    """The file that marks a finished model (trained here, or a converted published one)."""
    return f"{model_dir(experiment)}/train_summary.json"


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


def train_sets(wildcards):
    return set_args(EXPERIMENTS[wildcards.experiment].get("overrides"))


def eval_sets(wildcards):
    return set_args(
        EXPERIMENTS[wildcards.experiment].get("overrides"),
        DATASETS[wildcards.dataset].get("overrides"),
    )


def resource(stage, key, default, experiment=None):
    """Resource of a job: the experiment's own, else the stage default of the config, else ``default``."""
    if experiment is not None:
        own = EXPERIMENTS[experiment].get("train_resources", {})
        if key in own:
            return own[key]
    return RESOURCES.get(stage, {}).get(key, default)


# ------------------------------------------------------------------------------ chunks
#: Objects per chunk job, where neither the dataset's nor the config's `chunks:` says: a
#: generation chunk of ShapeNet objects is minutes on a GPU; evaluation is cheaper per object.
CHUNK_DEFAULTS = {"generate": 50, "evaluate": 100}


def chunk_size(dataset, stage):
    """Objects per ``stage`` ("generate" or "evaluate") job on ``dataset``."""
    own = DATASETS[dataset].get("chunks", {})
    return own.get(stage, config.get("chunks", {}).get(stage, CHUNK_DEFAULTS[stage]))


def _check_chunks():
    """Each generation chunk feeds exactly one evaluation chunk (a rerun of one generation
    chunk reruns one evaluation chunk, and grouped chunks never chain a whole dataset)."""
    problems = []
    for name in DATASETS:
        generate, evaluate = chunk_size(name, "generate"), chunk_size(name, "evaluate")
        if evaluate % generate:
            problems.append(
                f"datasets.{name}: chunks.evaluate ({evaluate}) must be a multiple of chunks.generate ({generate})"
            )
    if problems:
        raise ValueError("invalid workflow config:\n  " + "\n  ".join(problems))


_check_chunks()


def chunk_id(index):
    return f"{index:04d}"


def chunk_ids(dataset, stage):
    """Ids of the chunks of the sorted test list, cut into pieces of ``chunk_size``."""
    size = chunk_size(dataset, stage)
    return [chunk_id(index) for index in range(-(-len(test_objects(dataset)) // size))]


def chunk_range(dataset, stage, chunk):
    """[start, end) of chunk ``chunk`` (an id) in the sorted test list."""
    size, total = chunk_size(dataset, stage), len(test_objects(dataset))
    start = int(chunk) * size
    if start >= total:
        raise ValueError(f"{dataset}: no {stage} chunk {chunk} (the test split has {total} objects, {size} per chunk)")
    return start, min(start + size, total)


def chunk_objects(dataset, stage, chunk):
    start, end = chunk_range(dataset, stage, chunk)
    return _split(dataset)[1][start:end]


def mesh_file(dataset, experiment, category, obj):
    return f"results/meshes/{dataset}/{experiment}/{category}/{obj}.ply"


def generate_manifest(dataset, experiment, chunk):
    """Declared output of a generation chunk; the meshes themselves are written beside it."""
    return f"results/meshes/{dataset}/{experiment}/chunks/{chunk}.json"


def evaluate_rows(dataset, experiment, chunk):
    """Declared output of an evaluation chunk: one metric row per object."""
    return f"results/eval/{dataset}/{experiment}/chunks/{chunk}.csv"


def _drop_stale_manifests(dataset, objects):
    """Remove the manifest of every generation chunk one of whose meshes or records is gone.

    Snakemake then reruns exactly that chunk (which regenerates only the missing objects),
    its evaluation chunk and the tables, and nothing on the next run: the rerun leaves
    inputs, params and outputs as they were. Costs a stat per file of a finished chunk."""
    size = chunk_size(dataset, "generate")
    for experiment in evaluated_experiments(dataset):
        for start in range(0, len(objects), size):
            manifest = Path(generate_manifest(dataset, experiment, chunk_id(start // size)))
            if not manifest.exists():
                continue
            meshes = [Path(mesh_file(dataset, experiment, *pair)) for pair in objects[start : start + size]]
            gone = [path for mesh in meshes for path in (mesh, mesh.with_suffix(".json")) if not path.exists()]
            if gone:
                logger.warning(f"{manifest}: {gone[0]} is missing ({len(gone)} file(s) in all), the chunk runs again")
                manifest.unlink()


def chunk_object_args(stage):
    """Params function: the ``--object CATEGORY/MODEL`` arguments of a ``stage`` chunk job."""

    def object_args(wildcards):
        objects = chunk_objects(wildcards.dataset, stage, wildcards.chunk)
        return " ".join(f"--object {shlex.quote(category + '/' + obj)}" for category, obj in objects)

    return object_args


def evaluation_chunk_manifests(wildcards):
    """The generation chunks covering the objects of an evaluation chunk."""
    start, end = chunk_range(wildcards.dataset, "evaluate", wildcards.chunk)
    size = chunk_size(wildcards.dataset, "generate")
    return [
        generate_manifest(wildcards.dataset, wildcards.experiment, chunk_id(index))
        for index in range(start // size, (end - 1) // size + 1)
    ]


# ------------------------------------------------------------------------------ outputs
def eval_files(wildcards):
    """The metric rows (evaluation chunks) of every experiment evaluated on a dataset."""
    return [
        evaluate_rows(wildcards.dataset, experiment, chunk)
        for experiment in evaluated_experiments(wildcards.dataset)
        for chunk in chunk_ids(wildcards.dataset, "evaluate")
    ]


def chunk_files(wildcards):
    """The chunk manifests and metric rows of every target dataset.

    Requested directly by `all`: Snakemake does not rerun the producer of a missing
    intermediate file while the files made from it exist, so a manifest dropped as stale
    (one of its meshes deleted) must be a target for its chunk to run again."""
    files = []
    for dataset in config["targets"]:
        for experiment in evaluated_experiments(dataset):
            files += [generate_manifest(dataset, experiment, chunk) for chunk in chunk_ids(dataset, "generate")]
            files += [evaluate_rows(dataset, experiment, chunk) for chunk in chunk_ids(dataset, "evaluate")]
    return files


def table(dataset):
    return f"results/tables/{dataset}.csv"


def all_targets():
    targets = [table(name) for name in config["targets"]]
    if config["targets"]:
        targets += [
            "results/tables/paper_comparison.csv",
            "results/figures/runtime_vs_iou.png",
            "results/figures/training_curves.png",
        ]
        targets += [f"results/figures/{name}_qualitative.png" for name in config["targets"]]
        targets += [f"results/figures/{name}_per_class.png" for name in config["targets"]]
    return targets


# ------------------------------------------------------------------ rule input functions
def _names_trained():
    return name_pattern([n for n in EXPERIMENTS if _trained(n)])


def _names_pretrained():
    return name_pattern([n for n in EXPERIMENTS if not _trained(n)])


def sha_arg(digest):
    return f"--sha256 {digest}" if digest else ""


def exp_config_file(wildcards):
    return experiment_config(wildcards.experiment)


def exp_model_dir(wildcards):
    return model_dir(wildcards.experiment)


def exp_training_data_ready(wildcards):
    return dataset_ready(EXPERIMENTS[wildcards.experiment]["dataset"])


def exp_training_data_path(wildcards):
    return dataset_path(EXPERIMENTS[wildcards.experiment]["dataset"])


def exp_published_source(wildcards):
    """`alto models fetch` arguments: a catalog name, or a checkpoint URL with its config (and sha256)."""
    exp = EXPERIMENTS[wildcards.experiment]
    if "model" in exp:
        return shlex.quote(exp["model"])
    url = f"--url {shlex.quote(exp['checkpoint'])} --config {shlex.quote(exp['config'])}"
    return f"{url} {sha_arg(exp.get('checkpoint_sha256'))}".strip()


def exp_trained_model(wildcards):
    return trained_model(wildcards.experiment)


def ds_ready(wildcards):
    return dataset_ready(wildcards.dataset)


def ds_path(wildcards):
    return dataset_path(wildcards.dataset)


def _cluster_setting(key, variable, fallback=None):
    value = config.get("cluster", {}).get(key) or os.environ.get(variable)
    return value or fallback


_PARTITION = _cluster_setting("partition", "SBATCH_PARTITION")
_GPU_PARTITION = _cluster_setting("gpu_partition", "SBATCH_GPU_PARTITION", _PARTITION)
_ACCOUNT = _cluster_setting("account", "SBATCH_ACCOUNT")


def _slurm_resources(partition):
    resources = {"slurm_partition": partition, "slurm_account": _ACCOUNT}
    return {key: value for key, value in resources.items() if value}


#: resources that place a job on the cluster (config `cluster:`, else SBATCH_* variables):
#: spread into the `resources:` of every rule that is not a local rule
CPU_JOB_SLURM = _slurm_resources(_PARTITION)
GPU_JOB_SLURM = _slurm_resources(_GPU_PARTITION)


def data_threads(wildcards):
    return resource("data", "threads", 1)


def data_mem(wildcards):
    return resource("data", "mem_mb", 4000)


def data_runtime(wildcards):
    return resource("data", "runtime", 60)


def train_threads(wildcards):
    return resource("train", "threads", 2, wildcards.experiment)


def train_gpus(wildcards):
    return resource("train", "gpu", 1, wildcards.experiment)


def train_mem(wildcards):
    return resource("train", "mem_mb", 16000, wildcards.experiment)


def train_runtime(wildcards):
    return resource("train", "runtime", 24 * 60, wildcards.experiment)


def split_limit_arg(wildcards):
    limit = DATASETS[wildcards.dataset].get("max_objects_per_class")
    return f"--max-per-class {limit}" if limit else ""


def exp_best_checkpoint(wildcards):
    return f"{model_dir(wildcards.experiment)}/model_best.pt"


def generate_threads(wildcards):
    return resource("generate", "threads", 1)


def evaluate_threads(wildcards):
    return resource("evaluate", "threads", 1)


def generate_gpus(wildcards):
    return resource("generate", "gpu", 0)


def generate_mem(wildcards):
    return resource("generate", "mem_mb", 8000)


def generate_runtime(wildcards):
    return resource("generate", "runtime", 60)


def evaluate_mem(wildcards):
    return resource("evaluate", "mem_mb", 4000)


def evaluate_runtime(wildcards):
    return resource("evaluate", "runtime", 60)


# ------------------------------------------------------------------------ report inputs
def experiment_labels(wildcards):
    return {name: experiment_label(name) for name in EXPERIMENTS}


def target_tables(wildcards):
    return [table(name) for name in config["targets"]]


def published_numbers_file(wildcards):
    """The configured file, else the copy shipped with the workflow."""
    return config.get("published_numbers") or workflow.source_path("../resources/published-numbers.yaml")


def target_dataset_info(wildcards):
    return {
        name: {
            "published": DATASETS[name].get("published"),
            "methods": {exp: EXPERIMENTS[exp].get("method", experiment_label(exp)) for exp in evaluated_experiments(name)},
        }
        for name in config["targets"]
    }


def target_trained_models(wildcards):
    names = {exp for dataset in config["targets"] for exp in evaluated_experiments(dataset) if _trained(exp)}
    return [trained_model(name) for name in sorted(names)]


def ds_kind(wildcards):
    return DATASETS[wildcards.dataset].get("kind", "objects")


def qualitative_experiments(wildcards):
    return evaluated_experiments(wildcards.dataset)


def qualitative_configs(wildcards):
    return {name: experiment_config(name) for name in evaluated_experiments(wildcards.dataset)}


def qualitative_sets(wildcards):
    """Overrides of the first experiment on this dataset: its inputs are the ones shown."""
    first = evaluated_experiments(wildcards.dataset)[0]
    return override_list(EXPERIMENTS[first].get("overrides"), DATASETS[wildcards.dataset].get("overrides"))


def qualitative_objects(wildcards):
    """The first objects of distinct classes (then of any class), up to the configured number."""
    count = config.get("figures", {}).get("qualitative_per_dataset", 4)
    objects = test_objects(wildcards.dataset)
    chosen, seen = [], set()
    for category, obj in objects:
        if category not in seen:
            chosen.append((category, obj))
            seen.add(category)
    chosen += [pair for pair in objects if pair not in chosen]
    return ["/".join(pair) for pair in chosen[:count]]


def qualitative_manifests(wildcards):
    """The generation chunks holding the meshes the figure shows."""
    ordered, size = _split(wildcards.dataset)[1], chunk_size(wildcards.dataset, "generate")
    positions = [bisect.bisect_left(ordered, tuple(pair.split("/", 1))) for pair in qualitative_objects(wildcards)]
    chunks = sorted({position // size for position in positions})
    return [
        generate_manifest(wildcards.dataset, experiment, chunk_id(index))
        for experiment in qualitative_experiments(wildcards)
        for index in chunks
    ]


def extension_build_command(wildcards):
    """Build torch-scatter against the installed torch when the config asks (about 6 min on 2 cores)."""
    if config.get("extensions", {}).get("torch_scatter", False):
        return "python -m pip install --no-build-isolation torch-scatter &&"
    return ""


# ------------------------------------------------------------------------ data sources
def demo_root(wildcards):
    return config.get("demo", {}).get("path", "data/demo")


def demo_options(wildcards):
    """`alto data demo` flags from the config, in a stable order."""
    args = []
    for key, value in sorted(config.get("demo", {}).get("options", {}).items()):
        values = value if isinstance(value, list) else [value]
        args.append(f"--{key} " + " ".join(shlex.quote(str(v)) for v in values))
    return " ".join(args)


def ds_download_name(wildcards):
    return DATASETS[wildcards.dataset]["download"]


def ds_download_mirror(wildcards):
    ds = DATASETS[wildcards.dataset]
    args = [f"--url {shlex.quote(ds['url'])}"] if ds.get("url") else []
    args += [sha_arg(ds.get("sha256"))] if ds.get("sha256") else []
    return " ".join(args)


def _scannet_datasets():
    return {name: ds for name, ds in DATASETS.items() if ds["source"] == "scannet"}


def scannet_roots():
    return name_pattern([ds["path"] for ds in _scannet_datasets().values()])


def _scannet_by_root(root):
    return next(ds for ds in _scannet_datasets().values() if ds["path"] == root)


def scannet_scans(wildcards):
    return _scannet_by_root(wildcards.scannet_root)["scans"]


def scannet_points(wildcards):
    return _scannet_by_root(wildcards.scannet_root).get("points", 100000)


def _scannet_scene_names(ds):
    """Configured scenes, else the scene folders present (alto's rule; none if ScanNet is missing)."""
    if "scenes" in ds:
        return list(ds["scenes"])
    # imported here, not at the top: only workflows with a ScanNet dataset pay for it
    from alto.data.scannet import list_scenes
    from alto.errors import DataError

    try:
        return list_scenes(ds["scans"])
    except DataError:  # not in place (yet): the scannet rule fails with the instructions
        return []


def scannet_scene_files(wildcards):
    ds = DATASETS[wildcards.dataset]
    return [f"{ds['path']}/scenes/{scene}/pointcloud.npz" for scene in _scannet_scene_names(ds)]


def ds_scans(wildcards):
    return DATASETS[wildcards.dataset]["scans"]


def ds_scenes_arg(wildcards):
    scenes = _scannet_scene_names(DATASETS[wildcards.dataset])
    return "--scenes " + " ".join(scenes) if scenes else ""
