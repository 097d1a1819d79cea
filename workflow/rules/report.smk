# Tables and figures: everything the paper prints, from the per-object rows of the chunks.


rule table:
    """Per-class and mean metrics of every experiment evaluated on a dataset."""
    input:
        eval_files,
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
        labels=experiment_labels,
    localrule: True
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/table.py"


rule paper_comparison:
    """Our numbers beside the published ones, with the provenance of each published value."""
    input:
        tables=target_tables,
        published=published_numbers_file,
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
        datasets=target_dataset_info,
    localrule: True
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/paper_comparison.py"


rule figure_qualitative:
    """Input points, each experiment's mesh and the ground truth, for a few test objects."""
    input:
        manifests=qualitative_manifests,
        data=ds_ready,
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
        data=ds_path,
        experiments=qualitative_experiments,
        configs=qualitative_configs,
        sets=qualitative_sets,
        labels=experiment_labels,
        objects=qualitative_objects,
        kind=ds_kind,
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
        tables=target_tables,
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
        summaries=target_trained_models,
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
        labels=experiment_labels,
    localrule: True
    conda:
        "../envs/alto.yaml"
    script:
        "../scripts/figure_training_curves.py"
