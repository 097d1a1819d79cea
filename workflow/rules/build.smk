# Optional native kernels. Training depends on the stamp either way, so the DAG has
# the same shape whether torch-scatter is built or the native torch backend is used.


rule compile_extensions:
    output:
        "results/build/extensions.json",
    log:
        "logs/build/extensions.log",
    params:
        build=extension_build_command,
    localrule: True
    conda:
        "../envs/alto.yaml"
    shell:
        "({params.build} alto ops backends --stamp {output}) > {log} 2>&1"
