"""Command-line interface: ``alto <command> ...`` (see :mod:`alto.cli.main`)."""
