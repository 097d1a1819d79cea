"""Rule `figure_runtime`: generation seconds per object against IoU."""

from pathlib import Path

from alto.report.comparison import read_table
from alto.report.figures import runtime_figure, save_figure
from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 (injected by Snakemake)
tables = {Path(path).stem: read_table(path) for path in snakemake.input.tables}  # noqa: F821
save_figure(runtime_figure(tables), snakemake.output.png, snakemake.output.pdf)  # noqa: F821
