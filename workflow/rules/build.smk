# Optional native kernels. Training depends on the stamp either way, so the DAG has
# the same shape whether torch-scatter is built or the native torch backend is used.


rule compile_extensions:
    output:
        "results/build/extensions.json",
    log:
        "logs/build/extensions.log",
    params:
        # torch-scatter built against the installed torch (about 6 min on 2 cores), if asked for
        build=(
            "python -m pip install --no-build-isolation torch-scatter &&"
            if config["extensions"]["torch_scatter"]
            else ""
        ),
    localrule: True
    conda:
        "../envs/alto.yaml"
    shell:
        "({params.build} alto ops backends --stamp {output}) > {log} 2>&1"
