"""Every workflow in .github/workflows/ passes the schema check (check-jsonschema's vendor.github-workflows) and
the security audit (zizmor, offline audits), pins each action by commit SHA, and the refresh workflow keeps its
least privilege. The tools are developer tools for Python 3.11+ (envs/dev.in): without them these tests skip."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
TOOLS = Path(ROOT / ".tools" / "bin")


def tool(name: str) -> str:
    path = TOOLS / name if (TOOLS / name).exists() else shutil.which(name)
    if not path:
        pytest.skip("%s is not installed (a developer tool for Python 3.11+: make dev)" % name)
    return str(path)


def test_every_workflow_passes_the_schema_check():
    done = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_workflow_passes_the_security_audit():
    done = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(ROOT / ".github" / "workflows")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_audit_fails_a_workflow_with_broad_permissions(tmp_path):
    """The audit bites: a job with default permissions and persisted credentials is a finding (not exit 0)."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  j:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n",
                   encoding="utf-8")
    done = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(bad.parent)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0 and "artipacked" in done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS + sorted((ROOT / "docs" / "workflows").glob("*.yml")),
                         ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha(path):
    """The repository's workflows and the example ones (docs/workflows/): every action by a full commit SHA."""
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(.+)$", path.read_text(encoding="utf-8"), flags=re.M)
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*", ref.strip()), ref


def test_the_refresh_workflow_runs_weekly_with_least_privilege():
    text = (ROOT / ".github" / "workflows" / "knowledge-refresh.yml").read_text(encoding="utf-8")
    assert re.search(r"^  schedule:\n    - cron: \"\d+ \d+ \* \* \d\"", text, flags=re.M)
    assert "\npermissions: {}\n" in text  # nothing at the top; the job asks for what it needs
    job = re.search(r"^    permissions:\n((?:      .*\n)+)", text, flags=re.M)
    assert job and sorted(re.findall(r"^      ([\w-]+): (\w+)", job.group(1), flags=re.M)) == [
        ("contents", "write"), ("pull-requests", "write")]
    assert "persist-credentials: false" in text and ".tools/bin/invoke refresh" in text
