"""``alto ops``: which compiled kernels this environment has.

``alto ops backends`` reports the scatter backend the models will use (native
torch, or torch-scatter when it is installed and selected), the torch build and
CUDA; ``--stamp FILE`` also writes that report as JSON. The workflow's extension
rule writes this stamp after optionally building torch-scatter, so training
depends on one file whatever the choice.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alto.io import atomic_write


def backend_report() -> dict[str, Any]:
    """The scatter backends available here, the one selected, and the torch build."""
    import torch

    from alto.ops import ENV_VAR, get_scatter_backend, torch_scatter_available

    report: dict[str, Any] = {
        "scatter_backend": get_scatter_backend(),
        "scatter_backend_variable": ENV_VAR,
        "torch_scatter_available": torch_scatter_available(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "python": platform.python_version(),
    }
    if report["torch_scatter_available"]:
        import torch_scatter

        report["torch_scatter"] = torch_scatter.__version__
    return report


def main(argv: Sequence[str] | None, prog: str = "alto ops") -> int:
    """Run ``alto ops``; returns the exit code."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    backends = sub.add_parser("backends", help="report the scatter backends and the torch build")
    backends.add_argument("--stamp", type=Path, help="also write the report to this JSON file")
    args = parser.parse_args(argv)
    report = backend_report()
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if args.stamp is not None:
        with atomic_write(args.stamp) as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
    return 0
