# Training, one job per experiment, or a published checkpoint converted instead.


rule train:
    """Train an experiment. model.pt is no declared output, so Snakemake keeps it when a
    killed job reruns and training resumes from it."""
    input:
        config=exp_config_file,
        data=exp_training_data_ready,
        extensions="results/build/extensions.json",
    output:
        summary="results/models/{experiment}/train_summary.json",
    log:
        "logs/train/{experiment}.log",
    benchmark:
        "benchmarks/train/{experiment}.tsv"
    wildcard_constraints:
        experiment=_names_trained(),
    params:
        out_dir=exp_model_dir,
        data=exp_training_data_path,
        sets=train_sets,
    threads: train_threads
    resources:
        gpu=train_gpus,
        mem_mb=train_mem,
        runtime=train_runtime,
        **GPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "alto train {input.config} --out-dir {params.out_dir} --data {params.data} "
        "--nproc {resources.gpu} {params.sets} > {log} 2>&1"


rule pretrained_checkpoint:
    """Fetch a published checkpoint and convert it to alto's format."""
    input:
        config=exp_config_file,
    output:
        original="results/models/{experiment}/published.pt",
        summary="results/models/{experiment}/train_summary.json",
    log:
        "logs/pretrained/{experiment}.log",
    wildcard_constraints:
        experiment=_names_pretrained(),
    params:
        url=exp_checkpoint_url,
        sha=exp_checkpoint_sha,
        out_dir=exp_model_dir,
    localrule: True
    retries: 2
    conda:
        "../envs/alto.yaml"
    shell:
        "(alto data download --url {params.url:q} --dest {output.original} {params.sha} && "
        "alto convert-checkpoint {output.original} {params.out_dir}/model_best.pt --config {input.config} "
        "--summary {output.summary}) > {log} 2>&1"
