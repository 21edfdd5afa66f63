"""The Keras 3 backend child: the probes of ``tf_child`` for an environment whose Keras runs on PyTorch or JAX.

Run by ``checks.probes.framework`` as ``python -X faulthandler -m checks.probes.backend_child CONFIG`` in the
environment's interpreter, in its own process group. Like ``tf_child`` it writes its facts as JSON to
``CONFIG["out"]`` after every stage (a crash or a kill keeps what was learned, and the ``stage`` it died in) and
says its progress on stderr. It sets ``KERAS_BACKEND`` before Keras is imported, then gathers:

- devices: the framework's accelerator (torch: CUDA, else MPS; JAX: a non-CPU device), and why there is none
  where the framework can tell;
- the training probe of ``checks.probes.training`` (its model, data, seed and steps) on the CPU and on the
  accelerator from the same weights; placement is the device the weights live on (there is no op census outside
  TensorFlow), and on MPS the ops that fell back to the CPU, counted from PyTorch's warnings;
- an fp32 matmul on the CPU and on the accelerator, each checked against a float64 reference computed with numpy
  on the CPU (MPS has no float64), timed with a device synchronisation before the clock stops.

The accelerator's matmuls and convolutions run in true fp32 (TF32 off: PyTorch's cuDNN convolutions and JAX's
default GPU matmul precision use TF32 on NVIDIA GPUs, which ``checks.timing.fp32_tolerance`` rejects), unless
``CONFIG["tf32"]``; the facts record which.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import time
import warnings
from typing import Any, Callable

from checks import paths, timing
from checks.probes import training
from checks.probes.tf_child import REFERENCE_ROWS, matmul_budget, matmul_reference, matmul_result, save_json

FALLBACK_DIAGNOSIS = "mps-cpu-fallback"  # envs/diagnoses.json: the warning PyTorch gives for an op run on the CPU
NO_CENSUS = "no op census on this backend: TensorFlow's run metadata has no counterpart in Keras on %s"


def _say(msg: str) -> None:
    print("[backend-probe] " + msg, file=sys.stderr, flush=True)


def fallback_pattern() -> re.Pattern[str]:
    """The MPS CPU-fallback warning's pattern, from its diagnosis (one home for the wording)."""
    with open(os.path.join(str(paths.ROOT), "envs", "diagnoses.json"), encoding="utf-8") as fh:
        found = next(d for d in json.load(fh)["diagnoses"] if d["id"] == FALLBACK_DIAGNOSIS)
    return re.compile(found["match"][0], re.IGNORECASE)


def count_fallbacks(messages: list[str], pattern: re.Pattern[str]) -> dict[str, int]:
    """How often each op was named by a fallback warning."""
    ops: dict[str, int] = {}
    for text in messages:
        m = pattern.search(text)
        if m:
            ops[m.group("op")] = ops.get(m.group("op"), 0) + 1
    return dict(sorted(ops.items()))


