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
    """A published model instead of training: fetched, converted and cached by `alto models fetch`
    (the cache the CLI uses, $ALTO_MODEL_CACHE), then copied to model_best.pt."""
    input:
        config=exp_config_file,
    output:
        summary="results/models/{experiment}/train_summary.json",
    log:
        "logs/pretrained/{experiment}.log",
    wildcard_constraints:
        experiment=_names_pretrained(),
    params:
        source=exp_published_source,
        out_dir=exp_model_dir,
    localrule: True
    retries: 2
    conda:
        "../envs/alto.yaml"
    shell:
        "alto models fetch {params.source} --out {params.out_dir}/model_best.pt --summary {output.summary} "
        "> {log} 2>&1"
