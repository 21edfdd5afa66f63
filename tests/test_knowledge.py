"""The knowledge core: one pair judgement, data-only additions seen everywhere, one error mapping (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from packaging.specifiers import SpecifierSet

from checks import knowledge, platforms, process, settings
from checks.errors import Interrupted, StepFailed, TfmError, UsageError
from checks.evaluate import evaluate
from checks.knowledge import judge_pair
from checks.matrix import MatrixError, Pair
from checks.model import Options, Status
from checks.paths import MATRIX_PATH
from checks.probes.system import derive
from tests import machines
from tests.conftest import ROOT, invoke
from tests.test_rules import packages, tf_facts

MADE_UP_ERROR = "made-up: the GPU stream hangs at the first matmul"
MADE_UP_PAIR = {"tensorflow": "==2.14.*", "metal": "1.2.0", "python": ["3.9", "3.10", "3.11"], "macos": ">=12.0",
                "status": "broken", "phase": "run", "error": MADE_UP_ERROR,
                "source": "tests/test_knowledge.py: a pair added through data alone"}
MADE_UP_PLUGIN = {"name": "made-up-metal-plugin", "artifact": "sdist", "library": "libmadeup_plugin.dylib",
                  "python": ">=3.10,<3.14", "macos": ">=15.0", "build": {"requires": [], "tools": ["make"]},
                  "source": "tests/test_knowledge.py"}


def made_up_matrix(tmp_path) -> dict[str, str]:
    """The repository's matrix plus one pair and one plugin, as a team's own copy (TFM_MATRIX)."""
    data = json.loads(MATRIX_PATH.read_text(encoding="utf-8"))
    data["pairs"].append(MADE_UP_PAIR)
    data["plugins"].append(MADE_UP_PLUGIN)
    data["pairs"].append({**MADE_UP_PAIR, "plugin": MADE_UP_PLUGIN["name"], "metal": "0.4.1", "status": "unconfirmed",
                          "tensorflow": "==2.21.*"})
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return dict(os.environ, TFM_MATRIX=str(path))


def metal_rule(k: knowledge.Knowledge, tf: str, metal: str):
    facts = {"system": derive(machines.M1_NATIVE), "packages": packages(tf=tf, metal=metal), "tensorflow": tf_facts()}
    return {o.check.id: o.result for o in evaluate(facts, Options(profile="metal"), k)}["packages.metal"]


def test_a_pair_added_through_data_alone_shows_in_setup_checks_matrix_and_abi(tmp_path):
    env = made_up_matrix(tmp_path)
    # Before: no report, and the static check says it loads.
    assert metal_rule(knowledge.load({}), "2.14.1", "1.2.0").status == Status.WARN
    # packages.metal
    r = metal_rule(knowledge.load(env), "2.14.1", "1.2.0")
    assert r.status == Status.FAIL and MADE_UP_ERROR in r.summary and "tensorflow==2.19.1" in r.fix
    # setup's refusal
    done = invoke("setup", "--profile", "metal", "--tensorflow", "2.14.1", env=env)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1 and MADE_UP_ERROR in lines[0]
    assert "Working alternative: tensorflow==2.19.1 tensorflow-metal==1.2.0" in lines[0]
    # invoke matrix: the pair, and the plugin with its own pair
    done = invoke("matrix", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.split()[:3] == ["2.14.*", "tensorflow-metal", "1.2.0"])
    assert " broken " in lines[at] and MADE_UP_ERROR in " ".join(" ".join(lines[at + 1:at + 4]).split())
    assert any(ln.split()[:2] == ["made-up-metal-plugin", "sdist"] for ln in done.stdout.splitlines())
    assert any("made-up-metal-plugin" in ln and " 0.4.1 " in ln for ln in done.stdout.splitlines() if "2.21" in ln)
    # invoke abi: the report and the one judgement beside the static verdict
    done = invoke("abi", "--tensorflow", "2.14.1", "--metal", "1.2.0", env=env)
    assert done.returncode == 0, done.stderr
    assert "reported: broken (run): %s" % MADE_UP_ERROR in done.stdout
    assert "judgement: broken, is known broken (run: %s)" % MADE_UP_ERROR in done.stdout
    # without the copy, none of it
    assert MADE_UP_ERROR not in invoke("matrix").stdout


K = knowledge.load({})


@pytest.mark.parametrize("tf,metal,verdict,words", [
    ("2.19.1", "1.2.0", "verified", "a verified pair"),
    ("2.20.0", "1.2.0", "broken", "is known broken (import: Library not loaded"),  # a report of broken wins
    ("2.11.0", "1.2.0", "broken", "cannot load (static check of the wheels: symbol not found in flat namespace"),
    ("2.18.0", "1.2.0", "apple-claim", "apple-claim, not verified by a user report"),
    ("2.12.0", "1.1.0", "unknown", "no report, but the static check of the wheels says it loads"),
    ("2.30.0", "1.2.0", "unknown", "no record of this pair"),
])
def test_one_judgement_per_pair(tf, metal, verdict, words):
    j = judge_pair(K, tf, metal)
    assert (j.verdict, words in j.reason) == (verdict, True), j.reason
    assert j.alternative == "tensorflow==2.19.1 tensorflow-metal==1.2.0"
    assert (j.error is not None) == (verdict == "broken")


def test_a_user_report_of_verified_beats_a_static_cannot_load(tmp_path):
    # TF 2.11 + metal 1.2.0: the fingerprints of both wheels (envs/abi/) say it cannot load, and no one reported it.
    assert judge_pair(K, "2.11.0", "1.2.0").static.loads is False
    assert judge_pair(K, "2.11.0", "1.2.0").verdict == "broken"
    # A team's matrix adds a user report that it works: the report wins, and the disagreement is kept.
    data = json.loads(MATRIX_PATH.read_text(encoding="utf-8"))
    data["pairs"].append({"tensorflow": "==2.11.*", "metal": "1.2.0", "python": ["3.9", "3.10", "3.11"],
                          "macos": ">=12.0", "status": "verified", "source": "tests/test_knowledge.py: a user report"})
    (tmp_path / "matrix.json").write_text(json.dumps(data), encoding="utf-8")
    j = judge_pair(knowledge.load({"TFM_MATRIX": str(tmp_path / "matrix.json")}), "2.11.0", "1.2.0")
    assert j.static is not None and j.static.loads is False  # the static verdict is there ...
    assert (j.verdict, j.reason, j.error) == ("verified", "a verified pair", None)  # ... and the report beats it
    assert j.source == "tests/test_knowledge.py: a user report" and j.agrees is False


def test_a_user_report_of_broken_and_a_static_cannot_load_agree():
    j = judge_pair(K, "2.19.1", "1.1.0")  # reported broken at import, statically Symbol not found: they agree
    assert j.verdict == "broken" and j.static is not None and j.agrees is True
    assert j.reason.startswith("is known broken (import: ")  # the report's words, not the static check's


def test_versions_compare_as_versions_not_text():
    pair = Pair(SpecifierSet(">=2.9,<2.11"), K.matrix.pairs[0].metal, ("3.9",), SpecifierSet(">=12"), "verified", "x")
    assert str(pair.floor) == "2.9"  # min() over the strings would say 2.11
    assert str(next(p for p in K.matrix.pairs if str(p.tensorflow) == "==2.10.*").floor) == "2.10"
    with pytest.raises(ValueError):
        judge_pair(K, "two", "1.2.0")


def test_platform_keys_and_profiles_in_one_place():
    assert platforms.platform_key("linux", platforms.arch_name("aarch64")) == "linux-aarch64"
    assert platforms.platform_key("macos", platforms.arch_name("arm64")) == "macos-arm64"
    assert platforms.platform_key(platforms.os_name("Linux"), platforms.arch_name("AMD64")) == "linux-x86_64"
    # an x86_64 Python on Apple Silicon: metal, and the environment is built for arm64
    profile, reason = platforms.choose_profile("auto", "macos", "x86_64", on_apple_silicon=True)
    assert profile == "metal" and "arm64 Python will be looked for" in reason
    assert platforms.target_arch(profile, "macos", "x86_64", True) == "arm64"
    assert platforms.choose_profile("auto", "macos", "x86_64", on_apple_silicon=False)[0] == "cpu"
    with pytest.raises(UsageError, match="--profile metal needs macOS on Apple Silicon"):
        platforms.choose_profile("metal", "linux", "x86_64", False)
    assert platforms.installed_profile("auto", None, "macos", "arm64", has_plugin=True) == "metal"
    assert platforms.installed_profile("auto", "cpu", "macos", "arm64", has_plugin=True) == "cpu"


def test_errors_carry_their_exit_code_and_fix():
    assert (UsageError("x").code, StepFailed("x").code, Interrupted("x").code) == (2, 1, 130)
    assert issubclass(MatrixError, UsageError) and issubclass(settings.SettingsError, UsageError)
    e = UsageError("uv is not installed", fix="make tools")
    assert isinstance(e, TfmError) and e.line() == "uv is not installed; fix: make tools"


TASKS = [("setup",), ("verify",), ("diagnose", "-"), ("report",), ("lock",), ("abi",), ("matrix",)]


MALFORMED = {  # variable: (file name, its text, what the one line says)
    "TFM_MATRIX": ("matrix.json", '{"schema_version": 1, "targets": [', "is not valid JSON"),
    "TFM_CONFIG": ("tfmetal.json", '{"speedup": 2}', "unknown setting(s) speedup"),
}


@pytest.mark.parametrize("variable", MALFORMED)
@pytest.mark.parametrize("task", TASKS, ids=[t[0] for t in TASKS])
def test_every_task_with_a_malformed_matrix_or_config_exits_2_with_one_line(task, variable, tmp_path):
    name, text, said = MALFORMED[variable]
    bad = tmp_path / name
    bad.write_text(text)
    done = invoke(*task, env=dict(os.environ, **{variable: str(bad)}))
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1 and said in lines[0], done.stderr


def test_settings_one_precedence_rule_command_line_then_bundle_then_environment_then_file(tmp_path):
    cfg = tmp_path / "tfmetal.json"
    cfg.write_text(json.dumps({"min_speedup": 2.5}))
    env = {"TFM_CONFIG": str(cfg), "TFM_MIN_SPEEDUP": "3"}
    assert settings.resolve({}, env, recorded={"min_speedup": 4})["min_speedup"] == 4.0
    assert settings.resolve({"min_speedup": 1.1}, env, recorded={"min_speedup": 4})["min_speedup"] == 1.1
    assert settings.resolve({}, env)["min_speedup"] == 3.0
    assert settings.resolve({}, {"TFM_CONFIG": str(cfg)})["min_speedup"] == 2.5


def test_verify_options_are_declared_once():
    argv = settings.to_argv({"profile": "cpu", "min_speedup": "2", "strict": True, "require_gpu": False})
    assert argv == ["--profile", "cpu", "--min-speedup", "2", "--strict"]
    tasks_help = invoke("verify", "--help").stdout
    child_help = subprocess.run([sys.executable, "-m", "checks", "--help"], cwd=ROOT, capture_output=True,
                                text=True).stdout
    for opt in settings.VERIFY_OPTIONS:
        assert opt.flag in tasks_help and opt.flag in child_help, opt.flag


def test_stream_returns_the_same_completed_type_with_the_tail(capfd):
    done = process.stream([sys.executable, "-c", "import sys\nfor i in range(50): print(i)\nsys.exit(4)"], keep=5)
    assert isinstance(done, process.Completed) and done.returncode == 4 and not done.ok
    assert done.stdout.splitlines() == ["45", "46", "47", "48", "49"]
    assert "      | 0" in capfd.readouterr().err
    missing = process.stream(["/nonexistent/installer"])
    assert missing.returncode is None and missing.error


def _import_graph() -> tuple[dict[str, set[str]], dict[str, int]]:
    """Module -> the suite's modules it imports at run time (TYPE_CHECKING blocks left out), and module sizes."""
    import ast

    files = [p for d in ("checks", "scripts") for p in (ROOT / d).rglob("*.py")] + [ROOT / "tasks.py"]
    mods = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in files}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                node.body = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = node.module + "." + alias.name
                    graph[m].add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                graph[m].update(a.name for a in node.names)
        graph[m] = {t for t in graph[m] if t in mods and t != m}
    return graph, {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in mods.items()}


