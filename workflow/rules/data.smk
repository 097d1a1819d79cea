# Datasets: every source ends in the same stamp, results/datasets/{dataset}.json,
# written by `alto data check` once the folder is complete and valid.


rule demo_data:
    """The procedural demo (objects and rooms), built once for all demo datasets."""
    output:
        "results/build/demo_data.done",
    log:
        "logs/data/demo.log",
    params:
        path=lookup(dpath="demo/path", within=config),
        options=options(**dict(sorted(config["demo"]["options"].items()))),
    threads: lookup(dpath="resources/data/threads", within=config)
    resources:
        mem_mb=lookup(dpath="resources/data/mem_mb", within=config),
        runtime=lookup(dpath="resources/data/runtime", within=config),
        **CPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "(alto data demo {params.path} {params.options} && touch {output}) > {log} 2>&1"


rule demo_dataset:
    input:
        "results/build/demo_data.done",
    output:
        "results/datasets/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    wildcard_constraints:
        dataset=name_pattern(n for n, ds in DATASETS.items() if ds["source"] == "demo"),
    params:
        path=lambda wc: dataset_path(wc.dataset),
    localrule: True
    conda:
        "../envs/alto.yaml"
    shell:
        "alto data check {params.path} --limit 2 --stamp {output} > {log} 2>&1"


rule download_dataset:
    """Download, verify and unpack an archive (or find it unpacked or downloaded by hand)."""
    output:
        "results/datasets/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    wildcard_constraints:
        dataset=name_pattern(n for n, ds in DATASETS.items() if ds["source"] == "download"),
    params:
        dest=lookup(dpath="datasets/{dataset}/path", within=config),
        path=lambda wc: dataset_path(wc.dataset),
        name=lookup(dpath="datasets/{dataset}/download", within=config),
        mirror=lambda wc: options(url=DATASETS[wc.dataset].get("url"), sha256=DATASETS[wc.dataset].get("sha256")),
    localrule: True
    retries: 1
    conda:
        "../envs/alto.yaml"
    shell:
        "(alto data download {params.name} --dest {params.dest} {params.mirror} && "
        "alto data check {params.path} --limit 2 --stamp {output}) > {log} 2>&1"


rule local_dataset:
    """A folder you provide: checked, never modified."""
    output:
        "results/datasets/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    wildcard_constraints:
        dataset=name_pattern(n for n, ds in DATASETS.items() if ds["source"] == "local"),
    params:
        path=lambda wc: dataset_path(wc.dataset),
    localrule: True
    conda:
        "../envs/alto.yaml"
    shell:
        "alto data check {params.path} --limit 2 --stamp {output} > {log} 2>&1"


rule scannet_scene:
    """One ScanNet scene: align, y up, unit cube with the floor at -0.5, sampled points."""
    output:
        "{scannet_root}/scenes/{scene}/pointcloud.npz",
    log:
        "logs/data/scannet/{scannet_root}/{scene}.log",
    wildcard_constraints:
        scannet_root=name_pattern(ds["path"] for ds in DATASETS.values() if ds["source"] == "scannet"),
        scene=r"[^/]+",
    params:
        scans=lambda wc: scannet_at(wc.scannet_root)["scans"],
        points=scannet_points,
    group:
        "per_scene"
    threads: lookup(dpath="resources/data/threads", within=config)
    resources:
        mem_mb=lookup(dpath="resources/data/mem_mb", within=config),
        runtime=lookup(dpath="resources/data/runtime", within=config),
        **CPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "alto data scannet --scans {params.scans} --out {wildcards.scannet_root} --scenes {wildcards.scene} "
        "--n-points {params.points} --no-index > {log} 2>&1"


rule scannet_dataset:
    """Index the preprocessed scenes. Fails at once, saying where to put ScanNet, if it is missing."""
    input:
        lambda wc: expand(
            "{root}/scenes/{scene}/pointcloud.npz", root=DATASETS[wc.dataset]["path"], scene=scannet_scenes(wc.dataset)
        ),
    output:
        "results/datasets/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    wildcard_constraints:
        dataset=name_pattern(n for n, ds in DATASETS.items() if ds["source"] == "scannet"),
    params:
        path=lambda wc: dataset_path(wc.dataset),
        scans=lambda wc: DATASETS[wc.dataset]["scans"],
        scenes=lambda wc: options(scenes=scannet_scenes(wc.dataset)),
    localrule: True
    conda:
        "../envs/alto.yaml"
    shell:
        "(alto data scannet --scans {params.scans} --out {params.path} {params.scenes} --index-only && "
        "alto data check {params.path} --splits test --surface-only --stamp {output}) > {log} 2>&1"
