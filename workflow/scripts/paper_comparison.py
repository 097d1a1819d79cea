"""Rule `paper_comparison`: our mean-of-class numbers beside the published ones."""

from pathlib import Path

from alto.io import atomic_write
from alto.report.comparison import paper_comparison, read_published_numbers, read_table
from _common import setup_logging

setup_logging(snakemake)  # noqa: F821 (injected by Snakemake)
datasets = snakemake.params.datasets  # noqa: F821
tables = {name: read_table(path) for name, path in zip(datasets, snakemake.input.tables, strict=True)}  # noqa: F821
comparison = paper_comparison(tables, read_published_numbers(snakemake.input.published), datasets)  # noqa: F821
with atomic_write(Path(snakemake.output[0]), newline="") as handle:  # noqa: F821
    comparison.to_csv(handle, index=False)