class Torch:
    """PyTorch's devices, placement and synchronisation, as Keras's torch backend names them."""

    label = "PyTorch"

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def devices(self) -> dict[str, Any]:
        torch = self.torch
        mps = torch.backends.mps
        facts: dict[str, Any] = {"framework": "torch", "cpu": "cpu",
                                 "mps": {"built": bool(mps.is_built()), "available": bool(mps.is_available())},
                                 "cuda": {"built": torch.version.cuda is not None, "version": torch.version.cuda,
                                          "available": bool(torch.cuda.is_available())},
                                 "env": {k: os.environ[k] for k in ("PYTORCH_ENABLE_MPS_FALLBACK", "KERAS_TORCH_DEVICE",
                                                                    "PYTORCH_MPS_HIGH_WATERMARK_RATIO")
                                         if k in os.environ}}
        if facts["mps"]["built"] and hasattr(mps, "is_macos_or_newer"):
            try:
                facts["mps"]["macos_14_or_newer"] = bool(mps.is_macos_or_newer(14, 0))
            except Exception as exc:  # noqa: BLE001 - optional evidence
                facts["mps"]["macos_14_or_newer_error"] = training.error_text(exc)
        if facts["cuda"]["available"]:
            count = torch.cuda.device_count()
            facts["cuda"]["count"] = count
            facts["cuda"]["names"] = [torch.cuda.get_device_name(i) for i in range(count)]
            facts["cuda"]["capability"] = "%d.%d" % torch.cuda.get_device_capability(0)
        elif facts["cuda"]["built"]:  # a CUDA build without a usable GPU: torch says why when asked to start CUDA
            try:
                torch.cuda.init()
            except Exception as exc:  # noqa: BLE001 - the reason is the fact
                facts["cuda"]["why_not"] = training.error_text(exc)
        else:
            facts["cuda"]["why_not"] = "this torch is built without CUDA: torch.version.cuda is None"
        if not facts["mps"]["built"]:
            facts["mps"]["why_not"] = "this torch is built without MPS: torch.backends.mps.is_built() is False"
        elif not facts["mps"]["available"]:
            facts["mps"]["why_not"] = ("torch.backends.mps.is_available() is False: MPS needs macOS 14 or later and a "
                                       "Metal device")
        # CUDA first: a machine has one or the other; Keras's own default prefers mps, then cuda
        kind = "cuda" if facts["cuda"]["available"] else "mps" if facts["mps"]["available"] else None
        facts["accelerator"] = kind
        facts["accelerator_device"] = {"cuda": "cuda:0", "mps": "mps"}.get(kind or "")
        facts["accelerator_name"] = (facts["cuda"]["names"][0] if kind == "cuda" else
                                     "Apple GPU (MPS)" if kind == "mps" else None)
        if kind == "mps" and hasattr(torch, "mps") and hasattr(torch.mps, "recommended_max_memory"):
            facts["mps"]["recommended_max_memory"] = int(torch.mps.recommended_max_memory())
        return facts

    def precision(self, tf32: bool) -> dict[str, Any]:
        b = self.torch.backends
        b.cuda.matmul.allow_tf32 = tf32
        b.cudnn.allow_tf32 = tf32
        return {"tf32": tf32, "torch.backends.cuda.matmul.allow_tf32": tf32, "torch.backends.cudnn.allow_tf32": tf32}

    def sync(self, device: str) -> Callable[[], None]:
        if device.startswith("cuda"):
            return self.torch.cuda.synchronize
        if device.startswith("mps"):
            return self.torch.mps.synchronize
        return lambda: None

    def put(self, array: Any, device: str) -> Any:
        return self.torch.from_numpy(array).to(device)

    def matmul(self, a: Any, b: Any) -> Any:
        return self.torch.matmul(a, b)

    def placed(self, tensor: Any) -> str:
        return str(tensor.device)

    def host(self, tensor: Any) -> Any:
        return tensor.detach().cpu().numpy()

    def weights_on(self, variables: list[Any]) -> list[str]:
        return sorted({str(v.value.device) for v in variables})


class Jax:
    """JAX's devices, placement and synchronisation, as Keras's jax backend names them."""

    label = "JAX"

    def __init__(self, jax: Any) -> None:
        self.jax = jax

    def devices(self) -> dict[str, Any]:
        jax = self.jax
        devices = jax.devices()
        facts: dict[str, Any] = {"framework": "jax", "cpu": "cpu:0", "default_backend": jax.default_backend(),
                                 "devices": ["%s:%d (%s)" % (d.platform, d.id, d.device_kind) for d in devices]}
        accel = next((d for d in devices if d.platform != "cpu"), None)
        if accel is None:
            try:
                jax.devices("gpu")
            except Exception as exc:  # noqa: BLE001 - JAX's own words for why there is no GPU
                facts["why_not"] = training.error_text(exc)
        facts["accelerator"] = accel.platform if accel is not None else None
        facts["accelerator_device"] = "%s:%d" % (accel.platform, accel.id) if accel is not None else None
        facts["accelerator_name"] = accel.device_kind if accel is not None else None
        return facts

    def precision(self, tf32: bool) -> dict[str, Any]:
        value = "default" if tf32 else "highest"
        self.jax.config.update("jax_default_matmul_precision", value)
        return {"tf32": tf32, "jax_default_matmul_precision": value}

    def _device(self, device: str) -> Any:
        platform, _, index = device.partition(":")
        return next(d for d in self.jax.devices(platform) if d.id == int(index or 0))

    def sync(self, device: str) -> Callable[[], None]:
        return lambda: None  # matmul() below blocks until the result is ready

    def put(self, array: Any, device: str) -> Any:
        return self.jax.device_put(array, self._device(device))

    def matmul(self, a: Any, b: Any) -> Any:
        return self.jax.numpy.matmul(a, b).block_until_ready()

    def placed(self, tensor: Any) -> str:
        return ", ".join(sorted("%s:%d" % (d.platform, d.id) for d in tensor.devices()))

    def host(self, tensor: Any) -> Any:
        import numpy as np

        return np.asarray(tensor)

    def weights_on(self, variables: list[Any]) -> list[str]:
        return sorted({self.placed(v.value) for v in variables})


