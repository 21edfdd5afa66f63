"""Where the GPU family runs: wherever TensorFlow lists a GPU (Metal, CUDA, any PluggableDevice), saying which;
Metal's own reasoning only for Metal. Rules over a real Linux recording (tests/bundles/linux-x86_64-training) with
its TensorFlow facts changed as a GPU would change them; the same runs for real in tests/test_gpu_plugin.py."""

from __future__ import annotations

import copy

from checks import bundle, knowledge
from checks.cli import replayed
from checks.evaluate import evaluate
from checks.model import Options, Status
from checks.rules.tensorflow import _stderr_tail
from tests.conftest import ROOT

K = knowledge.load()
GPU = "/job:localhost/replica:0/task:0/device:GPU:0"
DECLINE = ("Metal: this plugin was built against TensorFlow 2.18 and is loaded into TensorFlow 2.19, so no GPU device "
           "is offered. The PluggableDevice C API matches its structs by size and the two do not interoperate.")


def linux(gpu_details=None, stderr="", listed=True):
    """The Linux recording; with a GPU listed, its matmul and training as the CPU's, placed on GPU:0."""
    recorded, _ = bundle.read(str(ROOT / "tests" / "bundles" / "linux-x86_64-training"))
    facts = replayed(recorded, "auto", K)
    tf = copy.deepcopy(facts["tensorflow"])
    tf["process"]["stderr"] = stderr
    if listed:
        tf["tensorflow"]["gpus"] = ["/physical_device:GPU:0"]
        tf["tensorflow"]["gpu_details"] = [gpu_details or {"device_name": "TFM_TEST_GPU"}]
        tf["plugins"] = ["/env/lib/python3.11/site-packages/tensorflow-plugins/libtfm_test_gpu.so"]
        tf["matmul"]["gpu"] = dict(tf["matmul"]["cpu"], requested="/GPU:0", placed=GPU)
        run = copy.deepcopy(tf["training"]["cpu"])
        run["requested"] = "/GPU:0"
        run["census"]["ops"] = {"GPU:0": run["census"]["ops"]["CPU:0"]}
        run["census"]["by_device"] = {"GPU:0": run["census"]["by_device"]["CPU:0"]}
        tf["training"]["gpu"] = run
    facts["tensorflow"] = tf
    return facts


def results(facts, **opts):
    options = Options(**{"profile": facts["profile"], **opts})
    return {o.check.id: o.result for o in evaluate(facts, options, K)}


def test_a_gpu_listed_on_linux_runs_every_gpu_check_and_names_its_platform_and_plugin():
    facts = linux()
    assert facts["profile"] == "cpu" and facts["system"]["os"] == "linux"
    r = results(facts)
    assert r["devices.gpu"].status == Status.PASS
    assert r["devices.gpu"].summary == ("1 GPU(s): /physical_device:GPU:0 (PluggableDevice platform TFM_TEST_GPU, "
                                        "from libtfm_test_gpu.so)")
    for check in ("matmul.gpu", "training.agreement", "training.placement"):
        assert r[check].status == Status.PASS, (check, r[check])
    assert r["matmul.speedup"].status == Status.FAIL  # the same timings as the CPU: 1.0x < 1.5x
    assert r["matmul.efficiency"].status == Status.SKIP and "no FP32 peak known" in r["matmul.efficiency"].summary
    assert "ms per step" in r["training.speed"].summary and r["training.speed"].status != Status.SKIP


def test_without_a_gpu_linux_still_skips_with_the_reason():
    r = results(linux(listed=False))
    for check in ("devices.gpu", "matmul.gpu", "training.agreement"):
        assert r[check].status == Status.SKIP and "Linux has no Metal" in r[check].summary


def test_cuda_is_named_from_its_device_details():
    r = results(linux({"device_name": "NVIDIA H100 80GB HBM3", "compute_capability": "(9, 0)"}))
    assert "(CUDA (NVIDIA H100 80GB HBM3, compute capability (9, 0))" in r["devices.gpu"].summary


def test_a_decline_fails_device_discovery_anywhere_but_no_setup_of_ours_fixes_it_off_a_mac():
    r = results(linux(stderr=DECLINE + "\n", listed=False))
    gpu = r["devices.gpu"]
    assert gpu.status == Status.FAIL and "[metal-plugin-other-tensorflow]" in gpu.summary
    assert gpu.fix is None and any(d.startswith("what helps: ") for d in gpu.details)


def test_a_heavy_op_on_the_host_of_another_platform_gets_no_metal_reason():
    facts = linux()
    ops = facts["tensorflow"]["training"]["gpu"]["census"]["ops"]
    ops["CPU:0"] = {"_MklMatMul": ops["GPU:0"].pop("_MklMatMul")}
    placement = results(facts)["training.placement"]
    assert placement.status == Status.WARN
    assert placement.details[0] == ("_MklMatMul: the GPU's plugin (PluggableDevice platform TFM_TEST_GPU) "
                                    "has no kernel for it, so soft placement moved it to the CPU")


def test_a_crash_keeps_what_the_process_said_and_the_innermost_frames():
    stderr = "\n".join(["I noise %d" % i for i in range(20)] + [
        "tfm-test-gpu: aborting", "Fatal Python error: Aborted", "", "Current thread 0x1 (most recent call first):",
        '  File "/x/tensorflow/python/framework/load_library.py", line 189 in load_pluggable_device_library',
        '  File "/x/tensorflow/__init__.py", line 440 in <module>'] + ['  File "<frozen>", line %d in f' % i
                                                                    for i in range(9)] +
                       ["", "Extension modules: numpy (total: 1)"])
    tail = _stderr_tail({"stderr": stderr})
    assert len(tail) == 12 and "Extension modules" not in " ".join(tail)
    assert tail[-6:-4] == ["tfm-test-gpu: aborting", "Fatal Python error: Aborted"]
    assert "load_pluggable_device_library" in tail[-4] and len([t for t in tail if "File " in t]) == 4


def test_a_cpu_figure_that_gates_nothing_says_why_in_plain_words_also_under_require_gpu():
    facts = linux(listed=False)
    facts["tensorflow"]["matmul"]["cpu"]["cv"] = 0.3  # a disturbed timing: information only, with the reason
    for require_gpu in (False, True):
        cpu = {o.check.id: o.result for o in evaluate(facts, Options(profile="cpu", require_gpu=require_gpu), K)}
        detail = " ".join(cpu["matmul.cpu"].details)
        assert cpu["matmul.cpu"].status is Status.PASS and "no GPU speedup is judged here (Linux has no Metal" in detail
        assert "--require-gpu" not in detail, detail
