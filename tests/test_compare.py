"""`invoke compare`: the table's pure functions on recorded real verify results (tests/fixtures/compare/, provenance
in its README), the command's bad input, and the command end to end on real environments."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys

import pytest

from checks import comparison, knowledge
from checks.comparison import COLUMNS, EnvRun
from scripts import compare as comparing
from tests.conftest import ROOT, invoke, pyenv_python

FIXTURES = ROOT / "tests" / "fixtures" / "compare"
MATRIX = knowledge.load().matrix
NO_METAL = "skipped: Linux has no Metal: Metal is Apple's GPU API, so the cpu profile runs TensorFlow on the CPU"


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / ("%s.json" % name)).read_text(encoding="utf-8"))


def run_of(name: str, results: dict | None = None) -> EnvRun:
    results = recorded(name) if results is None else results
    return EnvRun(name, "/envs/" + name, results["exit_code"], results)


def notes(cell: comparison.Cell) -> list[str]:
    return [why for _, why in cell.notes]


ALL = ("tensorflow-cpu", "test-gpu-exact", "test-gpu-bf16", "keras-torch-tensorflow-checks", "keras-torch", "keras-jax")


# -- the pure table, on recorded results ----------------------------------------------------------------------

def test_a_cpu_environment_row_says_why_each_gpu_figure_is_missing():
    row = comparison.row(run_of("tensorflow-cpu"), MATRIX)
    assert (row.backend, row.label, row.verify.text, row.ok) == ("tensorflow", "tensorflow-cpu 2.19.1", "passed", True)
    c = row.cells
    assert c["accelerator"].text == "" and notes(c["accelerator"]) == [NO_METAL]
    assert c["placement"].text == "step CPU:0 (219/219 ops on CPU)"  # measured, though the GPU matmul was not
    assert notes(c["placement"]) == [NO_METAL]
    assert c["step_time"].text == "CPU 7.33 ms" and notes(c["step_time"]) == [NO_METAL]
    for col in ("numbers", "agreement", "matmul_speedup", "training_speedup"):
        assert c[col].text == "" and c[col].status == "skip" and notes(c[col]) == [NO_METAL], col


def test_a_gpu_environment_row_reads_every_figure_from_its_checks():
    row = comparison.row(run_of("test-gpu-exact"), MATRIX)
    c = {k: v.text for k, v in row.cells.items()}
    assert c == {
        "accelerator": "GPU:0 (TFM_TEST_GPU)",
        "placement": "matmul GPU:0; step GPU:0 (98/224 ops on GPU)",
        "numbers": "1.0e-07 (1.7e-06)",  # the GPU matmul's error, against the tolerance of its size (matmul.cpu's)
        "agreement": "7.2e-08 (2.4e-05) step 5",  # the step closest to its tolerance
        "step_time": "GPU 10.85 / CPU 6.83 ms",
        "matmul_speedup": "0.20×",
        "training_speedup": "0.63×",
    }
    assert row.ok and row.verify.text == "passed"
    # warnings carry their check's words: a mark without a reason would be a riddle
    assert row.cells["numbers"].status == "warn" and "timing disturbed" in notes(row.cells["numbers"])[0]
    assert row.cells["training_speedup"].status == "warn"
    assert "the GPU is slower than the CPU" in notes(row.cells["training_speedup"])[0]
    assert row.cells["accelerator"].notes == () and row.cells["matmul_speedup"].notes == ()


def test_wrong_gpu_numbers_fail_their_cells_and_the_row():
    row = comparison.row(run_of("test-gpu-bf16"), MATRIX)
    numbers, agreement = row.cells["numbers"], row.cells["agreement"]
    assert numbers.status == "fail" and numbers.text == "3.5e-04 (1.7e-06)"
    assert notes(numbers) == ["failed: GPU matmul gives wrong numbers: error 3.46e-04 exceeds the fp32 tolerance "
                              "1.65e-06 (n=768)"]
    assert agreement.status == "fail" and agreement.text == "3.5e-03 (4.7e-05) step 10"
    assert notes(agreement)[0].startswith("failed: the GPU's loss departs from the CPU's at step 2 of 10")
    assert row.cells["placement"].status == "pass"  # the matmul ran on the GPU: its wrong numbers are not placement's
    assert not row.ok and row.verify.text == "3 failed"
    assert {check for check, _ in row.verify.notes} == {"matmul.gpu", "training.agreement", "training.fused"}


def test_a_keras_on_torch_environment_is_labelled_by_its_pair_and_its_failed_verify_says_why():
    row = comparison.row(run_of("keras-torch-tensorflow-checks"), MATRIX)
    assert (row.backend, row.label) == ("torch", "keras 3.15.1 + torch 2.13.0+cpu")
    assert not row.ok and row.verify.text == "2 failed"
    assert "failed: `import tensorflow` failed: ModuleNotFoundError: No module named 'tensorflow'" in notes(
        row.verify)
    assert notes(row.cells["step_time"]) == ["skipped: TensorFlow did not import"]


@pytest.mark.parametrize("name,label,why,step", [
    ("keras-torch", "keras 3.15.1 + torch 2.13.0+cpu", "skipped: no MPS off macOS, and no CUDA GPU: this torch is "
     "built without CUDA: torch.version.cuda is None; Keras runs on the CPU", "CPU 124.81 ms"),
    ("keras-jax", "keras 3.15.1 + jax 0.12.1", "skipped: JAX lists no GPU here: RuntimeError: Unknown backend: 'gpu' "
     "requested, but no platforms that are instances of gpu are present. Platforms present are: cpu; Keras runs on "
     "the CPU", "CPU 4.45 ms"),
])
def test_keras_on_torch_and_jax_rows_read_the_same_check_ids(name, label, why, step):
    """Verified by the backend-aware checks (the same ids judge Keras on torch and JAX): no op census there, so the
    placement is where the model's output lives."""
    row = comparison.row(run_of(name), MATRIX)
    assert (row.backend, row.label, row.ok) == (name.split("-")[1], label, True)
    assert row.cells["placement"].text == "step output %s" % ("cpu" if name == "keras-torch" else "cpu:0")
    assert row.cells["step_time"].text == step
    for col in COLUMNS:
        assert why in notes(row.cells[col.id]), col.id


