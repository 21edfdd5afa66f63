"""A no-op `invoke setup` on a complete environment (target: at most 1 s), and its completeness probe
(`python -m checks.probes.installed`: every locked distribution's version and file sizes) alone.

Usage: TFM_ENV=/path/to/env .tools/bin/python benchmarks/setup_noop.py [runs]
"""

from __future__ import annotations

import os
import statistics
import sys

from benchmarks.common import ENV, PYTHON, ROOT, machine, timed
from checks import completeness, envdir
from checks.paths import MARKER


def main(runs: int = 7) -> None:
    print("machine: %s" % machine())
    lock = ROOT / envdir.read_marker(ENV)["lock"]
    pins = sorted(completeness.lock_pins(lock))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    probe = [timed([PYTHON, "-m", "checks.probes.installed", *pins], env=env) for _ in range(runs)]
    noop = [timed([str(ROOT / ".tools" / "bin" / "invoke"), "setup", "--env", str(ENV)]) for _ in range(runs)]
    assert (ENV / MARKER).exists()
    for name, values in (("completeness probe (%d pins)" % len(pins), probe), ("no-op invoke setup", noop)):
        print("%s: median %.2f s  %s" % (name, statistics.median(values), ["%.2f" % v for v in values]))
    print("no-op target <= 1.0 s: %s" % ("MET" if statistics.median(noop) <= 1.0 else "NOT MET"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
