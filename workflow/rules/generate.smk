# Generation and evaluation, by chunk: the sorted test list of a dataset is cut into
# chunks of `chunks.generate` / `chunks.evaluate` objects (config `chunks:`, defaults in
# common.smk), and one job handles a chunk in one process. Outputs stay per object: a
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
        data=ds_ready,
    output:
        "results/splits/{dataset}.txt",
    log:
        "logs/splits/{dataset}.log",
    params:
        path=ds_path,
        limit=split_limit_arg,
    localrule: True
    conda:
        "../envs/alto.yaml"
    shell:
        "alto data list {params.path} --split test {params.limit} --out {output} > {log} 2>&1"


rule generate_chunk:
    """Meshes of one chunk of test objects, the model loaded once."""
    input:
        model=exp_trained_model,
        data=ds_ready,
        config=exp_config_file,
        split="results/splits/{dataset}.txt",
    output:
        generate_manifest("{dataset}", "{experiment}", "{chunk}"),
    log:
        "logs/generate/{dataset}/{experiment}/{chunk}.log",
    params:
        checkpoint=exp_best_checkpoint,
        data=ds_path,
        out_dir="results/meshes/{dataset}/{experiment}",
        objects=chunk_object_args("generate"),
        sets=eval_sets,
    threads: generate_threads
    resources:
        gpu=generate_gpus,
        mem_mb=generate_mem,
        runtime=generate_runtime,
        **GPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "alto generate {input.config} --checkpoint {params.checkpoint} --data {params.data} {params.objects} "
        "--out-dir {params.out_dir} --resume --manifest {output} {params.sets} > {log} 2>&1"


rule evaluate_chunk:
    """Metric rows of one chunk of test objects."""
    input:
        manifests=evaluation_chunk_manifests,
        data=ds_ready,
        config=exp_config_file,
    output:
        evaluate_rows("{dataset}", "{experiment}", "{chunk}"),
    log:
        "logs/evaluate/{dataset}/{experiment}/{chunk}.log",
    params:
        data=ds_path,
        meshes="results/meshes/{dataset}/{experiment}",
        objects=chunk_object_args("evaluate"),
        sets=eval_sets,
    threads: evaluate_threads
    resources:
        mem_mb=evaluate_mem,
        runtime=evaluate_runtime,
        **CPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "alto evaluate {input.config} --data {params.data} {params.objects} --meshes {params.meshes} "
        "--experiment {wildcards.experiment} --out {output} {params.sets} > {log} 2>&1"
