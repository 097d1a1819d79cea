"""Rule `table`: gather the per-object rows of a dataset into its per-class table."""

from alto.cli.main import configure_logging
from alto.eval import GENERATION_SECONDS, aggregate_rows, read_rows_csv, write_table_csv

configure_logging(log_file=snakemake.log[0])
rows = read_rows_csv(snakemake.input, keys=["experiment"])
table = aggregate_rows(rows, keys=["experiment"], extra_means=[GENERATION_SECONDS]).reset_index()
table.insert(1, "label", table["experiment"].map(snakemake.params.labels))
write_table_csv(table.set_index(["experiment", "label", "class"]), snakemake.output[0])
