"""``alto config``: check experiment configs, or print one fully merged."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import yaml

from alto.config import load_experiment, parse_dotted_overrides
from alto.errors import ConfigError


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="validate config files (after inheritance); exit 2 on the first bad file")
    check.add_argument("configs", nargs="+", help="YAML files")
    show = sub.add_parser("show", help="print the merged config (defaults, inheritance and --set applied)")
    show.add_argument("config", help="YAML file")
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a key, e.g. --set training.batch_size=4 (repeatable)")
    return parser


def main(argv: Sequence[str] | None, prog: str = "alto config") -> int:
    """Run ``alto config``; returns the exit code."""
    args = _parser(prog).parse_args(argv)
    if args.action == "check":
        bad = 0
        for path in args.configs:
            try:
                load_experiment(path)
            except ConfigError as err:
                bad += 1
                print(f"FAIL {path}\n  {err}", file=sys.stderr)
            else:
                print(f"ok   {path}")
        return 2 if bad else 0
    cfg = load_experiment(args.config, overrides=[parse_dotted_overrides(args.overrides)])
    yaml.safe_dump(cfg.to_dict(), sys.stdout, sort_keys=False)
    return 0
