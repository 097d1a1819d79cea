# Generation and evaluation, by chunk: the sorted test list of a dataset is cut into
# chunks of `chunks.generate` / `chunks.evaluate` objects (config `chunks:`, defaults in
# the schema), and one job handles a chunk in one process. Outputs stay per object: a
# mesh and a record per object, one metric row per object in the chunk's CSV.
#
# The meshes are written by the chunk job but are no declared outputs (only the chunk's
# manifest is): Snakemake keeps them when a chunk job fails part-way, and the rerun
# (`alto generate --resume`) redoes only the objects without an up-to-date mesh. A
# deleted mesh makes its manifest stale; the DAG drops it (common.smk), so exactly that
# chunk runs again. On a cluster each chunk is one job: generation on the GPU
# partition, evaluation (CPU only) on the partition of the CPU jobs.


checkpoint split_list:
    """The test objects of a dataset, one `category/object` per line."""
    input:
        data="results/datasets/{dataset}.json",
    output:
        "results/splits/{dataset}.txt",
    log:
        "logs/splits/{dataset}.log",
    params:
        path=lambda wc: dataset_path(wc.dataset),
        limit=lambda wc: options(max_per_class=DATASETS[wc.dataset].get("max_objects_per_class")),
    localrule: True
    conda:
        "../envs/alto.yaml"
    shell:
        "alto data list {params.path} --split test {params.limit} --out {output} > {log} 2>&1"


rule generate_chunk:
    """Meshes of one chunk of test objects, the model loaded once."""
    input:
        model="results/models/{experiment}/train_summary.json",
        data="results/datasets/{dataset}.json",
        config=lookup(dpath="experiments/{experiment}/config", within=config),
        split="results/splits/{dataset}.txt",
    output:
        MANIFEST,
    log:
        "logs/generate/{dataset}/{experiment}/{chunk}.log",
    params:
        checkpoint="results/models/{experiment}/model_best.pt",
        data=lambda wc: dataset_path(wc.dataset),
        out_dir="results/meshes/{dataset}/{experiment}",
        objects=chunk_object_args("generate"),
        sets=lambda wc: set_args(*eval_overrides(wc.experiment, wc.dataset)),
    threads: lookup(dpath="resources/generate/threads", within=config)
    resources:
        gpu=lookup(dpath="resources/generate/gpu", within=config),
        mem_mb=lookup(dpath="resources/generate/mem_mb", within=config),
        runtime=lookup(dpath="resources/generate/runtime", within=config),
        **GPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "alto generate {input.config} --checkpoint {params.checkpoint} --data {params.data} {params.objects} "
        "--out-dir {params.out_dir} --resume --manifest {output} {params.sets} > {log} 2>&1"


rule evaluate_chunk:
    """Metric rows of one chunk of test objects."""
    input:
        # the generation chunks covering its objects
        manifests=lambda wc: generation_chunks(
            wc.dataset, wc.experiment, range(*chunk_range(wc.dataset, "evaluate", wc.chunk))
        ),
        data="results/datasets/{dataset}.json",
        config=lookup(dpath="experiments/{experiment}/config", within=config),
    output:
        ROWS,
    log:
        "logs/evaluate/{dataset}/{experiment}/{chunk}.log",
    params:
        data=lambda wc: dataset_path(wc.dataset),
        meshes="results/meshes/{dataset}/{experiment}",
        objects=chunk_object_args("evaluate"),
        sets=lambda wc: set_args(*eval_overrides(wc.experiment, wc.dataset)),
    threads: lookup(dpath="resources/evaluate/threads", within=config)
    resources:
        mem_mb=lookup(dpath="resources/evaluate/mem_mb", within=config),
        runtime=lookup(dpath="resources/evaluate/runtime", within=config),
        **CPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "alto evaluate {input.config} --data {params.data} {params.objects} --meshes {params.meshes} "
        "--experiment {wildcards.experiment} --out {output} {params.sets} > {log} 2>&1"
