"""Rule `figure_qualitative`: input, each experiment's mesh and the ground truth for a few objects."""

from alto.config import load_config, parse_dotted_overrides
from alto.report.figures import load_qualitative_rows, qualitative_figure, save_figure
from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 (injected by Snakemake)
params = snakemake.params  # noqa: F821
experiments = params.experiments
# Inputs are drawn with the first experiment's data settings, as its generation did.
cfg = load_config(params.configs[experiments[0]], overrides=[parse_dotted_overrides(params.sets)])
cfg["data"]["path"] = params.data
mesh_dirs = {params.labels[e]: f"results/meshes/{snakemake.wildcards.dataset}/{e}" for e in experiments}  # noqa: F821
rows = load_qualitative_rows(cfg, params.objects, mesh_dirs)
save_figure(qualitative_figure(rows, list(mesh_dirs), kind=params.kind),
            snakemake.output.png, snakemake.output.pdf)  # noqa: F821