def test_an_environment_without_results_carries_its_error_in_every_cell():
    run = EnvRun("broken", "/envs/broken", 2, None, "error: this environment has no `packaging`")
    row = comparison.row(run, MATRIX)
    assert (row.label, row.verify.text, row.ok) == ("not verified", "exit 2", False)
    for col in COLUMNS:
        assert row.cells[col.id].status == "error"
        assert notes(row.cells[col.id]) == ["verify failed: error: this environment has no `packaging`"]


def test_a_check_the_results_do_not_hold_is_named_as_absent():
    results = copy.deepcopy(recorded("test-gpu-exact"))
    results["checks"] = [c for c in results["checks"] if c["id"] != "training.agreement"]
    cell = comparison.row(run_of("test-gpu-exact", results), MATRIX).cells["agreement"]
    assert (cell.text, cell.status) == ("", "absent")
    assert notes(cell) == ["not in these results: this verify has no training.agreement check"]


def test_the_marker_names_the_backend_when_it_records_one():
    results = copy.deepcopy(recorded("keras-torch-tensorflow-checks"))
    results["facts"]["packages"]["environment"]["marker"] = {"backend": "torch"}
    assert comparison.backend_and_label(results, MATRIX) == ("torch", "keras 3.15.1 + torch 2.13.0+cpu")
    assert comparison.backend_and_label(recorded("tensorflow-cpu"), MATRIX) == ("tensorflow",
                                                                                 "tensorflow-cpu 2.19.1")


def table_of(*names: str) -> tuple[list[comparison.Row], list[EnvRun]]:
    runs = [run_of(n) for n in names] + [EnvRun("gone", "/envs/gone", None, None, "No such file or directory")]
    return comparison.rows(runs, MATRIX), runs


