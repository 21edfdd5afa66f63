"""Is the package index reachable? Asked before setup removes or creates anything."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request

DEFAULT_INDEX = "https://pypi.org/simple/"


def index_url(manager: str, environ=os.environ) -> str | None:
    """The index the installer will use; None when it works offline or from local files."""
    if any(environ.get(k) for k in (("UV_OFFLINE", "UV_NO_INDEX") if manager == "uv" else ("PIP_NO_INDEX",))):
        return None
    keys = ("UV_DEFAULT_INDEX", "UV_INDEX_URL") if manager == "uv" else ("PIP_INDEX_URL",)
    url = next((environ[k] for k in keys if environ.get(k)), DEFAULT_INDEX)
    return None if url.startswith("file:") else url


def unreachable(url: str, timeout: float = 10.0) -> str | None:
    """None if the index answers (any HTTP status), else why not."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, socket.timeout, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason)
    return None
