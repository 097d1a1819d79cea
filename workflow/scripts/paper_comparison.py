"""Rule `paper_comparison`: our mean-of-class numbers beside the published ones."""

from pathlib import Path

from alto.cli.main import configure_logging
from alto.io import atomic_write
from alto.report.comparison import paper_comparison, read_published_numbers, read_table

configure_logging(log_file=snakemake.log[0])
datasets = snakemake.params.datasets
tables = {name: read_table(path) for name, path in zip(datasets, snakemake.input.tables, strict=True)}
comparison = paper_comparison(tables, read_published_numbers(snakemake.input.published), datasets)
with atomic_write(Path(snakemake.output[0]), newline="") as handle:
    comparison.to_csv(handle, index=False)
