# Tables and figures: everything the paper prints, from the per-object rows of the chunks.


rule table:
    """Per-class and mean metrics of every experiment evaluated on a dataset."""
    input:
        lambda wc: expand(
            ROWS,
            dataset=wc.dataset,
            experiment=evaluated_experiments(wc.dataset),
            chunk=chunk_ids(wc.dataset, "evaluate"),
        ),
    output:
        report(
            "results/tables/{dataset}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"dataset": "{dataset}", "table": "per class"},
        ),
    log:
        "logs/tables/{dataset}.log",
    params:
        labels=LABELS,
    localrule: True
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/table.py"


rule paper_comparison:
    """Our numbers beside the published ones, with the provenance of each published value."""
    input:
        tables=expand("results/tables/{dataset}.csv", dataset=config["targets"]),
        published=lookup(
            dpath="published_numbers",
            within=config,
            default=workflow.source_path("../resources/published-numbers.yaml"),
        ),
    output:
        report(
            "results/tables/paper_comparison.csv",
            caption="../report/comparison.rst",
            category="Tables",
            labels={"dataset": "all", "table": "paper comparison"},
        ),
    log:
        "logs/tables/paper_comparison.log",
    params:
        # per target: its setting in the published numbers, and each experiment's method (default: its label)
        datasets={
            name: {
                "published": DATASETS[name].get("published"),
                "methods": {exp: EXPERIMENTS[exp].get("method", LABELS[exp]) for exp in evaluated_experiments(name)},
            }
            for name in config["targets"]
        },
    localrule: True
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/paper_comparison.py"


rule figure_qualitative:
    """Input points, each experiment's mesh and the ground truth, for a few test objects."""
    input:
        manifests=qualitative_manifests,
        data="results/datasets/{dataset}.json",
    output:
        png=report(
            "results/figures/{dataset}_qualitative.png",
            caption="../report/qualitative.rst",
            category="Figures",
            labels={"dataset": "{dataset}", "figure": "qualitative"},
        ),
        pdf="results/figures/{dataset}_qualitative.pdf",
    log:
        "logs/figures/{dataset}_qualitative.log",
    params:
        data=lambda wc: dataset_path(wc.dataset),
        experiments=lambda wc: evaluated_experiments(wc.dataset),
        configs=lambda wc: {name: EXPERIMENTS[name]["config"] for name in evaluated_experiments(wc.dataset)},
        # the first experiment's inputs are the ones shown
        sets=lambda wc: override_list(*eval_overrides(evaluated_experiments(wc.dataset)[0], wc.dataset)),
        labels=LABELS,
        objects=qualitative_objects,
        kind=lookup(dpath="datasets/{dataset}/kind", within=config),
    resources:
        **CPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/figure_qualitative.py"


rule figure_per_class:
    input:
        table="results/tables/{dataset}.csv",
    output:
        png=report(
            "results/figures/{dataset}_per_class.png",
            caption="../report/per_class.rst",
            category="Figures",
            labels={"dataset": "{dataset}", "figure": "per-class metrics"},
        ),
        pdf="results/figures/{dataset}_per_class.pdf",
    log:
        "logs/figures/{dataset}_per_class.log",
    localrule: True
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/figure_per_class.py"


rule figure_runtime:
    """Generation seconds per object against IoU, per experiment and dataset."""
    input:
        tables=expand("results/tables/{dataset}.csv", dataset=config["targets"]),
    output:
        png=report(
            "results/figures/runtime_vs_iou.png",
            caption="../report/runtime.rst",
            category="Figures",
            labels={"dataset": "all", "figure": "runtime vs IoU"},
        ),
        pdf="results/figures/runtime_vs_iou.pdf",
    log:
        "logs/figures/runtime_vs_iou.log",
    localrule: True
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/figure_runtime.py"


rule figure_training_curves:
    input:
        # the models trained here (not fetched) among those evaluated on the targets
        summaries=expand(
            "results/models/{experiment}/train_summary.json",
            experiment=sorted({e for name in config["targets"] for e in evaluated_experiments(name) if trained(e)}),
        ),
    output:
        png=report(
            "results/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
            labels={"dataset": "all", "figure": "training curves"},
        ),
        pdf="results/figures/training_curves.pdf",
    log:
        "logs/figures/training_curves.log",
    params:
        labels=LABELS,
    localrule: True
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/figure_training_curves.py"
