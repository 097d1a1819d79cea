#!/usr/bin/env bash
# The prepared GPU check (docs/benchmarks_gpu.md). On the lent GPU machine:
#   bash bench/gpu/check.sh                 results in $OUT (or results/gpu_check): results.json, results.md, check.log
#   bash bench/gpu/check.sh --stages env parity     any option of bench/gpu/check.py, given after the defaults
# Installs the wheels carried in .whl/ (bench/gpu/fetch_wheels.py; ALTO_WHEELS names another folder)
# into a scratch site folder (ALTO_WHEEL_SITE, default /tmp/site),
# puts the repository on PYTHONPATH (alto is not installed there) and runs the check.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${PYTHON:-python3}"
wheels="${ALTO_WHEELS:-$repo/.whl}"
if compgen -G "$wheels/*.whl" > /dev/null; then
  site="${ALTO_WHEEL_SITE:-/tmp/site}"
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
cd "$repo"
exec "$python" -m bench.gpu.check --device cuda --budget-s "${BUDGET_S:-480}" --out "${OUT:-$repo/results/gpu_check}" "$@"
