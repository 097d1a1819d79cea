"""Rule `table`: gather the per-object rows of a dataset into its per-class table."""

from alto.cli.evaluate import GENERATION_SECONDS
from alto.eval import aggregate_rows, read_rows_csv, write_table_csv
from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 (injected by Snakemake)
rows = read_rows_csv(snakemake.input, keys=["experiment"])  # noqa: F821
table = aggregate_rows(rows, keys=["experiment"], extra_means=[GENERATION_SECONDS]).reset_index()
table.insert(1, "label", table["experiment"].map(snakemake.params.labels))  # noqa: F821
write_table_csv(table.set_index(["experiment", "label", "class"]), snakemake.output[0])  # noqa: F821
