"""Entry point: ``python -m checks``. Needs packaging (and psutil, optional); says so if they are missing."""

import sys

try:
    import packaging.version  # noqa: F401 - the one third-party package the checks cannot run without
except ImportError:
    print("checks: error: this environment has no `packaging`, which the checks need "
          "(an incomplete environment? run `invoke setup`; in your own environment: "
          "python -m pip install packaging psutil)", file=sys.stderr)
    sys.exit(2)

from checks.cli import main

sys.exit(main())
