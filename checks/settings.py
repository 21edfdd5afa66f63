"""Numeric settings of a verify run, from the command line, the environment, a config file, or defaults.

Precedence: command line > environment variable > config file > default. The config file is JSON,
``tfmetal.json`` beside tasks.py, or the path in ``TFM_CONFIG``; for example ``{"min_speedup": 2.0}``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

from checks.matrix import ROOT

DEFAULTS: dict[str, float | None] = {"min_speedup": 1.5, "budget": 3.0, "timeout": 300.0,
                                     "min_train_speedup": None}  # None: no training-speed gate
ENV_VARS = {"min_speedup": "TFM_MIN_SPEEDUP", "budget": "TFM_BUDGET", "timeout": "TFM_TIMEOUT",
            "min_train_speedup": "TFM_MIN_TRAIN_SPEEDUP"}
CONFIG_FILE = ROOT / "tfmetal.json"


class SettingsError(ValueError):
    """A setting that is not a positive number, or an unreadable config file: one line, exit 2."""


def positive(value: object, source: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SettingsError("%s: %r is not a number" % (source, value)) from None
    if not (number > 0 and math.isfinite(number)):
        raise SettingsError("%s: %r is not a positive number" % (source, value))
    return number


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ["TFM_CONFIG"]) if environ.get("TFM_CONFIG") else CONFIG_FILE


def load_config(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError("config %s is not readable JSON: %s" % (path, exc)) from None
    if not isinstance(data, dict):
        raise SettingsError("config %s must hold a JSON object" % path)
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise SettingsError("config %s: unknown setting(s) %s (known: %s)" % (path, ", ".join(unknown),
                                                                             ", ".join(DEFAULTS)))
    return data


def resolve(cli: Mapping[str, float | None], environ: Mapping[str, str] = os.environ) -> dict[str, float | None]:
    """Every setting, each from the first place that gives it."""
    path = config_path(environ)
    config = load_config(path)
    out: dict[str, float | None] = {}
    for key, default in DEFAULTS.items():
        if cli.get(key) is not None:
            out[key] = float(cli[key])  # type: ignore[arg-type]
        elif environ.get(ENV_VARS[key]):
            out[key] = positive(environ[ENV_VARS[key]], ENV_VARS[key])
        elif key in config:
            out[key] = positive(config[key], "%s in %s" % (key, path))
        else:
            out[key] = default
    return out
