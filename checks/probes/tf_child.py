"""The TensorFlow child: the only module that imports TensorFlow (and, through ``training``, Keras).

Run by ``checks.probes.tensorflow`` as ``python -X faulthandler -m checks.probes.tf_child CONFIG``
in its own process group. It writes its facts as JSON to ``CONFIG["out"]`` after every stage, so
a crash or a kill still leaves what was learned, and the ``stage`` it died in. Progress goes to
stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import Any

from checks import paths, timing
from checks.probes import training

REFERENCE_ROWS = 64  # the checked block is REFERENCE_ROWS x REFERENCE_ROWS


def _say(msg: str) -> None:
    print("[tf-probe] " + msg, file=sys.stderr, flush=True)


def save_json(facts: dict[str, Any], out: str) -> None:
    """Write a child's facts atomically: a killed child leaves the last complete state, never half a file."""
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(facts, fh)
    os.replace(tmp, out)


def main(config: dict[str, Any]) -> int:
    out = config["out"]
    facts: dict[str, Any] = {"stage": "import", "config": {k: v for k, v in config.items() if k != "out"},
                             "plugins": plugin_libraries()}
    save_json(facts, out)
    if os.path.exists(os.path.join(sys.prefix, paths.OWNER)):
        sys.dont_write_bytecode = False  # setup installs without bytecode: compile what TensorFlow imports, once
    t0 = time.perf_counter()
    tf = importlib.import_module("tensorflow")  # the import being probed comes first
    np = importlib.import_module("numpy")

    facts["tensorflow"] = {
        "version": tf.__version__,
        "import_s": time.perf_counter() - t0,
        "built_with_cuda": bool(tf.test.is_built_with_cuda()),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "cpus": [d.name for d in tf.config.list_physical_devices("CPU")],
    }
    facts["tensorflow"]["gpu_details"] = [_details(tf, d) for d in tf.config.list_physical_devices("GPU")]
    _say("TensorFlow %s imported in %.1f s; GPUs: %s" % (tf.__version__, facts["tensorflow"]["import_s"],
                                                         facts["tensorflow"]["gpus"] or "none"))
    # the GPU side runs where a GPU is expected (the metal profile, --require-gpu) or TensorFlow lists one, whatever
    # put it there: tensorflow-metal, another PluggableDevice, CUDA
    devices = ["/CPU:0"] + (["/GPU:0"] if config.get("gpu") or facts["tensorflow"]["gpus"] else [])
    budget = float(config.get("budget_s", 3.0))
    step = None
    facts["stage"] = "training"  # first, inside the budget: the matmul gets what it leaves (matmul_budget)
    save_json(facts, out)
    try:
        facts["training"], step = training.run(tf, np, devices, _say)
    except Exception as exc:  # noqa: BLE001 - a broken Keras must not cost the matmul its facts
        facts["training"] = {"error": "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:500])}
    save_json(facts, out)
    facts["stage"] = "matmul"
    save_json(facts, out)

    tf.config.set_soft_device_placement(bool(config.get("soft_placement", False)))
    budget = matmul_budget(budget, facts["training"].get("spent_s", 0.0))
    n = _choose_size(tf, np, budget / len(devices), config.get("memory_bytes") or 0, config.get("size"))
    rng = np.random.default_rng(0)
    a_np = rng.random((n, n), dtype=np.float32) * 2 - 1  # uniform in [-1, 1), made in float32 directly
    b_np = rng.random((n, n), dtype=np.float32) * 2 - 1
    reference = matmul_reference(np, a_np, b_np)
    facts["matmul"] = {"n": n, "dtype": "float32", "budget_s": budget, "tolerance": timing.fp32_tolerance(n),
                       "reference_rows": REFERENCE_ROWS}
    for device in devices:
        facts["matmul"][device.strip("/").split(":")[0].lower()] = _run_device(
            tf, np, device, a_np, b_np, reference, budget / len(devices))
        save_json(facts, out)
    if config.get("trace_dir"):
        facts["trace"] = _trace(tf, devices[-1], a_np, b_np, config["trace_dir"], step)
    facts["stage"] = "done"
    save_json(facts, out)
    return 0


def plugin_libraries(environ: Any = os.environ) -> list[str]:
    """The PluggableDevice libraries ``import tensorflow`` loads, found as tensorflow/__init__.py finds them: the
    shared objects of ``tensorflow-plugins/`` in each site-packages directory (site's, and every ``sys.path`` entry
    naming site-packages), and ``TF_PLUGGABLE_DEVICE_LIBRARY_PATH`` (a file or a folder). Read before the import,
    so a plugin that crashes or hangs TensorFlow's import is named."""
    import site

    dirs = {p for p in sys.path if "site-packages" in p}
    dirs.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    if site.ENABLE_USER_SITE and site.USER_SITE:
        dirs.add(site.USER_SITE)
    places = [os.path.join(d, "tensorflow-plugins") for d in dirs]
    if environ.get("TF_PLUGGABLE_DEVICE_LIBRARY_PATH"):
        places.append(environ["TF_PLUGGABLE_DEVICE_LIBRARY_PATH"])
    found: set[str] = set()
    for place in places:
        if os.path.isdir(place):
            found.update(os.path.realpath(os.path.join(place, f)) for f in os.listdir(place)
                         if f.endswith((".so", ".dylib")) or ".so." in f)
        elif os.path.isfile(place):
            found.add(os.path.realpath(place))
    return sorted(found)


def matmul_budget(budget: float, training_s: float) -> float:
    """The matmul's share of ``--budget``: what the training probe left, but never less than half."""
    return max(budget - training_s, budget / 2)


def _trace(tf: Any, device: str, a_np: Any, b_np: Any, logdir: str, step: Any = None,
           reps: int = 3) -> dict[str, Any]:
    """A TensorFlow profiler trace of a few timed-style matmuls and one training step on ``device``."""
    try:
        with tf.device(device):
            a, b = tf.identity(tf.constant(a_np)), tf.identity(tf.constant(b_np))
            tf.profiler.experimental.start(logdir)
            try:
                for _ in range(reps):
                    tf.reduce_sum(tf.matmul(a, b)).numpy()
                if step is not None:
                    float(step())  # one more Keras training step (train_on_batch), ended by its loss on the host
            finally:
                tf.profiler.experimental.stop()
    except Exception as exc:  # noqa: BLE001 - a trace is extra evidence; its failure is reported, not fatal
        return {"dir": logdir, "device": device, "error": "%s: %s" % (type(exc).__name__, exc)}
    steps = int(step is not None)
    _say("profiler trace of %d matmuls and %d training step on %s written to %s" % (reps, steps, device, logdir))
    return {"dir": logdir, "device": device, "reps": reps, "training_steps": steps}


def _details(tf: Any, device: Any) -> dict[str, Any]:
    try:
        return {k: str(v) for k, v in tf.config.experimental.get_device_details(device).items()}
    except Exception as exc:  # noqa: BLE001 - details are optional evidence
        return {"error": str(exc)}


def _choose_size(tf: Any, np: Any, device_budget: float, memory_bytes: int, fixed: Any) -> int:
    """Size the matmul so the CPU (the slower side) takes about an eighth of its budget per rep."""
    if fixed:
        return int(fixed)
    n0 = 512
    x = tf.constant(np.ones((n0, n0), np.float32))
    with tf.device("/CPU:0"):
        tf.reduce_sum(tf.matmul(x, x)).numpy()
        dt = min(_timed(lambda: tf.reduce_sum(tf.matmul(x, x)).numpy()) for _ in range(3))  # least disturbed
    return timing.pick_size(dt, n0, device_budget / 8.0, memory_bytes)


def _timed(run: Any) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def matmul_reference(np: Any, a: Any, b: Any) -> dict[str, Any]:
    """float64 product of a corner block (each entry sums over the full inner size n), and |A||B| to scale."""
    a64 = a[:REFERENCE_ROWS].astype(np.float64)
    b64 = b[:, :REFERENCE_ROWS].astype(np.float64)
    return {"exact": a64 @ b64, "scale": np.abs(a64) @ np.abs(b64)}


def _run_device(tf: Any, np: Any, device: str, a_np: Any, b_np: Any, ref: dict[str, Any],
                budget: float) -> dict[str, Any]:
    _say("matmul %dx%d on %s ..." % (a_np.shape[0], a_np.shape[0], device))
    try:
        with tf.device(device):
            a = tf.identity(tf.constant(a_np))
            b = tf.identity(tf.constant(b_np))
            start = time.perf_counter()
            c = tf.matmul(a, b)  # the first warm-up; its result is checked for device and numbers
            placed = c.device
            rows = c[:REFERENCE_ROWS, :REFERENCE_ROWS].numpy().astype(np.float64)
            spent = time.perf_counter() - start
            t = timing.measure(lambda: tf.reduce_sum(tf.matmul(a, b)).numpy(), budget - spent, warmup=1)
    except Exception as exc:  # noqa: BLE001 - a refused placement is a fact, not a crash
        return {"requested": device, "error": "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:500])}
    return matmul_result(np, device, placed, rows, ref, a_np.shape[0], t, _say)


def matmul_result(np: Any, device: str, placed: str, rows: Any, ref: dict[str, Any], n: int, t: timing.Timing,
                  say: Any) -> dict[str, Any]:
    """One side's matmul facts (both children): the corner block's error against the float64 reference, scaled by
    |A||B|, the throughput and the timing; said on stderr."""
    err = float(np.max(np.abs(rows - ref["exact"]) / np.maximum(ref["scale"], 1e-30)))
    gflops = timing.matmul_flops(n) / t.median / 1e9
    result: dict[str, Any] = {"requested": device, "placed": placed, "error_rel": err, "gflops": gflops}
    result.update(t.to_json())
    say("%s: median %.4f s, %.1f GFLOP/s, CV %.1f%%, error %.2e" % (device, t.median, gflops, 100 * t.cv, err))
    return result


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
