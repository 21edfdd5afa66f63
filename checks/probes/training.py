"""The training probe, run inside the TensorFlow child (``tf_child``): a first Keras model as users write it.

A conv layer and dense layers with bias and ReLU, softmax, Adam, fixed seeds, synthetic data made
here, ``STEPS`` steps of ``model.train_on_batch`` (public Keras API; each returns the loss to the host,
so a step's time includes finishing it on the device) with soft placement ON, as users run it. On the
metal profile it trains twice from the same initial weights and data, on the CPU (the reference) and on
the GPU (the target); on the cpu profile once, on the CPU.

Where each op ran (the census) is read from TensorFlow's run metadata
(``context.enable_run_metadata``, the collector behind ``tf.summary.trace_on(graph=True)``): the
*partition graphs* of the training step's function, one per device, as the executor runs them after
placement and Grappler. Why not the others:
- the placement log (``tf.debugging.set_log_device_placement``) is printed by the C++ placer to the
  process's own stdout, and it shows the graph *before* Grappler (MatMul, AddV2 and Relu where
  ``_FusedMatMul`` runs), so it would need our file descriptors captured and would still miss fusion;
- the profiler trace costs a second per session in files and parsing, and which device ran an op
  depends on the plugin providing a device plane (tensorflow-metal's support for it is unknown).
Run metadata is collected during the first step, which runs anyway (it builds the optimizer and traces
the function), so the census costs no extra step. It is a private TensorFlow module; if it is missing,
the census records the error and its check says so.
"""

from __future__ import annotations

import importlib
import time
from collections import Counter
from typing import Any, Callable

SEED = 1234
STEPS = 10  # losses recorded per device; steps 2.. are timed (step 1 builds and traces)
BATCH = 64
IMAGE = (16, 16, 1)
CLASSES = 10
LEARNING_RATE = 1e-3
FUSED_SHAPE = (128, 512, 256)  # the graph-mode dense+bias+ReLU: x (m, k) @ w (k, n) + b, then ReLU
PLUMBING = frozenset({"_Arg", "_Retval", "_Send", "_Recv", "_HostSend", "_HostRecv", "NoOp", "_DeviceArg",
                      "_DeviceRetval"})


def short_device(name: str) -> str:
    """``/job:localhost/replica:0/task:0/device:GPU:0`` -> ``GPU:0``."""
    return name.rsplit("device:", 1)[-1] if "device:" in name else (name or "unplaced")


def census_of(tf: Any, run: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``run`` with run metadata on; count the ops of its largest function's partition graphs by device.

    The largest function is the step itself (Keras compiles one ``train_function``); the small ones
    collected with it (variable initialisation checks) are counted in ``other_functions`` only.
    """
    try:
        context = importlib.import_module("tensorflow.python.eager.context").context()
        context.enable_run_metadata()
    except Exception as exc:  # noqa: BLE001 - a missing private API is reported, not fatal
        return run(), {"error": "run metadata unavailable: %s: %s" % (type(exc).__name__, exc)}
    try:
        out = run()
        metadata = context.export_run_metadata()
    finally:
        context.disable_run_metadata()
    graphs = [[n for p in fg.partition_graphs for n in p.node] for fg in (metadata.function_graphs if metadata else [])]
    if not graphs:
        return out, {"error": "TensorFlow recorded no function graph for this step"}
    graphs.sort(key=len, reverse=True)
    ops: dict[str, Counter] = {}
    for node in graphs[0]:
        if node.op not in PLUMBING:
            ops.setdefault(short_device(node.device), Counter())[node.op] += 1
    return out, {"by_device": {d: sum(c.values()) for d, c in sorted(ops.items())},
                 "ops": {d: dict(sorted(c.items())) for d, c in sorted(ops.items())},
                 "other_functions": len(graphs) - 1}


def data(np: Any) -> tuple[Any, Any]:
    """A batch of images and labels from a fixed random linear teacher, so the labels are learnable."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((BATCH,) + IMAGE, dtype=np.float32)
    teacher = rng.standard_normal((int(np.prod(IMAGE)), CLASSES)).astype(np.float32)
    y = np.argmax(x.reshape(BATCH, -1) @ teacher, axis=1).astype(np.int32)
    return x, y


def model(keras: Any) -> Any:
    """The probe's model, built in whatever device scope the caller opened (TensorFlow's, or Keras 3's)."""
    return keras.Sequential([
        keras.Input(IMAGE),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])


def _train(tf: Any, keras: Any, device: str, weights: list[Any], x: Any, y: Any,
           say: Callable[[str], None]) -> tuple[dict[str, Any], Callable[[], Any] | None]:
    """STEPS steps on ``device`` from ``weights``; losses, step times and the census of the first step."""
    try:
        with tf.device(device):
            net = compiled(keras, weights, jit_compile=False)
            census: dict[str, Any] = {}

            def first() -> Any:
                out, census["value"] = census_of(tf, lambda: net.train_on_batch(x, y))
                return out

            result = timed_steps(first, lambda: net.train_on_batch(x, y))
    except Exception as exc:  # noqa: BLE001 - a failed training run is a fact, not a crash
        return {"requested": device, "error": error_text(exc)}, None
    result = {"requested": device, **result, "census": census["value"],
              "jit_compile": bool(getattr(net, "jit_compile", False))}
    say("training on %s: loss %.4f -> %.4f in %d steps, %.2f ms per step (first step %.2f s)"
        % (device, result["losses"][0], result["losses"][-1], STEPS, result["median_step_ms"], result["first_step_s"]))

    def one_more_step() -> Any:
        with tf.device(device):
            return net.train_on_batch(x, y)

    return result, one_more_step


def compiled(keras: Any, weights: list[Any], jit_compile: Any) -> Any:
    """The model from ``weights``, compiled as the probe trains it (Adam, sparse categorical cross-entropy), in the
    caller's device scope. ``jit_compile``: False for TensorFlow (Keras's "auto" chooses it on a Mac with a GPU;
    elsewhere "auto" turns XLA on for any GPU, which a plugin without an XLA compiler cannot run: "Could not find
    compiler for platform"); "auto" for Keras 3's other backends, as users run them."""
    net = model(keras)
    net.set_weights(weights)
    net.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy",
                jit_compile=jit_compile)
    return net


