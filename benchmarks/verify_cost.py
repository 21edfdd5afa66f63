"""verify's own cost: `invoke verify` wall time against a bare `import tensorflow`, side by side.

Target: one TensorFlow import + the matmul budget + at most 1 s. The runs alternate (import, verify, ...)
so both see the same machine; the overhead is also computed per run against the import time that
verify's own TensorFlow child measured. Run: .tools/bin/python benchmarks/verify_cost.py [REPS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, PYTHON, ROOT, machine

BUDGET = 3.0


def wall(argv) -> float:
    start = time.monotonic()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.monotonic() - start


def main(reps: int) -> None:
    print("machine:", machine())
    imports, verifies, per_run = [], [], []
    out = Path(tempfile.mkdtemp()) / "out.json"
    for _ in range(reps):
        imports.append(wall([PYTHON, "-c", "import tensorflow"]))
        verifies.append(wall([sys.executable, "-m", "invoke", "verify", "--env", str(ENV), "--budget", str(BUDGET),
                              "--json", str(out)]))
        child_import = json.loads(out.read_text())["facts"]["tensorflow"]["tensorflow"]["import_s"]
        per_run.append(verifies[-1] - child_import - BUDGET)
    imp, ver = statistics.median(imports), statistics.median(verifies)
    print("bare `import tensorflow`: median %.2f s  %s" % (imp, ["%.2f" % x for x in imports]))
    print("invoke verify --budget %.0f: median %.2f s  %s" % (BUDGET, ver, ["%.2f" % x for x in verifies]))
    overhead = ver - imp - BUDGET
    print("overhead beyond import + budget (medians): %.2f s (target <= 1.0 s): %s" % (
        overhead, "MET" if overhead <= 1 else "NOT MET"))
    print("overhead per run, against verify's own import time: median %.2f s  %s" % (
        statistics.median(per_run), ["%.2f" % x for x in per_run]))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
