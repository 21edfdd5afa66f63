"""Onboarding: a fresh clone to a verified environment (`make verify`), before and after, side by side.

Each run clones the repository at a commit into a new temporary directory (not timed) and times
`make verify` there: the tools bootstrap, `invoke setup` and `invoke verify`. The two commits alternate
(before, after, before, ...) so load on the machine hits both; the package caches (pip's, uv's) are
warm for both, as after a first run. The load average is printed beside each run.

Run: .tools/bin/python benchmarks/onboarding.py [BEFORE [AFTER [REPS]]]
(default: 94bb7d7, HEAD, 3 each). Target: AFTER's median at most 0.6 x BEFORE's.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, machine

TARGET = 0.6


def one_run(commit: str) -> tuple[float, float | None]:
    """Seconds for `make verify` in a fresh clone at ``commit``; and the bootstrap's own figure, if printed."""
    work = tempfile.mkdtemp(prefix="onboarding-")
    try:
        subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), work], check=True)
        subprocess.run(["git", "-C", work, "checkout", "--quiet", commit], check=True)
        start = time.monotonic()
        proc = subprocess.run(["make", "verify"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, text=True, check=False)
        elapsed = time.monotonic() - start
        if proc.returncode not in (0, 1):
            sys.exit("make verify at %s exited %d:\n%s" % (commit, proc.returncode, proc.stdout[-3000:]))
        found = re.search(r"Installed envs/tools.lock .* in ([0-9.]+) s", proc.stdout)
        return elapsed, float(found.group(1)) if found else None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(before: str, after: str, reps: int) -> None:
    print("machine:", machine().rsplit("; env", 1)[0])
    print("make verify from a fresh clone; %s (before) and %s (after) alternate, %d runs each" % (
        before, after, reps))
    times: dict[str, list[float]] = {before: [], after: []}
    for i in range(reps):
        for commit in (before, after):
            load = os.getloadavg()[0]
            elapsed, boot = one_run(commit)
            times[commit].append(elapsed)
            print("run %d %-8s %6.1f s%s  (load average before the run: %.2f)" % (
                i + 1, commit, elapsed, "  tools bootstrap %.1f s" % boot if boot is not None else "", load),
                flush=True)
    b, a = statistics.median(times[before]), statistics.median(times[after])
    print("median: before %.1f s, after %.1f s: %.2f x (target <= %.1f x): %s" % (
        b, a, a / b, TARGET, "MET" if a / b <= TARGET else "NOT MET"))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "94bb7d7", args[1] if len(args) > 1 else "HEAD", int(args[2]) if len(args) > 2 else 3)
