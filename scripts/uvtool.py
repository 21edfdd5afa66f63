"""Where uv is: the one in the tools environment, else on PATH."""

from __future__ import annotations

import os
import shutil
import sys

from checks import fixes
from checks.errors import UsageError


def find_uv() -> str | None:
    try:
        import uv  # the PyPI package ships the binary

        path = uv.find_uv_bin()
        if path and os.path.exists(path):
            return path
    except (ImportError, FileNotFoundError):
        pass
    candidate = os.path.join(os.path.dirname(sys.executable), "uv")
    return candidate if os.path.exists(candidate) else shutil.which("uv")


def require_uv() -> str:
    """uv's path, or a usage error that says how to get it."""
    uv = find_uv()
    if not uv:
        raise UsageError("uv is not installed", fix=fixes.make("tools", why="installs it into .tools/"))
    return uv


def uv_env() -> dict[str, str]:
    """uv's environment: never download a Python behind the user's back; trust the certificates the
    system trusts (the Keychain on a Mac, where company proxies' CAs live) unless the user chose."""
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    if "UV_NATIVE_TLS" not in env:
        env.setdefault("UV_SYSTEM_CERTS", "true")
    return env
