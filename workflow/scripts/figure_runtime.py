"""Rule `figure_runtime`: generation seconds per object against IoU."""

from pathlib import Path

from alto.cli.main import configure_logging
from alto.report.comparison import read_table
from alto.report.figures import runtime_figure, save_figure

configure_logging(log_file=snakemake.log[0])
tables = {Path(path).stem: read_table(path) for path in snakemake.input.tables}
save_figure(runtime_figure(tables), snakemake.output.png, snakemake.output.pdf)
