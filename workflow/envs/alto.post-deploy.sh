#!/usr/bin/env bash
# Runs once inside the freshly created conda env: install alto itself from this checkout
# (the script's own location when run from a checkout, else the working directory,
# which is the workflow root when snakemake runs from there).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$root/pyproject.toml" ] || root="$PWD"
python -m pip install --no-deps --editable "$root"
