"""The defects a new user's trial found (issue #18, item 6), each driven through the real commands."""

from __future__ import annotations

import platform
import re

import pytest

from checks import knowledge, matrix, platforms
from tests.conftest import invoke


def this_target():
    """The cpu target of this machine, as setup chooses it off Apple Silicon."""
    plat = platforms.platform_key(platforms.os_name(platform.system()), platforms.arch_name(platform.machine()))
    return knowledge.load().matrix.target("cpu", plat)


@pytest.mark.parametrize("minor", ["2.7", "3.14"])
def test_python_outside_the_range_gets_a_fix_naming_a_python_the_target_admits(tmp_path, minor):
    env = tmp_path / "env"
    done = invoke("setup", "--python", minor, "--env", str(env))
    assert done.returncode == 2, done.stderr
    admitted = matrix.python_versions(this_target().python)
    assert "no such interpreter found" in done.stderr and "admits Python %s" % ", ".join(admitted) in done.stderr
    fixes = re.findall(r"fix: (.+)", done.stderr)
    assert fixes[0].startswith(".tools/bin/uv python install %s " % admitted[-1]), fixes
    assert fixes[1] == ".tools/bin/invoke setup --env %s --python %s" % (env, admitted[-1]), fixes
    assert minor not in " ".join(fixes) and not env.exists()
