# ALTO / ConvONet reproduction: every table and figure from one DAG.
#
#   snakemake --cores 8 all                       the datasets listed under `targets`
#   snakemake --cores 8 results/tables/shapenet.csv   one dataset's table, whatever `targets` says
#   snakemake --configfile config/paper.yaml ...  the full reproduction
#   snakemake --report results/report.html        tables and figures in one page
#
# The rules only call the `alto` package; see workflow/rules/*.smk by stage.

from snakemake.utils import min_version

min_version("9.20")


# The demo config is the default; a config given with --configfile replaces it
# instead of being merged into it.
if not config:

    configfile: "config/config.yaml"



report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset=name_pattern(DATASETS),
    experiment=name_pattern(EXPERIMENTS),
    chunk=r"\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/build.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        chunk_files,
    localrule: True
