"""Bootstrap the tools environment `.tools/` from a hash-locked file, and say how long it took.

Run by the Makefile with the interpreter that builds the tools (stdlib only, Python 3.9+):

    python3 scripts/bootstrap.py envs/tools.lock   # runtime: invoke, uv, packaging, psutil (make tools)
    python3 scripts/bootstrap.py envs/dev.lock     # on top: pytest, ruff, mypy, ... (make dev)

The fastest installer at hand does the work, every file checked against its sha256: uv once `.tools/`
has it; else this interpreter's own pip installing into a venv made without pip (`pip --python`,
pip >= 22.3), which skips the ~3 s of ensurepip; else a venv with pip.
"""

from __future__ import annotations

import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
PIP_FLAGS = ["install", "--quiet", "--disable-pip-version-check", "--no-input", "--require-hashes",
             "--only-binary", ":all:", "-r"]


def _host_pip_targets() -> bool:
    """Whether this interpreter has a pip that can install into another interpreter (`--python`)."""
    try:
        import pip
    except ImportError:
        return False
    major, minor = (int(x) for x in pip.__version__.split(".")[:2])
    return (major, minor) >= (22, 3)


def install(lock: Path) -> str:
    """Install ``lock`` into .tools/ (created if missing); return which installer did it."""
    python = TOOLS / "bin" / "python"
    uv = TOOLS / "bin" / "uv"
    if python.exists() and uv.exists():
        subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "--require-hashes",
                        "--only-binary", ":all:", "--compile-bytecode", "-r", str(lock)], check=True)
        return "uv"
    if _host_pip_targets():
        venv.create(TOOLS, with_pip=False, clear=True)
        subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *PIP_FLAGS, str(lock)], check=True)
        return "pip --python"
    venv.create(TOOLS, with_pip=True, clear=True)
    subprocess.run([str(python), "-m", "pip", *PIP_FLAGS, str(lock)], check=True)
    return "pip"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python3 scripts/bootstrap.py LOCKFILE", file=sys.stderr)
        return 2
    lock = Path(argv[0])
    start = time.monotonic()
    try:
        how = install(lock)
    except subprocess.CalledProcessError as exc:
        print("error: installing %s into %s failed (exit %d); see the installer's output above"
              % (lock, TOOLS, exc.returncode), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run the same make target again", file=sys.stderr)
        return 130
    print("Installed %s into %s/ with %s in %.1f s" % (lock, TOOLS.name, how, time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
