# Training, one job per experiment, or a published checkpoint converted instead.


rule train:
    """Train an experiment. model.pt is no declared output, so Snakemake keeps it when a
    killed job reruns and training resumes from it."""
    input:
        config=lookup(dpath="experiments/{experiment}/config", within=config),
        data=lambda wc: f"results/datasets/{EXPERIMENTS[wc.experiment]['dataset']}.json",
        extensions="results/build/extensions.json",
    output:
        summary="results/models/{experiment}/train_summary.json",
    log:
        "logs/train/{experiment}.log",
    benchmark:
        "benchmarks/train/{experiment}.tsv"
    wildcard_constraints:
        experiment=name_pattern(name for name in EXPERIMENTS if trained(name)),
    params:
        out_dir="results/models/{experiment}",
        data=lambda wc: dataset_path(EXPERIMENTS[wc.experiment]["dataset"]),
        sets=lambda wc: set_args(EXPERIMENTS[wc.experiment].get("overrides")),
    threads: train_resource("threads")
    resources:
        gpu=train_resource("gpu"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
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
        config=lookup(dpath="experiments/{experiment}/config", within=config),
    output:
        summary="results/models/{experiment}/train_summary.json",
    log:
        "logs/pretrained/{experiment}.log",
    wildcard_constraints:
        experiment=name_pattern(name for name in EXPERIMENTS if not trained(name)),
    params:
        source=published_source,
        out_dir="results/models/{experiment}",
    localrule: True
    retries: 2
    conda:
        "../envs/alto.yaml"
    shell:
        "alto models fetch {params.source} --out {params.out_dir}/model_best.pt --summary {output.summary} "
        "> {log} 2>&1"
