"""The defects a new user's trial found (issue #18, item 6), each driven through the real commands."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from checks import __version__, knowledge, matrix, platforms
from tests.conftest import ROOT, invoke, site_packages


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A real cpu-profile environment of this module's own (some tests damage it, last)."""
    path = tmp_path_factory.mktemp("trial") / "venv"
    done = invoke("setup", "--env", str(path))
    assert done.returncode == 0, done.stderr
    return path


def fix_lines(output: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"^\s*fix: (.+)$", output, flags=re.M)))


def follow(line: str) -> subprocess.CompletedProcess:
    """A fix line run verbatim from the repository root (the explanation after # is a shell comment)."""
    return subprocess.run(shlex.split(line, comments=True), cwd=ROOT, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)


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


def test_a_timeout_too_short_for_the_import_says_so_and_its_fix_is_a_larger_timeout_that_works(env):
    done = invoke("verify", "--env", str(env), "--timeout", "1", "--budget", "0.5")
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(ln for ln in done.stdout.splitlines() if "TensorFlow imports" in ln)
    assert "the TensorFlow probe hit its time limit of 1 s (--timeout) while importing TensorFlow" in line, line
    assert "killed after" not in done.stdout and "--force" not in done.stdout
    fixes = fix_lines(done.stdout)
    assert fixes == [".tools/bin/invoke verify --env %s --timeout 300  # a larger time limit; if the import still "
                     "does not finish, run python -X faulthandler -c 'import tensorflow' in the env to see where it "
                     "stops" % env], fixes
    again = follow(fixes[0])  # the command works: TensorFlow imports within that limit
    imported = next(ln for ln in again.stdout.splitlines() if "TensorFlow imports" in ln)
    assert again.returncode in (0, 1) and imported.startswith("  [✓] "), again.stdout + again.stderr


@pytest.mark.parametrize("budget,timeout", [("0.5", "1"), ("0.25", "1.5")])
def test_the_probe_line_shows_the_budget_and_timeout_given(env, budget, timeout):
    done = invoke("verify", "--env", str(env), "--budget", budget, "--timeout", timeout)
    assert "(import, devices, training, matmul; budget %s s, timeout %s s)" % (budget, timeout) in done.stderr, \
        done.stderr


def test_a_deleted_package_folder_is_reported_with_its_true_count_of_damaged_files(tmp_path):
    env = tmp_path / "venv"
    assert invoke("setup", "--env", str(env)).returncode == 0
    site = site_packages(env)
    record = next(site.glob("tensorflow*.dist-info/RECORD")).read_text().splitlines()
    gone = sum(1 for row in record if row.startswith("tensorflow/") and row.rsplit(",", 1)[-1])  # sized files
    shutil.rmtree(str(site / "tensorflow"))
    more = f"and {gone - 2:,} more"
    assert gone > 1000
    dry = invoke("setup", "--env", str(env), "--dry-run")
    assert dry.returncode == 0 and "damaged files: " in dry.stdout and more in dry.stdout, dry.stdout
    verify = invoke("verify", "--env", str(env), "--budget", "0.5")
    line = next(ln for ln in verify.stdout.splitlines() if "Environment matches its lock" in ln)
    assert "has damaged files: " in line and line.endswith(more), line
    done = invoke("setup", "--env", str(env))
    assert done.returncode == 0 and "Environment repaired" in done.stderr and more in done.stderr, done.stderr


@pytest.mark.parametrize("source", ["-", "file"])
def test_empty_input_to_diagnose_is_a_clear_error_exit_2(tmp_path, source):
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\n")
    done = invoke("diagnose", "-" if source == "-" else str(blank))  # standard input: empty (DEVNULL)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no text to diagnose: %s holds none" % (
        "standard input" if source == "-" else blank) in lines[0], done.stderr
    assert "report it" not in done.stdout + done.stderr


