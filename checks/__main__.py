"""Entry point: ``python -m checks``. Needs packaging (and psutil, optional); says so if they are missing."""

import sys

from checks import console

console.install()

try:
    import packaging.version  # noqa: F401 - the one third-party package the checks cannot run without
except ImportError:
    import os
    import shlex

    from checks.paths import MARKER, OWNER

    ours = any(os.path.exists(os.path.join(sys.prefix, name)) for name in (MARKER, OWNER))
    print("checks: error: this environment has no `packaging`, which the checks need (in your own environment: "
          "install packaging and psutil); fix: .tools/bin/invoke setup --env %s" % (
              "%s  # repairs it" % shlex.quote(sys.prefix) if ours else
              ".venv-tf  # a fresh environment from the lock; %s was not made by invoke setup" % sys.prefix),
          file=sys.stderr)
    sys.exit(2)

from checks import process  # noqa: E402
from checks.cli import main  # noqa: E402 - after the console and packaging guards

process.stop_on_signals()  # Ctrl-C or SIGTERM: the TensorFlow child's whole group is killed, temp files removed
sys.exit(main())
