"""``python -m alto``: the ``alto`` command where its console script is not installed
(e.g. a machine that only has the repository on ``PYTHONPATH``)."""

import sys

from alto.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
