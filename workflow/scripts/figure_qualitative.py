"""Rule `figure_qualitative`: input, each experiment's mesh and the ground truth for a few objects."""

from alto.cli.main import configure_logging
from alto.config import load_config, parse_dotted_overrides
from alto.report.figures import load_qualitative_rows, qualitative_figure, save_figure

configure_logging(log_file=snakemake.log[0])
params = snakemake.params
experiments = params.experiments
# Inputs are drawn with the first experiment's data settings, as its generation did.
cfg = load_config(params.configs[experiments[0]], overrides=[parse_dotted_overrides(params.sets)])
cfg["data"]["path"] = params.data
mesh_dirs = {params.labels[e]: f"results/meshes/{snakemake.wildcards.dataset}/{e}" for e in experiments}
rows = load_qualitative_rows(cfg, params.objects, mesh_dirs)
save_figure(qualitative_figure(rows, list(mesh_dirs), kind=params.kind),
            snakemake.output.png, snakemake.output.pdf)