def test_no_cell_of_any_rendering_is_blank_and_every_note_it_points_to_is_printed():
    table, runs = table_of(*ALL)
    text = comparison.render_text(table, comparison.machine(runs))
    lines = text.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("environment"))
    assert lines[0] == "compare: 7 environments on linux-x86_64, virtual machine, 24 GiB memory"
    widths = [len(w) for w in lines[head + 1].split("  ")]
    for line in lines[head + 2:head + 2 + len(table)]:  # fixed-width columns: no cell is empty
        at = 0
        for w in widths:
            assert line[at:at + w].strip(), (line, at)
            at += w + 2
    refs = {int(r) for r in re.findall(r"\[(\d+)\]", "\n".join(lines[head:head + 2 + len(table)]))}
    printed = {int(ln.split("]")[0].strip()[1:]) for ln in lines if ln.startswith("  [")}
    assert refs == printed == set(range(1, len(printed) + 1))
    assert "  [1] %s (devices.gpu, matmul.gpu, training.agreement, training.speed, matmul.speedup)" % NO_METAL in lines

    doc = comparison.to_json(table, runs, comparison.machine(runs), {"budget": None, "timeout": None})
    assert doc["tool"] == "compare" and doc["exit_code"] == 1 and len(doc["rows"]) == 7
    assert [c["id"] for c in doc["columns"]] == [c.id for c in COLUMNS]
    for r in doc["rows"]:
        for cell in [r["verify"], *r["cells"].values()]:
            assert cell["value"] is not None or cell["notes"], (r["env"], cell)
    assert {n["ref"] for n in doc["notes"]} == printed
    json.dumps(doc)  # serialisable as it is

    md = comparison.render_markdown(table, comparison.machine(runs))
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(rows) == 1 + len(table) and all(ln.count(" | ") == 2 + len(COLUMNS) for ln in rows)
    assert "- [1] " + NO_METAL in md


def test_a_gpu_slower_than_its_gates_is_verified_all_the_same_and_its_speed_shown():
    row = comparison.row(run_of("test-gpu-slow"), MATRIX)
    assert row.ok and (row.verify.text, row.verify.status) == ("passed but for speed", "warn")
    assert [check for check, _ in row.verify.notes] == ["matmul.speedup", "training.speed"]
    assert notes(row.verify)[0] == ("below its speed gate (compare shows the speed, and fails nothing for it): GPU "
                                    "0.0× the CPU (0 vs 47 GFLOP/s; threshold 0.1×)")
    assert (row.cells["matmul_speedup"].text, row.cells["matmul_speedup"].status) == ("0.01×", "fail")
    assert (row.cells["training_speedup"].text, row.cells["step_time"].text) == ("0.04×", "GPU 166.49 / CPU 7.38 ms")
    assert row.cells["agreement"].status == "pass"


def test_the_exit_code_is_0_only_when_every_environment_verified_however_slow():
    assert comparison.exit_code(comparison.rows([run_of("tensorflow-cpu"), run_of("test-gpu-exact")], MATRIX)) == 0
    assert comparison.exit_code(comparison.rows([run_of("tensorflow-cpu"), run_of("test-gpu-slow")], MATRIX)) == 0
    assert comparison.exit_code(comparison.rows([run_of("tensorflow-cpu"), run_of("test-gpu-bf16")], MATRIX)) == 1
    assert comparison.exit_code(comparison.rows([run_of("keras-torch-tensorflow-checks")], MATRIX)) == 1


def test_ascii_marks_replace_the_symbols():
    table, runs = table_of("test-gpu-bf16")
    text = comparison.render_text(table, {}, comparison.ASCII)
    assert "x 3.5e-04 (1.7e-06) [" in text and "✗" not in text
    assert text.splitlines()[0] == "compare: 2 environments on this machine (no environment recorded its facts)"


# -- the command line ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tokens,expected", [
    (["compare", "a", "b"], ["compare", "--env", "a", "--env", "b"]),
    (["compare", "a", "--json", "out.json", "b", "-b", "2", "--timeout=60"],
     ["compare", "--env", "a", "--json", "out.json", "--env", "b", "-b", "2", "--timeout=60"]),
    (["compare", "--env", "a", "b"], ["compare", "--env", "a", "--env", "b"]),
    (["compare", "--help"], ["compare", "--help"]),
    (["verify", "--env", "x"], ["verify", "--env", "x"]),
    (["diagnose", "--file", "compare"], ["diagnose", "--file", "compare"]),  # a value named compare is no task
])
def test_bare_environments_become_env_options(tokens, expected):
    assert comparing.positional_envs(tokens) == expected


