"""Rule `figure_training_curves`: loss and validation IoU of every trained experiment."""

from pathlib import Path

from alto.report.figures import save_figure, training_curves_figure
from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 (injected by Snakemake)
labels = snakemake.params.labels  # noqa: F821
runs = {labels[Path(summary).parent.name]: Path(summary).parent for summary in snakemake.input.summaries}  # noqa: F821
save_figure(training_curves_figure(runs), snakemake.output.png, snakemake.output.pdf)  # noqa: F821