def setup_from(cwd, *args: str) -> subprocess.CompletedProcess:
    """`invoke setup ARGS` run from ``cwd`` (the suite's tasks found with -r, as from a project's own folder)."""
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(ROOT), "setup", *args], cwd=str(cwd),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def nothing_created(env, project) -> bool:
    return not env.exists() and not (project / "tfmetal-locks").exists()


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_binary_requirement_file_is_one_line_exit_2(tmp_path, dry_run):
    req, env = tmp_path / "requirements.txt", tmp_path / "env"
    req.write_bytes(bytes(range(256)) * 4)
    done = invoke("setup", "--env", str(env), "--requirements", str(req), *(["--dry-run"] if dry_run else []))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: --requirements %s is not a text requirement file (it is not UTF-8 text)" % req], done.stderr
    assert nothing_created(env, tmp_path)


def test_a_requirement_directory_is_called_a_directory(tmp_path):
    env = tmp_path / "env"
    done = invoke("setup", "--env", str(env), "--requirements", str(tmp_path))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: --requirements %s is a directory, not a requirement file" % tmp_path], done.stderr
    assert nothing_created(env, tmp_path)


@pytest.mark.parametrize("line,kind,installs", [
    ("-e .", "an editable install", "{project}"),
    ("./lib", "a local path", "{project}/lib"),
    ("mylib @ file:///srv/mylib", "a local path", "it"),
])
@pytest.mark.parametrize("where", ["repository root", "project folder"])
def test_a_local_path_requirement_is_refused_up_front_from_anywhere(tmp_path, line, kind, installs, where):
    project, env = tmp_path / "proj", tmp_path / "env"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "mine"\nversion = "0.1"\n')
    (project / "requirements.txt").write_text("packaging\n%s\n" % line)
    if where == "repository root":
        label, done = str(project / "requirements.txt"), invoke("setup", "--env", str(env), "--requirements",
                                                                 str(project / "requirements.txt"))
    else:
        label, done = "requirements.txt", setup_from(project, "--env", str(env), "--requirements", "requirements.txt")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --requirements %s, line 2: %r is %s, which a hash-pinned lock cannot hold; remove the line and "
        "install %s into the environment yourself after setup" % (label, line, kind,
                                                                 installs.format(project=project))], done.stderr
    assert nothing_created(env, project) and "resolving" not in done.stderr


def test_a_local_path_in_an_included_file_is_refused_too(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r more.txt\n")
    (tmp_path / "more.txt").write_text("-e ../other\n")
    done = invoke("setup", "--env", str(tmp_path / "env"), "--requirements", str(tmp_path / "requirements.txt"),
                  "--dry-run")
    assert done.returncode == 2 and "more.txt (included by --requirements" in done.stderr, done.stderr
    assert "install %s into" % (tmp_path.parent / "other") in done.stderr


@pytest.mark.parametrize("flag,path", [("--trace", "a/b/c"), ("--json", "a/b/c.json")])
@pytest.mark.parametrize("door", ["invoke verify", "python -m checks"])
def test_trace_and_json_refuse_a_missing_parent_alike_before_any_probe(tmp_path, flag, path, door):
    """`--trace a/b/c` created the folders while `--json a/b/c.json` refused: both refuse, one line, exit 2."""
    argv = ([sys.executable, "-m", "invoke", "-r", str(ROOT), "verify", "--env", str(tmp_path / "env")]
            if door == "invoke verify" else [sys.executable, "-m", "checks"])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(argv + [flag, path], cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
                          env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stdout + done.stderr
    # one prefix at every door (checks.errors.error_line): `checks: error:` was the child's (issue 18)
    assert done.stderr.strip().splitlines() == ["error: %s %s: the folder %s does not exist; create it or choose "
                                                "another path" % (flag, path, tmp_path / "a" / "b")], done.stderr
    assert "Running the TensorFlow probe" not in done.stderr and not (tmp_path / "a").exists()


def test_a_trace_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "trace").write_text("mine")
    done = invoke("verify", "--env", str(tmp_path / "env"), "--trace", str(tmp_path / "trace"))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: --trace %s is a file; give a folder for the trace" % (tmp_path / "trace")], done.stderr
    assert (tmp_path / "trace").read_text() == "mine"


@pytest.mark.parametrize("text,said", [
    ("[]", "the top level is an array; it must be a JSON object"),
    ('"matrix"', "the top level is a string; it must be a JSON object"),
    ("null", "the top level is null; it must be a JSON object"),
    ("{}", "unsupported schema_version None (expected 1)"),
])
@pytest.mark.parametrize("door", ["invoke matrix", "python -m checks"])
def test_a_matrix_that_is_not_an_object_is_one_line_naming_the_file(tmp_path, text, said, door):
    bad = tmp_path / "matrix.json"
    bad.write_text(text)
    argv = [sys.executable, "-m", "invoke", "matrix"] if door == "invoke matrix" else \
        [sys.executable, "-m", "checks", "--replay", str(ROOT / "tests" / "bundles" / "linux-x86_64")]
    done = subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TFM_MATRIX=str(bad)))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "error: matrix %s: %s" % (bad, said) in lines[0], done.stderr
    assert "object has no attribute" not in done.stderr and "Traceback" not in done.stderr


