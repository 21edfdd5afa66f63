"""Entry point: ``python -m checks``. Needs packaging (and psutil, optional); says so if they are missing."""

import sys

from checks import console

console.install()

try:
    import packaging.version  # noqa: F401 - the one third-party package the checks cannot run without
except ImportError:
    print("checks: error: this environment has no `packaging`, which the checks need "
          "(an incomplete environment? run `invoke setup`; in your own environment: "
          "python -m pip install packaging psutil)", file=sys.stderr)
    sys.exit(2)

from checks import process  # noqa: E402
from checks.cli import main  # noqa: E402 - after the console and packaging guards

process.stop_on_signals()  # Ctrl-C or SIGTERM: the TensorFlow child's whole group is killed, temp files removed
sys.exit(main())
