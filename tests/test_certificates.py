"""Behind a TLS-inspecting proxy whose CA the system trusts but uv's bundled roots do not: setup's index
check and uv use the same trust store (the system's), so setup works; where the CA is in no store the
installer uses, setup stops before creating anything and says it is a certificate problem.

This machine reaches PyPI through such a proxy: its CA is in /etc/ssl/certs, and the tests unset
SSL_CERT_FILE and SSL_CERT_DIR in the child's environment, as on a company Mac. A real one-package
lock from PyPI (six 1.17.0, hashes as PyPI publishes them) keeps the install small. The untrusted
cases use uv's bundled roots (meaningful only behind such a proxy: skipped elsewhere) or a bundle
holding a fresh CA of the test's own, for uv and for pip's check.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from checks.paths import MARKER
from scripts.network import pip_env, unreachable_by_uv
from scripts.uvtool import find_uv
from tests.conftest import invoke

pytestmark = pytest.mark.network

SIX_LOCK = ("six==1.17.0 \\\n"
            "    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\\n"
            "    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81\n")
TLS_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "UV_SYSTEM_CERTS", "UV_NATIVE_TLS", "UV_NO_INDEX", "UV_OFFLINE",
            "UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_CERT", "PIP_FIND_LINKS")  # and pip's own files (PIP_CONFIG_FILE)


@pytest.fixture
def proxied(tmp_path):
    """A matrix whose only target installs six from PyPI; the environment without SSL_CERT_FILE/DIR."""
    root = tmp_path / "index"
    (root / "locks").mkdir(parents=True)
    matrix = {"schema_version": 1, "about": "test: one small real package", "common": [], "pairs": [],
              "targets": [{"profile": "cpu", "platform": "linux-x86_64", "requirements": ["tensorflow-cpu==2.19.1"],
                           "python": ">=3.9,<3.14", "why": "test", "source": "pypi.org/project/six/1.17.0"}]}
    (root / "matrix.json").write_text(json.dumps(matrix))
    for minor in ("3.9", "3.10", "3.11", "3.12", "3.13"):
        (root / "locks" / ("cpu-linux-x86_64-py%s.txt" % minor)).write_text(SIX_LOCK)
    environ = {k: v for k, v in os.environ.items() if k not in TLS_VARS}
    # pip's configuration files may name local mirrors (this machine's do): only the index, as on a user's machine
    return dict(environ, TFM_MATRIX=str(root / "matrix.json"), UV_CACHE_DIR=str(tmp_path / "uv-cache"),
                PIP_CONFIG_FILE=os.devnull)


def test_setup_uses_the_system_certificates_the_index_check_used(tmp_path, proxied):
    env = tmp_path / "env"
    done = invoke("setup", "--env", str(env), env=proxied, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (env / MARKER).exists()


@pytest.mark.parametrize("manager,trust", [
    ("uv", {"UV_SYSTEM_CERTS": "false"}),  # uv's bundled roots only: the proxy's CA is not among them
    ("uv", {"SSL_CERT_FILE": "OTHER_CA"}),  # a bundle that lacks the proxy's CA
    ("venv", {"SSL_CERT_FILE": "OTHER_CA", "SSL_CERT_DIR": "EMPTY"}),  # pip's check, Python's own store
])
def test_untrusted_certificate_is_named_and_nothing_is_created(tmp_path, proxied, manager, trust):
    env = tmp_path / "env"
    (tmp_path / "empty").mkdir()
    paths = {"OTHER_CA": str(_other_ca(tmp_path / "other-ca.pem")), "EMPTY": str(tmp_path / "empty")}
    environ = dict(proxied, **{k: paths.get(v, v) for k, v in trust.items()})
    if trust.get("UV_SYSTEM_CERTS") == "false" and not unreachable_by_uv(find_uv(), environ, "six", "3.11"):
        pytest.skip("uv's bundled roots reach PyPI here: no TLS-inspecting proxy on this network")
    done = invoke("setup", "--env", str(env), "--manager", manager, env=environ, timeout=300)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "a certificate problem" in last and ("UnknownIssuer" in last or "CERTIFICATE_VERIFY_FAILED" in last), last
    assert "SSL_CERT_FILE" in last and "network problem" not in last
    assert ("UV_SYSTEM_CERTS" in last) == (manager == "uv") and ("PIP_CERT" in last) == (manager == "venv")
    assert "Nothing was changed" in last and not env.exists()




def _other_ca(path: Path) -> Path:
    """A fresh self-signed CA (openssl): a real trust root, certainly not the proxy's."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=tests other CA", "-keyout", str(path.with_suffix(".key")), "-out", str(path)],
                   check=True, capture_output=True)
    return path




def test_pip_is_given_the_bundle_the_index_check_reads():
    """Python's ssl (the index check for pip) reads SSL_CERT_FILE / SSL_CERT_DIR; pip reads only PIP_CERT.
    (A real pip run through the proxy cannot be shown here: this machine's pip config serves wheels from local
    folders, so pip never meets the proxy.)"""
    assert pip_env({"SSL_CERT_FILE": "/ca.pem"})["PIP_CERT"] == "/ca.pem"
    assert pip_env({"SSL_CERT_DIR": "/certs"})["PIP_CERT"] == "/certs"
    assert pip_env({"SSL_CERT_FILE": "/ca.pem", "PIP_CERT": "/mine.pem"})["PIP_CERT"] == "/mine.pem"
    assert "PIP_CERT" not in pip_env({})