FRAMEWORKS: dict[str, Any] = {"torch": Torch, "jax": Jax}


def main(config: dict[str, Any]) -> int:
    out = config["out"]
    name = config["backend"]
    os.environ["KERAS_BACKEND"] = config.get("keras_backend") or name
    facts: dict[str, Any] = {"stage": "import", "backend": name,
                             "config": {k: v for k, v in config.items() if k != "out"}}
    save_json(facts, out)
    if os.path.exists(os.path.join(sys.prefix, paths.OWNER)):
        sys.dont_write_bytecode = False  # setup installs without bytecode: compile what the import reads, once
    t0 = time.perf_counter()
    module = importlib.import_module(name)  # the import being probed comes first
    np = importlib.import_module("numpy")
    fw = FRAMEWORKS[name](module)
    facts["framework"] = {"name": name, "version": str(module.__version__), "import_s": time.perf_counter() - t0,
                          "keras_backend": os.environ["KERAS_BACKEND"]}
    facts["stage"] = "devices"
    save_json(facts, out)
    facts["devices"] = fw.devices()
    facts["precision"] = fw.precision(bool(config.get("tf32")))
    accel = facts["devices"]["accelerator_device"]
    _say("%s %s imported in %.1f s; accelerator: %s" % (name, facts["framework"]["version"],
                                                          facts["framework"]["import_s"],
                                                          "%s (%s)" % (accel, facts["devices"]["accelerator_name"])
                                                          if accel else "none"))
    sides = [("cpu", facts["devices"]["cpu"])] + ([("gpu", accel)] if accel else [])
    budget = float(config.get("budget_s", 3.0))

    def save() -> None:
        save_json(facts, out)

    facts["stage"] = "training"
    save()
    facts["training"] = {}  # filled side by side, saved after each: a crash on the accelerator keeps the CPU's
    try:
        train(fw, np, sides, facts["training"], save)
    except Exception as exc:  # noqa: BLE001 - a broken Keras must not cost the matmul its facts
        facts["training"] = {"error": training.error_text(exc)}
    facts["stage"] = "matmul"
    budget = matmul_budget(budget, facts["training"].get("spent_s", 0.0))
    facts["matmul"] = {}
    save()
    matmul(fw, np, sides, budget, config, facts["matmul"], save)
    facts["stage"] = "done"
    save()
    return 0


def train(fw: Any, np: Any, sides: list[tuple[str, str]], facts: dict[str, Any],
          save: Callable[[], None]) -> dict[str, Any]:
    """The training probe on each side (the CPU first, the accelerator last) from the same initial weights, into
    ``facts``; ``save`` after each side, so a crash keeps the sides that finished."""
    start = time.perf_counter()
    keras = importlib.import_module("keras")
    keras.utils.set_random_seed(training.SEED)
    x, y = training.data(np)
    with keras.device(sides[0][1]):
        initial = training.model(keras).get_weights()
    facts.update({"model": training.model_facts(keras, initial), "steps": training.STEPS,
                  "seed": training.SEED, "backend": keras.backend.backend()})
    pattern = fallback_pattern()
    for side, device in sides:
        facts[side] = _train_on(fw, keras, device, initial, x, y, pattern)
        save()
    facts["spent_s"] = time.perf_counter() - start
    return facts


