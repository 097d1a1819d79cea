"""Shared set-up of the workflow scripts: log to the rule's log file."""

from __future__ import annotations

import logging
from typing import Any


def setup_logging(snakemake: Any) -> None:
    """Send the script's log messages to ``snakemake.log[0]`` (or stderr without a log)."""
    target = {"filename": snakemake.log[0]} if snakemake.log else {}
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True, **target)
