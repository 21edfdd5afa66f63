"""Every fix line is a command: rendered from the rule tests' recorded facts, parsed with shlex.

The offline rule tests (recorded machines, bundles, boundaries) run here once more, in-process, while every
Result built is recorded with the rule line that built it. Each fix line must split with shlex, run
``.tools/bin/invoke`` (a task that exists, with ``--env``) or ``make`` (a target of the Makefile), keep
its explanation after ``  # ``, and never say metal on a machine without a metal target. Every
``fail``/``warn`` call of checks/rules that carries a fix must have been rendered at least once.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
from pathlib import Path

import pytest

from checks import bundle as bundle_mod
from checks import fixes, knowledge, model
from checks.cli import replayed
from checks.evaluate import evaluate
from checks.model import Options
from checks.probes.system import derive
from tests import machines
from tests.conftest import ROOT

RULE_TESTS = ["tests/test_rules.py", "tests/test_training_rules.py", "tests/test_boundaries.py",
              "tests/test_replay.py", "tests/test_knowledge.py", "tests/test_community_verify.py",
              "tests/test_backend_verify.py"]
TASKS = {"setup", "verify", "report", "diagnose", "lock", "abi", "matrix"}
RULES = ROOT / "checks" / "rules"
K = knowledge.load()


MAC_PROGRAMS = ("brew", "softwareupdate", "xcode-select")  # the preflight's fixes for what a Mac lacks


def check_fix_line(line: str, also: tuple[str, ...] = ()) -> list[str]:
    """Problems of one fix line (empty: it is a command that works from the repository root); ``also``:
    programs allowed besides the suite's own (the Mac's, for the preflight)."""
    command, _, why = line.partition("  # ")
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the program
        words = words[1:]
    problems = []
    if "#" in command:
        problems.append("explanation not after '  # '")
    if set(shlex.shlex(command, posix=True, punctuation_chars=True)) & {"(", ")", ";", "&&", "||", "|"}:
        problems.append("not one command (prose in parentheses, or several joined)")
    if words[0] == fixes.INVOKE:
        if len(words) < 2 or words[1] not in TASKS:
            problems.append("no invoke task: %r" % words[1:2])
        elif words[1] in ("setup", "verify", "report") and "--env" not in words:
            problems.append("no --env")
    elif words[0] == fixes.UV:
        pointed = words[1:4] == ["pip", "uninstall", "--python"] and len(words) > 6 and words[5] == "--prefix" \
            and words[4] == words[6].rstrip("/") + "/bin/python"  # at one environment, never an interpreter alone
        if words[1:3] != ["python", "install"] and not pointed:
            problems.append("uv is only for installing a Python, or uninstalling from one environment")
    elif words[0] == "make":
        targets = re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
        if len(words) < 2 or words[1] not in targets:
            problems.append("no make target %r" % words[1:2])
    elif words[0] not in also:
        problems.append("program %r is not one of %s" % (words[0], ", ".join(fixes.PROGRAMS + also)))
    return problems


def test_the_checker_refuses_prose_and_bare_names():
    assert check_fix_line(".tools/bin/invoke setup --env .venv-tf --force  # reinstalls") == []
    assert check_fix_line("make tools") == []
    assert check_fix_line("invoke setup --force   (reinstalls the hash-locked set)")
    assert check_fix_line("python -m pip install invoke setup --profile metal")
    assert check_fix_line(".tools/bin/invoke setup --force")  # no --env
    assert check_fix_line("see the error below; `invoke setup --force` reinstalls")
    assert check_fix_line("brew install python@3.12   (or: uv python install 3.12)", also=MAC_PROGRAMS)
    assert check_fix_line("make tools; make verify")


def fix_calls() -> dict[tuple[str, int], tuple[int, str]]:
    """(file, first line) -> (last line, text) of every fail/warn call in checks/rules/ that passes a fix."""
    calls = {}
    for path in sorted(RULES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("fail", "warn"):
                fix = node.args[1] if len(node.args) > 1 else next(
                    (kw.value for kw in node.keywords if kw.arg == "fix"), None)
                if fix is not None and not (isinstance(fix, ast.Constant) and fix.value is None):
                    calls[(path.name, node.lineno)] = (node.end_lineno or node.lineno, ast.unparse(node)[:80])
    return calls


def _lock(**over):
    pins = {"numpy": "2.1.3", "tensorflow": "2.19.1"}
    return {"path": "/x/l.txt", "sha256": "abc", "pins": pins, "installed": dict(pins), "damaged": {}, **over}


def _with(pk_over=None, env_over=None, tf_over=None, training=None):
    """M1 facts (tests/machines.py) with one part changed."""
    from tests.test_rules import facts_for, packages, side, tf_facts
    from tests.test_training_rules import on_gpu, recorded

    pk = packages()
    pk["environment"]["marker"] = {"profile": "metal", "lock": "l.txt", "lock_sha256": "abc"}
    pk["lock"] = _lock()
    pk.update(pk_over or {})
    pk["environment"].update(env_over or {})
    tf = tf_facts(gpu_side=side(GPU_DEVICE, 0.01))
    tf.update(tf_over or {})
    if training is not None:
        tr = on_gpu(recorded())
        training(tr)
        tf["training"] = tr
    return facts_for(machines.M1_NATIVE, pkgs=pk, tf=tf)


GPU_DEVICE = "/job:localhost/replica:0/task:0/device:GPU:0"
CASES = [  # (facts, options) for the fixes the rule tests do not reach
    (lambda: _with(env_over={"marker_error": "Expecting value: line 1"}), {}),
    (lambda: _with({"lock": _lock(error="cannot read the lock: No such file or directory")}), {}),
    (lambda: _with({"lock": _lock(sha256="def")}), {}),
    (lambda: _with(env_over={"owned": False}), {}),
    (lambda: _with(env_over={"answers_as": "/usr"}), {}),  # a venv that lost pyvenv.cfg runs as its base
    (lambda: _with(env_over={"setup_running": 4242}), {}),
    (lambda: _with({"lock": _lock(installed={"tensorflow": "2.19.1"}, damaged={"tensorflow": ["t/__init__.py"]})}),
     {}),
    (lambda: _with({"versions": {"tensorflow": None, "tensorflow-metal": "1.2.0"}}), {}),
    (lambda: _with({"metal_plugin": None}), {}),
    (lambda: _with({"versions": {"tensorflow": "2.19.1", "tensorflow-metal": "not-a-version"}}), {}),
    (lambda: _with(tf_over={"stage": "import", "tensorflow": None,
                            "process": {"returncode": 1, "signal": None, "timed_out": False,
                                        "stderr": "ImportError: something\n"}}), {}),
    (lambda: _with(tf_over={"stage": "import", "tensorflow": None,
                            "process": {"returncode": None, "signal": None, "timed_out": False, "stderr": "",
                                        "error": "[Errno 2] No such file or directory"}}), {}),
    (lambda: _with(training=lambda tr: tr["gpu"]["census"].update(error="no trace")), {}),
    (lambda: _with(training=lambda tr: tr["fused"].update(error="OOM")), {}),
    (lambda: _with(training=lambda tr: tr.update(gpu={**tr["gpu"], "error": "OOM"})), {}),
    (lambda: _with(training=lambda tr: tr["gpu"].update(losses=[1.0, 1.0, 1.5])), {}),
    (lambda: _with(tf_over={"matmul": {"n": 2048, "tolerance": 1e-3, "cpu": {"error": "OOM"}}}), {}),
    (lambda: {**_with(), "system": derive(machines.M1_NATIVE)}, {"profile": "cpu", "require_gpu": True}),
]


@pytest.fixture(scope="module")
def rendered(monkeypatch_module):
    """Every Result with a fix built while the rule tests run: (rule file, line, fix, facts' os)."""
    seen: list[tuple[str, int, str]] = []
    original = model.Result.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.fix:
            frame = sys._getframe(1)
            while frame and Path(frame.f_code.co_filename).parent != RULES:
                frame = frame.f_back
            if frame:
                seen.append((Path(frame.f_code.co_filename).name, frame.f_lineno, self.fix))

    monkeypatch_module.setattr(model.Result, "__init__", spy)
    # offline: the rule tests that need PyPI (a real environment) stay with the network selection
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-x", "--no-header", "-m", "not network", *RULE_TESTS])
    assert code == 0, "the rule tests failed"
    for make, options in CASES:
        evaluate(make(), Options(**{"profile": "metal", **options}), K)
    for bundle in sorted((ROOT / "tests" / "bundles").iterdir()):  # recorded machines as verify replays them
        for profile in ("cpu", "metal"):
            facts = replayed(bundle_mod.read(str(bundle))[0], profile, K)
            evaluate(facts, Options(profile=profile, require_gpu=True), K)
    return seen


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_every_fix_a_rule_prints_is_a_runnable_command(rendered):
    assert len(rendered) > 50
    bad = {(f, n, line): check_fix_line(line) for f, n, fix in rendered for line in fixes.lines(fix)
           if check_fix_line(line)}
    assert bad == {}


def test_every_fix_of_the_rules_was_rendered(rendered):
    hit = {(f, n) for f, n, _ in rendered}
    missed = {key: text for key, (end, text) in fix_calls().items()
              if not any(f == key[0] and key[1] <= n <= end for f, n in hit)}
    assert missed == {}


@pytest.mark.parametrize("name", ["linux-x86_64", "intel-mac", "rosetta", "github-arm64-vm"])
def test_no_metal_fix_where_there_is_no_metal_target(name):
    """Linux and Intel Macs have no metal target; under Rosetta or in a VM the metal profile cannot run."""
    for profile in ("cpu", "metal"):
        for require_gpu in (False, True):
            facts = replayed(bundle_mod.read(str(ROOT / "tests" / "bundles" / name))[0], profile, K)
            outcomes = evaluate(facts, Options(profile=profile, require_gpu=require_gpu), K)
            said = [o.result.fix for o in outcomes if o.result.fix]
            assert not [f for f in said if "--profile metal" in f or "tensorflow-metal==" in f], said


def test_a_keras_backend_environment_not_made_by_setup_gets_its_own_backend_built():
    facts = {"packages": {"environment": {"prefix": "/somewhere/venv", "owned": False, "marker": None}},
             "backend": {"name": "torch"}}
    line = fixes.repair(facts)
    assert line.startswith(".tools/bin/invoke setup --env .venv-torch --backend torch  # a fresh environment")
    assert fixes.repair({"packages": facts["packages"]}).startswith(".tools/bin/invoke setup --env .venv-tf  #")
