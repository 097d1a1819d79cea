"""Rule `figure_per_class`: metric bars per class and experiment for one dataset."""

from alto.report.comparison import read_table
from alto.report.figures import per_class_figure, save_figure
from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 (injected by Snakemake)
table = read_table(snakemake.input.table)  # noqa: F821
save_figure(per_class_figure(table, title=snakemake.wildcards.dataset),  # noqa: F821
            snakemake.output.png, snakemake.output.pdf)  # noqa: F821
