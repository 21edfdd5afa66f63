"""Settings: command line > environment > config file > default; bad values are one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from checks import settings
from tests.conftest import ROOT


def test_precedence(tmp_path):
    cfg = tmp_path / "tfmetal.json"
    cfg.write_text(json.dumps({"min_speedup": 2.5, "budget": 9}))
    env = {"TFM_CONFIG": str(cfg), "TFM_BUDGET": "4"}
    assert settings.resolve({}, env) == {"min_speedup": 2.5, "budget": 4.0, "timeout": 300.0,
                                       "min_train_speedup": None}
    assert settings.resolve({"min_speedup": 1.1}, env)["min_speedup"] == 1.1
    with pytest.raises(settings.SettingsError, match="TFM_CONFIG names .*absent.json, which does not exist"):
        settings.resolve({}, {"TFM_CONFIG": str(tmp_path / "absent.json")})  # asked for, so never ignored


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "Infinity", "1e999", "0", "-1"])
def test_a_setting_must_be_a_finite_positive_number(text):
    """inf would make --budget run forever and --min-speedup unpassable; nan compares false with everything."""
    with pytest.raises(settings.SettingsError, match="TFM_BUDGET: %r is not a positive number" % text):
        settings.resolve({}, {"TFM_BUDGET": text})


def test_an_infinite_setting_on_the_command_line_is_exit_2_with_one_line():
    done = subprocess.run([sys.executable, "-m", "checks", "--min-speedup", "inf"], cwd=ROOT, capture_output=True,
                          text=True)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "'inf' is not a positive number" in lines[0], lines


@pytest.mark.parametrize("content,words", [
    ('{"min_speedup": "fast"}', "'fast' is not a number"),
    ('{"min_speedup": -2}', "not a positive number"),
    ('{"speedup": 2}', "unknown setting(s) speedup"),
    ("[1, 2]", "must hold a JSON object"),
    ("{oops", "not readable JSON"),
    ('{"min_train_speedup": 0}', "not a positive number"),
])
def test_bad_config_is_exit_2_with_one_line(tmp_path, content, words):
    cfg = tmp_path / "tfmetal.json"
    cfg.write_text(content)
    done = subprocess.run([sys.executable, "-m", "checks"], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, TFM_CONFIG=str(cfg)))
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1 and words in lines[0]
