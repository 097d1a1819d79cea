"""Rule `figure_training_curves`: loss and validation IoU of every trained experiment."""

from pathlib import Path

from alto.cli.main import configure_logging
from alto.report.figures import save_figure, training_curves_figure

configure_logging(log_file=snakemake.log[0])
labels = snakemake.params.labels
runs = {labels[Path(summary).parent.name]: Path(summary).parent for summary in snakemake.input.summaries}
save_figure(training_curves_figure(runs), snakemake.output.png, snakemake.output.pdf)
