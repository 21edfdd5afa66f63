"""A team's project: `invoke setup --requirements FILE` against a plain `uv pip sync` of the same lock.

First a setup (not timed) resolves the project's locks beside it and warms uv's cache. Then, alternating
(setup, sync, resolve, setup, sync, resolve, ...), each into a new environment directory:
  setup    `invoke setup --env NEW --requirements FILE`: the locks are committed and fresh (a teammate onboarding)
  sync     `uv venv NEW --python SAME` + `uv pip sync --require-hashes --only-binary :all: LOCK`: the floor
  resolve  as setup, after deleting the project's locks: both platforms resolved again, then installed
and finally the no-op re-run (`invoke setup` on the complete environment, unchanged requirements), 5 times.
The load average is printed beside each run.

Run: .tools/bin/python benchmarks/project_setup.py [REPS [REQUIREMENT ...]]
(default: 3 reps; tabulate and tf-keras==2.19.0, which depends on `tensorflow`). Needs PyPI.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine

INVOKE = [sys.executable, "-m", "invoke"]
UV = str(Path(sys.executable).parent / "uv")


def timed(argv: list[str], **kw) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL, check=False, **kw)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        sys.exit("%s exited %d:\n%s" % (" ".join(argv), done.returncode, done.stdout[-3000:]))
    return elapsed


def main(reps: int, requirements: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="project-bench-"))
    try:
        proj = work / "proj"
        proj.mkdir()
        req = proj / "requirements.txt"
        req.write_text("\n".join(requirements) + "\n")
        first = timed(INVOKE + ["setup", "--env", str(work / "warm"), "--requirements", str(req)])
        marker = json.loads((work / "warm" / ".tfmetal-setup.json").read_text())
        lock, python = Path(marker["lock"]), marker["python"]["path"]
        print("machine:", machine().rsplit("; env", 1)[0])
        print("requirements: %s; lock %s (%d lines); Python %s" % (
            ", ".join(requirements), lock.name, len(lock.read_text().splitlines()), marker["python"]["version"]))
        print("first setup (resolve both platforms, cold-ish cache): %.1f s (not counted)" % first)
        kinds = ("setup", "sync", "resolve")
        times: dict[str, list[float]] = {k: [] for k in kinds}
        n = 0
        for i in range(reps):
            for kind in kinds:
                n += 1
                env = work / ("env%d" % n)
                load = os.getloadavg()[0]
                if kind == "sync":
                    t = timed([UV, "venv", "-q", "--python", python, str(env)]) + timed(
                        [UV, "pip", "sync", "-q", "--python", str(env / "bin" / "python"), "--require-hashes",
                         "--only-binary", ":all:", str(lock)])
                else:
                    if kind == "resolve":
                        shutil.rmtree(proj / "tfmetal-locks")
                    t = timed(INVOKE + ["setup", "--env", str(env), "--requirements", str(req)])
                times[kind].append(t)
                print("run %d %-8s %6.2f s  (load average before the run: %.2f)" % (i + 1, kind, t, load), flush=True)
                shutil.rmtree(env, ignore_errors=True)
        noop = [timed(INVOKE + ["setup", "--env", str(work / "warm"), "--requirements", str(req)]) for _ in range(5)]
        med = {k: statistics.median(v) for k, v in times.items()}
        print("median: setup %.2f s, uv pip sync %.2f s (setup/sync %.2f x), setup with resolving %.2f s" % (
            med["setup"], med["sync"], med["setup"] / med["sync"], med["resolve"]))
        print("no-op re-run: median %.2f s, max %.2f s over 5 (target <= 1 s)" % (statistics.median(noop), max(noop)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 3, args[1:] or ["tabulate", "tf-keras==2.19.0"])
