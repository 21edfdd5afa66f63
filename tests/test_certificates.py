"""Behind a TLS-inspecting proxy whose CA the system trusts but uv's bundled roots do not: setup's index
check and uv use the same trust store (the system's), so setup works; with uv told to use only its
bundled roots, setup stops before creating anything and says it is a certificate problem.

This machine reaches PyPI through such a proxy: its CA is in /etc/ssl/certs, and the tests unset
SSL_CERT_FILE and SSL_CERT_DIR in the child's environment, as on a company Mac. A real one-package
lock from PyPI (six 1.17.0, hashes as PyPI publishes them) keeps the install small.
"""

from __future__ import annotations

import json
import os

import pytest

from checks.markers import MARKER
from tests.conftest import invoke

pytestmark = pytest.mark.network

SIX_LOCK = ("six==1.17.0 \\\n"
            "    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\\n"
            "    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81\n")
TLS_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "UV_SYSTEM_CERTS", "UV_NATIVE_TLS", "UV_NO_INDEX", "UV_OFFLINE",
            "UV_INDEX_URL", "UV_DEFAULT_INDEX")


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
    return dict(environ, TFM_MATRIX=str(root / "matrix.json"), UV_CACHE_DIR=str(tmp_path / "uv-cache"))


def test_setup_uses_the_system_certificates_the_index_check_used(tmp_path, proxied):
    env = tmp_path / "env"
    done = invoke("setup", "--env", str(env), env=proxied, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (env / MARKER).exists()


def test_untrusted_certificate_is_named_and_nothing_is_created(tmp_path, proxied):
    env = tmp_path / "env"
    done = invoke("setup", "--env", str(env), env=dict(proxied, UV_SYSTEM_CERTS="false"), timeout=300)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "a certificate problem" in last and "UnknownIssuer" in last, last
    assert "SSL_CERT_FILE" in last and "UV_SYSTEM_CERTS" in last and "network problem" not in last
    assert "Nothing was changed" in last and not env.exists()