def steps_shown(stderr: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"^\[(\d+)/(\d+)\] ", stderr, flags=re.M)]


def test_the_step_counter_reaches_its_last_step(tmp_path):
    env = tmp_path / "venv"
    fresh = invoke("setup", "--env", str(env))
    assert fresh.returncode == 0 and steps_shown(fresh.stderr) == [(1, 3), (2, 3), (3, 3)], fresh.stderr
    assert "[3/3] Write the marker .tfmetal-setup.json" in fresh.stderr
    again = invoke("setup", "--env", str(env), "--force")
    assert again.returncode == 0 and steps_shown(again.stderr) == [(1, 4), (2, 4), (3, 4), (4, 4)], again.stderr


@pytest.mark.parametrize("bundle", ["m1-native", "m3-max"])
def test_a_replayed_system_only_bundle_says_the_profile_is_not_recorded(bundle):
    done = subprocess.run([sys.executable, "-m", "checks", "--replay", str(ROOT / "tests" / "bundles" / bundle)],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("checks %s: profile not recorded," % __version__)
    gpu = next(ln for ln in done.stdout.splitlines() if "GPU devices" in ln)
    assert gpu.endswith("which profile was set up is not recorded in this bundle (no packages.json)"), gpu
    assert "profile was chosen" not in done.stdout


def community_bundle(tmp_path, plugin: str):
    """A replayed Apple Silicon Mac (the m1-native bundle's facts) whose environment holds ``plugin`` at 0.4.1 with
    TensorFlow 2.21.0, and no setup marker."""
    bundle = tmp_path / "bundle"
    shutil.copytree(str(ROOT / "tests" / "bundles" / "m1-native"), str(bundle))
    versions = {"tensorflow": "2.21.0", "tensorflow-metal": None, "keras": "3.15.1", "numpy": "2.1.3"}
    if plugin == "tensorflow-metal-plugin":
        versions[plugin] = "0.4.1"  # one of the distributions the packages probe asks for by name
    packages = {"versions": versions, "metal_plugin": "/Users/me/env/lib/python3.12/site-packages/tensorflow-plugins/"
                "libmetal_plugin.dylib",
                "environment": {"prefix": "/Users/me/env", "owned": False, "marker": None, "marker_error": None,
                                "is_venv": True},
                "unmet": [], "binaries": {}, "env": {},
                "distributions": {"keras": "3.15.1", plugin: "0.4.1", "numpy": "2.1.3", "tensorflow": "2.21.0"}}
    (bundle / "packages.json").write_text(json.dumps(packages))
    return bundle


def replay(bundle, environ=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks", "--replay", str(bundle)], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=120, env=environ)


@pytest.mark.parametrize("plugin", ["tensorflow-metal-plugin", "metal-pluggable-device"])
def test_auto_profile_sees_the_community_plugin_on_an_apple_silicon_mac(tmp_path, plugin):
    done = replay(community_bundle(tmp_path, plugin))
    assert done.stdout.splitlines()[0].startswith("checks %s: profile metal," % __version__), done.stdout
    assert "the cpu profile was chosen" not in done.stdout


def test_the_plugin_names_come_from_the_matrix(tmp_path):
    """A team's matrix without the former name: an environment holding only that name is not a metal one."""
    data = json.loads((ROOT / "envs" / "matrix.json").read_text())
    for plugin in data["plugins"]:
        plugin.pop("former_names", None)
    own = tmp_path / "matrix.json"
    own.write_text(json.dumps(data))
    done = replay(community_bundle(tmp_path, "metal-pluggable-device"), dict(os.environ, TFM_MATRIX=str(own)))
    assert done.stdout.splitlines()[0].startswith("checks %s: profile cpu," % __version__), done.stdout


def test_make_help_aligns_every_description_and_says_what_clean_keeps():
    done = subprocess.run(["make", "-s", "help"], cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    rows = [re.match(r"^  make (\S+)( +)(\S.*)$", ln) for ln in done.stdout.splitlines()]
    assert done.returncode == 0 and rows and all(rows), done.stdout
    columns = {len("  make ") + len(r.group(1)) + len(r.group(2)) for r in rows if r}
    assert len(columns) == 1, done.stdout  # every description starts in the same column
    names = [r.group(1) for r in rows if r]
    assert "lock-tools" in names and "clean" in names
    clean = next(r.group(3) for r in rows if r and r.group(1) == "clean")
    assert "Remove the tools environment .tools/" in clean and "keeps .venv-tf/" in clean, clean
    assert "--force" not in clean


def test_invoke_matrix_keeps_to_100_columns_and_loses_no_word():
    done = invoke("matrix")
    assert done.returncode == 0, done.stderr
    long = [ln for ln in done.stdout.splitlines() if len(ln) > 100]
    assert not long, long
    words = " ".join(done.stdout.split())
    k = knowledge.load({})
    for p in k.matrix.pairs:  # every source and error, whole, under its pair
        assert " ".join(p.source.split()) in words and (p.error or "") in words
    for g in k.matrix.plugins:
        assert " ".join(g.source.split()) in words and " ".join(g.why.split()) in words


def test_manager_conda_without_conda_says_where_to_get_one_and_its_fix_works(tmp_path):
    env = tmp_path / "env"
    bare = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]))
    if any(shutil.which(t, path=bare["PATH"]) for t in ("conda", "mamba", "micromamba")):
        pytest.skip("a conda is on this machine's PATH")
    done = invoke("setup", "--manager", "conda", "--env", str(env), env=bare)
    assert done.returncode == 2 and not env.exists(), done.stderr
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and "none of micromamba, mamba, conda is on PATH; to get one, install Miniforge " \
        "(https://github.com/conda-forge/miniforge) or micromamba" in said[0], said
    fixes = fix_lines(done.stderr.replace("; fix: ", "\nfix: "))
    assert fixes == [".tools/bin/invoke setup --env %s --manager uv  # builds it with uv instead, which needs no "
                     "conda" % env], fixes
    assert follow(fixes[0]).returncode == 0 and (env / "bin" / "python").exists()


@pytest.mark.parametrize("text", [
    "numpy==2.1.3 \\\n    --hash=sha256:%s \\\n    --hash=sha256:%s\n" % ("a" * 64, "b" * 64),  # a hash-pinned file
    "packaging>=24 --hash=sha256:%s\n" % ("c" * 64),
    "numpy; python_version < '3.13'\n",
    "# -e . (a comment)\nnumpy  # not ./lib\n",
    "--index-url https://pypi.org/simple\nmylib @ https://example.com/mylib-1.0-py3-none-any.whl\n",
])
def test_requirement_lines_from_the_index_are_not_taken_for_local_paths(tmp_path, text):
    req = tmp_path / "requirements.txt"
    req.write_text(text)
    done = invoke("setup", "--env", str(tmp_path / "env"), "--requirements", str(req), "--dry-run")
    assert done.returncode == 0, done.stderr  # the dry run resolves nothing: only the up-front check speaks
    assert "project  %s" % req in done.stdout
