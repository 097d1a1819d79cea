# Per object: one mesh per test object and experiment, one row of metrics per mesh.
# Both rules share the group `per_object`, so on a cluster one job handles a batch of
# objects (profiles/slurm sets the batch size with --group-components).


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


rule generate_mesh:
    input:
        model=exp_trained_model,
        data=ds_ready,
        config=exp_config_file,
    output:
        mesh="results/meshes/{dataset}/{experiment}/{category}/{obj}.ply",
        record="results/meshes/{dataset}/{experiment}/{category}/{obj}.json",
    log:
        "logs/generate/{dataset}/{experiment}/{category}/{obj}.log",
    group:
        "per_object"
    params:
        checkpoint=exp_best_checkpoint,
        data=ds_path,
        out_dir="results/meshes/{dataset}/{experiment}",
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
        "alto generate {input.config} --checkpoint {params.checkpoint} --data {params.data} "
        "--object {wildcards.category}/{wildcards.obj} --out-dir {params.out_dir} {params.sets} > {log} 2>&1"


rule evaluate_mesh:
    input:
        mesh="results/meshes/{dataset}/{experiment}/{category}/{obj}.ply",
        record="results/meshes/{dataset}/{experiment}/{category}/{obj}.json",
        data=ds_ready,
        config=exp_config_file,
    output:
        "results/eval/{dataset}/{experiment}/{category}/{obj}.csv",
    log:
        "logs/evaluate/{dataset}/{experiment}/{category}/{obj}.log",
    group:
        "per_object"
    params:
        data=ds_path,
        sets=eval_sets,
    threads: evaluate_threads
    resources:
        mem_mb=evaluate_mem,
        runtime=evaluate_runtime,
        # a group job has one partition: that of generate_mesh
        **GPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "alto evaluate {input.config} --data {params.data} --object {wildcards.category}/{wildcards.obj} "
        "--mesh {input.mesh} --record {input.record} --experiment {wildcards.experiment} "
        "--out {output} {params.sets} > {log} 2>&1"
