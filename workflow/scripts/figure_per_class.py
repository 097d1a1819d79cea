"""Rule `figure_per_class`: metric bars per class and experiment for one dataset."""

from alto.cli.main import configure_logging
from alto.report.comparison import read_table
from alto.report.figures import per_class_figure, save_figure

configure_logging(log_file=snakemake.log[0])
table = read_table(snakemake.input.table)
save_figure(per_class_figure(table, title=snakemake.wildcards.dataset),
            snakemake.output.png, snakemake.output.pdf)
