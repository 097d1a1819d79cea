# Datasets: every source ends in the same stamp, results/datasets/{dataset}.json,
# written by `alto data check` once the folder is complete and valid.


rule demo_data:
    """The procedural demo (objects and rooms), built once for all demo datasets."""
    output:
        "results/build/demo_data.done",
    log:
        "logs/data/demo.log",
    params:
        path=demo_root,
        options=demo_options,
    threads: data_threads
    resources:
        mem_mb=data_mem,
        runtime=data_runtime,
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
        dataset=_names(DATASETS, source="demo"),
    params:
        path=ds_path,
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
        dataset=_names(DATASETS, source="download"),
    params:
        dest=ds_download_dest,
        path=ds_path,
        name=ds_download_name,
        mirror=ds_download_mirror,
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
        dataset=_names(DATASETS, source="local"),
    params:
        path=ds_path,
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
        scannet_root=scannet_roots(),
        scene=r"[^/]+",
    params:
        scans=scannet_scans,
        points=scannet_points,
    group:
        "per_scene"
    threads: data_threads
    resources:
        mem_mb=data_mem,
        runtime=data_runtime,
        **CPU_JOB_SLURM,
    conda:
        "../envs/alto.yaml"
    shell:
        "alto data scannet --scans {params.scans} --out {wildcards.scannet_root} --scenes {wildcards.scene} "
        "--n-points {params.points} --no-index > {log} 2>&1"


rule scannet_dataset:
    """Index the preprocessed scenes. Fails at once, saying where to put ScanNet, if it is missing."""
    input:
        scannet_scene_files,
    output:
        "results/datasets/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    wildcard_constraints:
        dataset=_names(DATASETS, source="scannet"),
    params:
        path=ds_path,
        scans=ds_scans,
        scenes=ds_scenes_arg,
    localrule: True
    conda:
        "../envs/alto.yaml"
    shell:
        "(alto data scannet --scans {params.scans} --out {params.path} {params.scenes} --index-only && "
        "alto data check {params.path} --splits test --surface-only --stamp {output}) > {log} 2>&1"
