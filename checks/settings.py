"""Verify's options, declared once (``VERIFY_OPTIONS``: ``python -m checks`` and ``invoke verify`` both
build from it), and the one precedence rule that settles them.

Precedence, for every option: command line > the replayed bundle's recorded options > environment
variable > config file > default. The config file is JSON, ``tfmetal.json`` beside tasks.py, or the
path in ``TFM_CONFIG``; for example ``{"min_speedup": 2.0}``. Flags (``--strict``) come from the
command line or the bundle.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from checks.errors import UsageError
from checks.paths import ROOT

DEFAULTS: dict[str, float | None] = {"min_speedup": 1.5, "budget": 3.0, "timeout": 300.0,
                                     "min_train_speedup": None}  # None: no training-speed gate
ENV_VARS = {"min_speedup": "TFM_MIN_SPEEDUP", "budget": "TFM_BUDGET", "timeout": "TFM_TIMEOUT",
            "min_train_speedup": "TFM_MIN_TRAIN_SPEEDUP"}
CONFIG_FILE = ROOT / "tfmetal.json"
SETUP_KEYS = ("requirements",)  # read by `invoke setup` (scripts/project.py): the team's requirement files


class SettingsError(UsageError):
    """A setting that is not a positive number, or an unreadable config file: one line, exit 2."""


class Option(NamedTuple):
    """One verify option: ``name`` as Python spells it (``min_speedup``), its kind and its help."""

    name: str
    kind: str  # "number" (a positive number), "flag", "path" or "choice"
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _default(key: str) -> str:
    value = DEFAULTS[key]
    return "none" if value is None else "%g" % value


VERIFY_OPTIONS: tuple[Option, ...] = (
    Option("profile", "choice", "what to expect: metal (Apple Silicon GPU) or cpu; auto (default) reads the setup "
           "marker, else guesses from the machine", choices=("auto", "metal", "cpu")),
    Option("json", "path", "also write every result and the facts behind it to this JSON file", "FILE"),
    Option("junit", "path", "also write JUnit XML to this file (GitLab, Jenkins, GitHub test reporters)", "FILE"),
    Option("require_gpu", "flag", "fail, instead of skip, when there is no usable GPU (CI preflight)"),
    Option("min_speedup", "number", "GPU must beat the CPU matmul by this factor (default: %s; also "
           "TFM_MIN_SPEEDUP, tfmetal.json)" % _default("min_speedup"), "X"),
    Option("min_train_speedup", "number", "fail when a GPU training step is not this many times faster than the "
           "CPU's (default: no gate, a slower GPU warns; also TFM_MIN_TRAIN_SPEEDUP, tfmetal.json)", "X"),
    Option("budget", "number", "seconds for the training probe and the matmuls, warm-ups included, all devices "
           "together (default: %s; also TFM_BUDGET)" % _default("budget"), "SECONDS"),
    Option("timeout", "number", "seconds before the probe child (TensorFlow, or Keras's framework) is killed "
           "(default: %s; also TFM_TIMEOUT)" % _default("timeout"), "SECONDS"),
    Option("trace", "path", "also capture a TensorFlow profiler trace of the timed matmul and a training step "
           "into this directory", "DIR"),
    Option("strict", "flag", "warnings fail the run too"),
)


def to_argv(values: Mapping[str, Any]) -> list[str]:
    """The ``python -m checks`` arguments for option values (``None`` and ``False`` are left out)."""
    argv: list[str] = []
    for opt in VERIFY_OPTIONS:
        value = values.get(opt.name)
        if opt.kind == "flag":
            argv += [opt.flag] if value else []
        elif value is not None:
            argv += [opt.flag, str(value)]
    return argv


def positive(value: object, source: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SettingsError("%s: %r is not a number" % (source, value)) from None
    if not (number > 0 and math.isfinite(number)):
        raise SettingsError("%s: %r is not a positive number" % (source, value))
    return number


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """``$TFM_CONFIG`` (which must exist: a setting asked for is never ignored), else tfmetal.json (optional)."""
    if not environ.get("TFM_CONFIG"):
        return CONFIG_FILE
    path = Path(environ["TFM_CONFIG"])
    if not path.exists():
        raise SettingsError("TFM_CONFIG names %s, which does not exist; fix the path or unset TFM_CONFIG" % path)
    return path


def load_config(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError("config %s is not readable JSON: %s" % (path, exc)) from None
    if not isinstance(data, dict):
        raise SettingsError("config %s must hold a JSON object" % path)
    unknown = sorted(set(data) - set(DEFAULTS) - set(SETUP_KEYS))
    if unknown:
        raise SettingsError("config %s: unknown setting(s) %s (known: %s)" % (path, ", ".join(unknown),
                                                                             ", ".join((*DEFAULTS, *SETUP_KEYS))))
    return data


def settle(cli: Mapping[str, Any], recorded: Mapping[str, Any] | None = None,
           environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Every verify option by the one precedence rule: the numbers through ``resolve``; flags from the command
    line or the bundle; the profile from the command line unless auto, else the bundle's, else auto."""
    recorded = recorded or {}
    out: dict[str, Any] = dict(resolve(cli, environ, recorded))
    for opt in VERIFY_OPTIONS:
        if opt.kind == "flag":
            out[opt.name] = bool(cli.get(opt.name) or recorded.get(opt.name))
    profile = cli.get("profile") or "auto"
    out["profile"] = profile if profile != "auto" else recorded.get("profile") or "auto"
    return out


def resolve(cli: Mapping[str, Any], environ: Mapping[str, str] = os.environ,
            recorded: Mapping[str, Any] | None = None) -> dict[str, float | None]:
    """Every numeric setting, each from the first place that gives it (see the module's precedence)."""
    path = config_path(environ)
    config = load_config(path)
    recorded = recorded or {}
    out: dict[str, float | None] = {}
    for key, default in DEFAULTS.items():
        if cli.get(key) is not None:
            out[key] = positive(cli[key], "--" + key.replace("_", "-"))
        elif recorded.get(key) is not None:
            out[key] = positive(recorded[key], "%s recorded in the bundle" % key)
        elif environ.get(ENV_VARS[key]):
            out[key] = positive(environ[ENV_VARS[key]], ENV_VARS[key])
        elif key in config:
            out[key] = positive(config[key], "%s in %s" % (key, path))
        else:
            out[key] = default
    return out