def test_imports_run_one_way_without_cycles_and_no_module_holds_a_quarter():
    graph, sizes = _import_graph()
    assert not [(m, t) for m, ts in graph.items() for t in ts if m.startswith("checks") and not t.startswith("checks")]
    assert not [(m, t) for m, ts in graph.items() for t in ts if m.startswith("scripts") and t == "tasks"]
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            assert state.get(t) != 1, "import cycle: " + " -> ".join(path + [m, t])
            if t not in state:
                visit(t, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])
    assert max(sizes.values()) * 4 < sum(sizes.values()), sizes


def test_judge_pair_is_the_only_place_a_pair_is_judged():
    """Nothing outside checks/knowledge.py looks a pair up or asks for its static verdict."""
    import re

    sources = [p for d in ("checks", "scripts") for p in (ROOT / d).rglob("*.py")] + [ROOT / "tasks.py"]
    pattern = re.compile(r"\.pair\(|(?<!def )predict\(|\.status == \"(verified|broken)\"")
    offenders = [str(p.relative_to(ROOT)) for p in sources
                 if p.name != "knowledge.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_flags_and_profile_follow_the_same_rule(tmp_path):
    cli = {"profile": "auto", "strict": False, "require_gpu": True}
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    values = settings.settle(cli, {"profile": "metal", "strict": True}, {"TFM_CONFIG": str(empty)})
    assert (values["profile"], values["strict"], values["require_gpu"]) == ("metal", True, True)
    values = settings.settle({**cli, "profile": "cpu"}, {"profile": "metal"}, {"TFM_CONFIG": str(empty)})
    assert values["profile"] == "cpu" and values["strict"] is False
