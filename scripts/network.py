"""Is the package index reachable, with the trust store the installer will use? Asked before setup
removes or creates anything."""

from __future__ import annotations

import os
from collections.abc import Mapping

from checks import process

DEFAULT_INDEX = "https://pypi.org/simple/"
CERTIFICATE_WORDS = ("invalid peer certificate", "CERTIFICATE_VERIFY_FAILED", "certificate verify failed",
                     "UnknownIssuer", "self-signed certificate", "self signed certificate")


def index_url(manager: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The index the installer will use; None when it works offline or from local files."""
    if any(environ.get(k) for k in (("UV_OFFLINE", "UV_NO_INDEX") if manager == "uv" else ("PIP_NO_INDEX",))):
        return None
    keys = ("UV_DEFAULT_INDEX", "UV_INDEX_URL") if manager == "uv" else ("PIP_INDEX_URL",)
    url = next((environ[k] for k in keys if environ.get(k)), DEFAULT_INDEX)
    return None if url.startswith("file:") else url


def unreachable(url: str, timeout: float = 10.0) -> str | None:
    """None if the index answers (any HTTP status), else why not (Python's own trust store: pip's check)."""
    import socket
    import urllib.error
    import urllib.request  # here: setup asks the index only when it must (0.01 s to import)

    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, socket.timeout, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason)
    return None


def unreachable_by_uv(uv: str, environ: Mapping[str, str], requirement: str, python_minor: str,
                      timeout: float = 60.0) -> str | None:
    """None if uv itself can fetch ``requirement``'s index page, else uv's error.

    uv asks: the same trust store (system certificates or SSL_CERT_FILE), proxy and index settings as
    the install that follows. Only a failure to connect counts; any other answer means the index answered.
    """
    argv = [uv, "pip", "compile", "-", "--no-deps", "--no-cache", "--no-header", "--quiet",
            "--python-version", python_minor]
    done = process.run(argv, timeout=timeout, env={**environ, "UV_HTTP_RETRIES": "0"}, input=requirement + "\n")
    if done.timed_out:
        return "no answer within %.0f s" % timeout
    if done.error:
        return done.error
    if done.ok or "Failed to fetch" not in done.stderr:
        return None
    causes = [ln.strip()[len("cause: "):] for ln in done.stderr.splitlines() if ln.strip().startswith("cause: ")]
    return causes[-1] if causes else done.stderr.strip().splitlines()[-1]


def pip_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """pip's environment: the trust store the index check used. Python's ssl (the check) reads
    SSL_CERT_FILE / SSL_CERT_DIR; pip reads only its own PIP_CERT, so it is pointed at the same bundle
    unless the user set it."""
    env = dict(environ)
    bundle = env.get("SSL_CERT_FILE") or env.get("SSL_CERT_DIR")
    if bundle and not env.get("PIP_CERT"):
        env["PIP_CERT"] = bundle
    return env


def is_certificate_problem(why: str) -> bool:
    return any(w.lower() in why.lower() for w in CERTIFICATE_WORDS)


def refusal(url: str, why: str, manager: str) -> str:
    """The one-line reason setup stops: a certificate problem or a network problem."""
    if not is_certificate_problem(why):
        return "cannot reach the package index %s (%s): a network problem, not a missing package" % (url, why)
    store = ("uv uses the system's certificates (UV_SYSTEM_CERTS=true; SSL_CERT_FILE, when set, replaces them)"
             if manager == "uv" else "pip is given SSL_CERT_FILE as its PIP_CERT")
    return ("the package index %s presented a certificate this machine does not trust (%s): a certificate "
            "problem, such as a TLS-inspecting proxy, not a network one. Add the proxy's CA to the system's "
            "certificate store, or set SSL_CERT_FILE to a PEM bundle that holds it; %s" % (url, why, store))