def timed_steps(first: Callable[[], Any], step: Callable[[], Any]) -> dict[str, Any]:
    """``first`` then STEPS - 1 ``step``s, each returning the loss on the host (so its time includes finishing it on
    the device): the losses, every step's time, and the median of the steps after the first (which builds and
    traces)."""
    losses, times = [], []
    for run in [first] + [step] * (STEPS - 1):
        t0 = time.perf_counter()
        losses.append(float(run()))
        times.append(time.perf_counter() - t0)
    timed = sorted(times[1:])
    half = len(timed) // 2
    median = timed[half] if len(timed) % 2 else (timed[half - 1] + timed[half]) / 2
    return {"losses": losses, "step_s": times, "first_step_s": times[0], "median_step_ms": 1000 * median}


def model_facts(keras: Any, weights: list[Any]) -> dict[str, Any]:
    """What the probe trains, as the facts name it."""
    return {"layers": "Conv2D(8, 3x3, relu) > Flatten > Dense(32, relu) > Dense(%d, softmax)" % CLASSES,
            "input": [BATCH] + list(IMAGE), "params": int(sum(w.size for w in weights)),
            "optimizer": "Adam(%g)" % LEARNING_RATE, "loss": "sparse_categorical_crossentropy",
            "keras": keras.__version__}


def error_text(exc: BaseException) -> str:
    """An exception as a fact: its type and the first line of its message."""
    lines = str(exc).splitlines()
    return "%s: %s" % (type(exc).__name__, (lines[0] if lines else "")[:500])


def fused(tf: Any, np: Any, device: str) -> dict[str, Any]:
    """relu(x @ w + b) in graph mode (Grappler fuses it: ``_FusedMatMul``), in eager mode, and in float64.

    The error is componentwise, scaled like the matmul's: ``max |y - y64| / (|x||w| + |b|)``.
    """
    m, k, n = FUSED_SHAPE
    rng = np.random.default_rng(SEED + 1)
    x_np = rng.random((m, k), dtype=np.float32) * 2 - 1
    w_np = rng.random((k, n), dtype=np.float32) * 2 - 1
    b_np = rng.random((n,), dtype=np.float32) * 2 - 1
    exact = np.maximum(x_np.astype(np.float64) @ w_np.astype(np.float64) + b_np, 0.0)
    scale = np.abs(x_np.astype(np.float64)) @ np.abs(w_np.astype(np.float64)) + np.abs(b_np)
    try:
        with tf.device(device):
            x, w, b = (tf.identity(tf.constant(v)) for v in (x_np, w_np, b_np))

            def dense(x, w, b):
                return tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w), b))

            graph = tf.function(dense)
            y_graph, census = census_of(tf, lambda: graph(x, w, b))
            placed = y_graph.device
            y_graph = y_graph.numpy().astype(np.float64)
            y_eager = dense(x, w, b).numpy().astype(np.float64)
    except Exception as exc:  # noqa: BLE001 - reported by the rule
        return {"requested": device, "error": error_text(exc)}

    def err(y: Any) -> float:
        return float(np.max(np.abs(y - exact) / np.maximum(scale, 1e-30)))

    ops = sorted({op for c in (census.get("ops") or {}).values() for op in c})
    return {"requested": device, "placed": placed, "shape": list(FUSED_SHAPE), "graph_error": err(y_graph),
            "eager_error": err(y_eager), "graph_vs_eager": float(np.max(np.abs(y_graph - y_eager))),
            "graph_ops": ops, "fused_op": next((op for op in ops if "Fused" in op), None), "census": census}


def run(tf: Any, np: Any, devices: list[str], say: Callable[[str], None]) -> tuple[dict[str, Any], Any]:
    """Train on each device (CPU first, the target last) and check the fused dense on the target.

    Returns the facts and a callable that runs one more training step on the target (for --trace).
    """
    start = time.perf_counter()
    keras = importlib.import_module("keras")
    keras.utils.set_random_seed(SEED)
    x, y = data(np)
    with tf.device("/CPU:0"):
        initial = model(keras).get_weights()
    facts: dict[str, Any] = {"model": model_facts(keras, initial), "steps": STEPS, "seed": SEED, "soft_placement": True}
    step = None
    previous = tf.config.get_soft_device_placement()
    tf.config.set_soft_device_placement(True)  # as users run it: an op without a GPU kernel moves to the CPU
    try:
        for device in devices:
            facts[device.strip("/").split(":")[0].lower()], step = _train(tf, keras, device, initial, x, y, say)
        facts["fused"] = fused(tf, np, devices[-1])
    finally:
        tf.config.set_soft_device_placement(previous)
    f = facts["fused"]
    if "error" not in f:
        say("fused dense+bias+ReLU on %s (%s): graph error %.1e, eager error %.1e"
            % (devices[-1], f["fused_op"] or "not fused", f["graph_error"], f["eager_error"]))
    facts["spent_s"] = time.perf_counter() - start
    return facts, step