def test_run_all_reads_each_result_in_turn_and_keeps_the_error_of_one_that_wrote_none():
    """Real child processes standing in for verify: one writes a recorded result where --json says, one fails with
    verify's kind of error line, one is killed by a signal."""
    write = ("import shutil, sys; print('checks 0.1.0: stand-in'); "
             "shutil.copy(%r, sys.argv[sys.argv.index('--json') + 1])" % str(FIXTURES / "tensorflow-cpu.json"))
    commands = [("good", [sys.executable, "-c", write], dict(os.environ)),
                ("bad", [sys.executable, "-c", "import sys; print('checks: error: boom'); sys.exit(2)"],
                 dict(os.environ)),
                ("killed", [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                 dict(os.environ))]
    said: list[str] = []
    good, bad, killed = comparing.run_all(commands, say=said.append)
    assert good.results == recorded("tensorflow-cpu") and good.exit_code == 0 and good.error is None
    assert (bad.results, bad.exit_code, bad.error) == (None, 2, "checks: error: boom")
    assert (killed.results, killed.error) == (None, "killed by SIGKILL")
    assert [line for line in said if "verifying" in line] == [
        "compare: [%d/3] verifying %s ..." % (i, e) for i, e in enumerate(("good", "bad", "killed"), 1)]
    assert said[1].startswith("compare: [1/3] good: verify exit 0 in ") and said[-1] == ""


def run_compare(*args: str, env=None) -> subprocess.CompletedProcess:
    return invoke("compare", *args, env=env, timeout=600)


@pytest.mark.parametrize("args,message", [
    ((), "error: name at least one environment: invoke compare ENV [ENV ...]"),
    (("{tmp}", "{tmp}/"), "error: environment {tmp}/ is named twice (as {tmp}): each environment is one row"),
    (("{tmp}",), "error: no environment at {tmp} (no bin/python)"),
    (("{tmp}", "--budget", "abc"), "error: argument --budget: 'abc' is not a number"),
    (("{tmp}", "--json", "{tmp}/no/such/folder.json"), "error: --json {tmp}/no/such/folder.json: the folder"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_environment_runs(tmp_path, args, message):
    done = run_compare(*(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(message.format(tmp=tmp_path)) and len(done.stderr.splitlines()) == 1, done.stderr
    assert "verifying" not in done.stdout + done.stderr and done.stdout == ""


def test_a_json_file_not_written_by_compare_is_never_overwritten(tmp_path):
    mine = tmp_path / "notes.json"
    mine.write_text('{"mine": true}\n')
    done = run_compare(str(tmp_path), "--json", str(mine))
    assert done.returncode == 2 and "not written by invoke compare" in done.stderr
    assert mine.read_text() == '{"mine": true}\n'


def test_help_explains_the_command():
    done = run_compare("--help")
    assert done.returncode == 0
    for words in ("invoke compare ENV [ENV ...]", "Exit codes: 0 every environment verified, however slow", "--json",
                  "--budget", "--timeout", "GITHUB_STEP_SUMMARY"):
        assert words in done.stdout, words


def test_an_environment_whose_verify_fails_is_a_row_with_its_error_and_exit_1(tmp_path):
    """A real environment verify cannot run in (a Python 3.9 venv without the suite's packaging): no TensorFlow
    needed; its row carries verify's own error line."""
    python = pyenv_python("3.9")
    env = tmp_path / "bare39"
    subprocess.run([python, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    out = tmp_path / "table.json"
    done = run_compare(str(env), "--json", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert row["verify_exit"] == 2 and row["label"] == "not verified"
    why = row["verify"]["notes"][0]["why"]
    assert why.startswith("verify failed: error: this environment has no `packaging`"), why
    assert all(c["notes"][0]["why"] == why for c in row["cells"].values())
    assert "compare: [1/1] verifying %s ..." % env in done.stderr and "[1]" in done.stdout


@pytest.mark.slow
@pytest.mark.network
def test_compare_two_real_environments_end_to_end(tf_env, gpu_env, tmp_path):
    """The session's cpu environment and its copy with the test GPU: verified one after the other, each through
    verify's own command; the table on stdout, progress on stderr, the JSON and the GitHub summary."""
    from tests.test_gpu_plugin import MIN_SPEEDUP, MIN_TRAIN_SPEEDUP

    out, summary = tmp_path / "table.json", tmp_path / "summary.md"
    environ = dict(os.environ, TFM_TEST_GPU="exact", TFM_MIN_SPEEDUP=MIN_SPEEDUP,
                   TFM_MIN_TRAIN_SPEEDUP=MIN_TRAIN_SPEEDUP, GITHUB_STEP_SUMMARY=str(summary))
    done = run_compare(str(tf_env), str(gpu_env), "--json", str(out), "--budget", "1", env=environ)
    assert done.returncode == 0, done.stdout + done.stderr
    err = done.stderr
    order = ["compare: [1/2] verifying %s ..." % tf_env, "compare: [1/2] %s: verify exit 0" % tf_env,
             "compare: [2/2] verifying %s ..." % gpu_env, "compare: [2/2] %s: verify exit 0" % gpu_env]
    at = [err.index(line) for line in order]
    assert at == sorted(at), err  # one after the other, never at once
    assert "      | checks 0.1.0: profile cpu" in err  # verify's own output, as progress
    assert "Traceback" not in done.stdout + err

    doc = json.loads(out.read_text(encoding="utf-8"))
    cpu, gpu = doc["rows"]
    assert (cpu["env"], cpu["label"], gpu["label"]) == (str(tf_env), "tensorflow-cpu 2.19.1", "tensorflow-cpu 2.19.1")
    assert cpu["cells"]["accelerator"]["value"] is None and cpu["cells"]["accelerator"]["notes"][0]["why"] == NO_METAL
    assert gpu["cells"]["accelerator"]["value"] == "GPU:0 (TFM_TEST_GPU)"
    assert gpu["cells"]["placement"]["value"].startswith("matmul GPU:0; step GPU:0 (")
    assert gpu["cells"]["agreement"]["status"] == "pass" and gpu["cells"]["numbers"]["status"] in ("pass", "warn")
    assert gpu["cells"]["matmul_speedup"]["value"].endswith("×")
    assert doc["options"] == {"budget": 1.0, "timeout": None} and cpu["verify_counts"]["fail"] == 0
    assert doc["machine"]["platform"].startswith("linux")

    table = done.stdout.splitlines()
    assert any(ln.startswith(str(tf_env)) and "tensorflow-cpu 2.19.1" in ln for ln in table)
    assert any(ln.startswith(str(gpu_env)) and "GPU:0 (TFM_TEST_GPU)" in ln for ln in table)
    md = summary.read_text(encoding="utf-8")
    assert md.count("### invoke compare: 2 environments") == 1 and "| %s | tensorflow-cpu 2.19.1 |" % gpu_env in md


@pytest.mark.slow
@pytest.mark.network
def test_compare_a_tensorflow_and_a_keras_on_jax_environment_end_to_end(tf_env, tmp_path):
    """A Keras-on-JAX environment built by `invoke setup --backend jax` beside the TensorFlow one: its row names its
    pair from the real environment, and every cell of both rows holds a value or says why not, whether this verify
    judges Keras on JAX yet or fails it in its TensorFlow checks; the exit code follows the rows."""
    jax_env = tmp_path / "jax env"
    built = invoke("setup", "--backend", "jax", "--env", str(jax_env))
    assert built.returncode == 0, built.stdout + built.stderr
    out = tmp_path / "table.json"
    done = run_compare(str(tf_env), str(jax_env), "--json", str(out), "--budget", "1")
    assert done.returncode in (0, 1) and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    tf_row, jax_row = doc["rows"]
    assert (tf_row["backend"], tf_row["label"]) == ("tensorflow", "tensorflow-cpu 2.19.1")
    assert (jax_row["backend"], jax_row["label"]) == ("jax", "keras 3.15.1 + jax 0.12.1")
    for r in doc["rows"]:
        for cell in [r["verify"], *r["cells"].values()]:
            assert cell["value"] is not None or cell["notes"], (r["env"], cell)
    verified = [r["verify"]["status"] in ("pass", "warn") for r in doc["rows"]]
    assert verified[0] and done.returncode == doc["exit_code"] == (0 if all(verified) else 1)
    table = done.stdout.splitlines()
    assert any(line.startswith(str(jax_env)) and "keras 3.15.1 + jax 0.12.1" in line for line in table)