def _train_on(fw: Any, keras: Any, device: str, initial: list[Any], x: Any, y: Any,
              pattern: re.Pattern[str]) -> dict[str, Any]:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with keras.device(device):
                net = training.compiled(keras, initial, jit_compile="auto")
                step = lambda: net.train_on_batch(x, y)  # noqa: E731 - the same call, first and after
                result = training.timed_steps(step, step)
                variables = list(net.weights) + list(net.optimizer.variables)
                weights_on = fw.weights_on(variables)
                output_on = fw.placed(net(x[:1]))
    except Exception as exc:  # noqa: BLE001 - a failed training run is a fact, not a crash
        return {"requested": device, "error": training.error_text(exc)}
    messages = [str(w.message) for w in caught]
    result = {"requested": device, **result, "jit_compile": bool(getattr(net, "jit_compile", False)),
              "placement": {"weights": weights_on, "output": output_on, "census": NO_CENSUS % fw.label},
              "fallback": {"ops": count_fallbacks(messages, pattern), "warnings": len(messages)}}
    _say("training on %s: loss %.4f -> %.4f in %d steps, %.2f ms per step (first step %.2f s); weights on %s"
         % (device, result["losses"][0], result["losses"][-1], training.STEPS, result["median_step_ms"],
            result["first_step_s"], ", ".join(weights_on)))
    return result


def matmul(fw: Any, np: Any, sides: list[tuple[str, str]], budget: float, config: dict[str, Any],
           facts: dict[str, Any], save: Callable[[], None]) -> dict[str, Any]:
    """An fp32 n x n matmul on each side against a float64 reference from numpy, into ``facts`` (``save`` after
    each side); sized so the CPU takes about an eighth of its share of the budget per repetition."""
    share = budget / len(sides)
    n = int(config.get("size") or 0) or _size(fw, np, sides[0][1], share, config.get("memory_bytes") or 0)
    rng = np.random.default_rng(0)
    a_np = rng.random((n, n), dtype=np.float32) * 2 - 1  # as tf_child makes them
    b_np = rng.random((n, n), dtype=np.float32) * 2 - 1
    reference = matmul_reference(np, a_np, b_np)
    facts.update({"n": n, "dtype": "float32", "budget_s": budget, "tolerance": timing.fp32_tolerance(n),
                  "reference_rows": REFERENCE_ROWS})
    save()
    for side, device in sides:
        facts[side] = _matmul_on(fw, np, device, a_np, b_np, reference, share)
        save()
    return facts


def _size(fw: Any, np: Any, device: str, share: float, memory_bytes: int) -> int:
    n0 = 512
    x = fw.put(np.ones((n0, n0), np.float32), device)
    sync = fw.sync(device)
    fw.matmul(x, x)
    sync()
    best = float("inf")
    for _ in range(3):  # the least disturbed
        t0 = time.perf_counter()
        fw.matmul(x, x)
        sync()
        best = min(best, time.perf_counter() - t0)
    return timing.pick_size(best, n0, share / 8.0, memory_bytes)


def _matmul_on(fw: Any, np: Any, device: str, a_np: Any, b_np: Any, reference: dict[str, Any],
               budget: float) -> dict[str, Any]:
    _say("matmul %dx%d on %s ..." % (a_np.shape[0], a_np.shape[0], device))
    sync = fw.sync(device)
    try:
        a, b = fw.put(a_np, device), fw.put(b_np, device)
        sync()
        start = time.perf_counter()
        c = fw.matmul(a, b)  # the first warm-up; its result is checked for device and numbers
        placed = fw.placed(c)
        rows = np.asarray(fw.host(c[:REFERENCE_ROWS, :REFERENCE_ROWS]), dtype=np.float64)
        spent = time.perf_counter() - start

        def run() -> None:
            fw.matmul(a, b)
            sync()  # the clock stops when the device has finished, not when the call returned

        t = timing.measure(run, budget - spent, warmup=1)
    except Exception as exc:  # noqa: BLE001 - a refused placement is a fact, not a crash
        return {"requested": device, "error": training.error_text(exc)}
    return matmul_result(np, device, placed, rows, reference, a_np.shape[0], t, _say)


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
