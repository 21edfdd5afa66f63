"""`invoke setup` repairing a real environment whose TensorFlow lost a file, with a private uv cache: the time of
each repair and what it added to uv's cache (the target: nothing; uv's --reinstall-package left a copy of the
wheel behind at every repair). The file is deleted (the cache's copy stays good), then, in two more rounds,
cut in place (on Linux the cache's copy is the same file, cut too). With a second checkout, its setup is
measured the same way, in turn.

Usage: .tools/bin/python -m benchmarks.setup_repair [rounds] [OTHER checkout, with its own .tools/]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, machine, timed


def cache_bytes(cache: Path) -> tuple[int, int]:
    """(unpacked wheels, bytes of their files, each inode once) in uv's cache."""
    archives = cache / "archive-v0"
    seen: set[int] = set()
    total = 0
    for folder, _, names in os.walk(archives):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return len(list(archives.iterdir())), total


def setup(checkout: Path, env: Path, environ: dict[str, str]) -> float:
    return timed([str(checkout / ".tools" / "bin" / "invoke"), "setup", "--env", str(env)], checkout, environ)


def measure(checkout: Path, rounds: int, work: Path) -> None:
    cache, env = work / "uv-cache", work / "env"
    environ = dict(os.environ, UV_CACHE_DIR=str(cache))
    first = setup(checkout, env, environ)
    count, size = cache_bytes(cache)
    print("%s (%s): first setup %.1f s; uv cache %d wheels, %.0f MB" % (
        checkout, subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(), first, count, size / 1e6))
    for how, n in (("deleted", rounds), ("cut in place", 2)):
        times, grown = [], []
        for _ in range(n):
            init = next((env / "lib").glob("python3.*/site-packages/tensorflow/__init__.py"))
            if how == "deleted":
                init.unlink()
            else:
                init.write_bytes(init.read_bytes()[:5])  # the private cache's copy too
            times.append(setup(checkout, env, environ))
            assert init.stat().st_size > 5
            now = cache_bytes(cache)
            grown.append((now[0] - count, (now[1] - size) / 1e6))
            count, size = now
        print("  repair, a file %s: median %.2f s  %s" % (how, statistics.median(times), ["%.2f" % t for t in times]))
        print("    added to uv's cache per repair: %s" % ["%d wheels, %d MB" % (n, round(mb)) for n, mb in grown])


def main(rounds: int = 5, other: str | None = None) -> None:
    print("machine: %s" % machine())
    for checkout in [ROOT] + ([Path(other).resolve()] if other else []):
        with tempfile.TemporaryDirectory(prefix="repair-bench-") as work:
            measure(checkout, rounds, Path(work))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, sys.argv[2] if len(sys.argv) > 2 else None)
