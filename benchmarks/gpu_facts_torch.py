"""Verify's GPU facts, gathered on a real GPU with PyTorch (no TensorFlow there), for verify's own rules.

The same measurements the TensorFlow child makes (checks/probes/tf_child.py, checks/probes/training.py), in
the same shapes (checks/facts.py: Matmul, Training): an fp32 matmul on the CPU and on the GPU, each against a
float64 reference on the CPU, timed synchronously; the training probe's model (Conv2D(8, 3x3, relu) >
Flatten > Dense(32, relu) > Dense(10, softmax), Adam(1e-3), sparse categorical cross-entropy, the probe's
seed and data) trained STEPS steps on the CPU and on the GPU from the same initial weights, each step's loss
read back to the host (as `train_on_batch` does). What PyTorch cannot give in TensorFlow's terms is marked
"not collected" (the op census, the graph-mode fused dense). With --tf32 the GPU uses TF32 matmuls and
convolutions (a reduced-precision path, which the rules must catch).

Run on a machine with PyTorch and a CUDA GPU:  python3 benchmarks/gpu_facts_torch.py OUT.json [--tf32]
Judge here (verify's rules, no TensorFlow):    .tools/bin/python -m benchmarks.gpu_rules OUT.json
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from checks.probes import training as probe

N = 4096


def synced(fn):
    def run():
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return out
    return run


def matmul_side(device: str, a64: np.ndarray, b64: np.ndarray, exact: np.ndarray, reps: int = 10) -> dict:
    a = torch.from_numpy(a64.astype(np.float32)).to(device)
    b = torch.from_numpy(b64.astype(np.float32)).to(device)
    run = synced(lambda: a @ b)
    run()  # warm-up (first-call costs: cuBLAS handles, autotuning)
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        c = run()
        samples.append(time.perf_counter() - t0)
    got = c.double().cpu().numpy()
    scale = np.abs(a64) @ np.abs(b64)
    median = statistics.median(samples)
    return {"requested": "/%s:0" % device.split(":")[0].upper(), "placed": str(c.device),
            "error_rel": float(np.max(np.abs(got - exact) / np.maximum(scale, 1e-30))),
            "gflops": 2 * N ** 3 / median / 1e9, "reps": reps, "median_s": median, "min_s": min(samples),
            "cv": statistics.stdev(samples) / statistics.fmean(samples), "samples_s": samples}


class Model(torch.nn.Module):
    """The probe's Keras model, layer for layer (Keras: channels last; here NCHW, the same arithmetic)."""

    def __init__(self) -> None:
        super().__init__()
        h, w, c = probe.IMAGE
        self.conv = torch.nn.Conv2d(c, 8, 3)
        self.dense = torch.nn.Linear(8 * (h - 2) * (w - 2), 32)
        self.out = torch.nn.Linear(32, probe.CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x)).permute(0, 2, 3, 1).flatten(1)  # Keras flattens channels last
        return self.out(torch.relu(self.dense(x)))  # logits; the loss applies the softmax


def train(device: str, state: dict, x: np.ndarray, y: np.ndarray) -> dict:
    model = Model().to(device)
    model.load_state_dict({k: v.to(device) for k, v in state.items()})
    opt = torch.optim.Adam(model.parameters(), lr=probe.LEARNING_RATE, eps=1e-7)  # Keras's epsilon
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device)
    yt = torch.from_numpy(y.astype(np.int64)).to(device)
    losses, times = [], []
    for _ in range(probe.STEPS):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))  # the loss read back on the host ends the step, as train_on_batch
        times.append(time.perf_counter() - t0)
    timed = times[1:]
    return {"requested": "/%s:0" % device.split(":")[0].upper(), "losses": losses, "step_s": times,
            "first_step_s": times[0], "median_step_ms": 1000 * statistics.median(timed),
            "census": {"error": "not collected: a PyTorch replica has no TensorFlow partition graphs"},
            "jit_compile": False}


def main(out: str, tf32: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True  # conv autotuning, as cuDNN-backed TensorFlow does
    rng = np.random.default_rng(probe.SEED)
    a64, b64 = rng.random((N, N)) * 2 - 1, rng.random((N, N)) * 2 - 1
    a64, b64 = a64.astype(np.float32).astype(np.float64), b64.astype(np.float32).astype(np.float64)
    exact = a64 @ b64
    matmul = {"n": N, "dtype": "float32", "budget_s": 0.0, "tolerance": 0.0, "reference_rows": N,
              "cpu": matmul_side("cpu", a64, b64, exact), "gpu": matmul_side("cuda:0", a64, b64, exact)}
    torch.manual_seed(probe.SEED)
    x, y = probe.data(np)
    state = {k: v.clone() for k, v in Model().state_dict().items()}
    training = {"model": {"layers": "Conv2D(8, 3x3, relu) > Flatten > Dense(32, relu) > Dense(10, softmax)",
                          "input": [probe.BATCH, *probe.IMAGE], "optimizer": "Adam(%g)" % probe.LEARNING_RATE,
                          "loss": "sparse_categorical_crossentropy", "keras": "PyTorch %s replica" % torch.__version__,
                          "params": int(sum(v.numel() for v in state.values()))},
                "steps": probe.STEPS, "seed": probe.SEED, "soft_placement": False,
                "cpu": train("cpu", state, x, y), "gpu": train("cuda:0", state, x, y),
                "fused": {"requested": "/GPU:0", "error": "not collected: no graph-mode fusion in the replica"}}
    facts = {"gathered_with": "PyTorch %s, CUDA %s, %s; TF32 %s" % (torch.__version__, torch.version.cuda,
                                                                   torch.cuda.get_device_name(0),
                                                                   "on" if tf32 else "off"),
             "machine": "%s %s, %s" % (platform.system(), platform.machine(), torch.cuda.get_device_name(0)),
             "matmul": matmul, "training": training}
    Path(out).write_text(json.dumps(facts, indent=1))
    print(json.dumps({k: facts[k] for k in ("gathered_with", "machine")}))
    print("matmul gpu %.0f GFLOP/s err %.1e; cpu %.0f GFLOP/s err %.1e" % (
        matmul["gpu"]["gflops"], matmul["gpu"]["error_rel"], matmul["cpu"]["gflops"], matmul["cpu"]["error_rel"]))
    print("losses cpu %s\n       gpu %s" % (training["cpu"]["losses"], training["gpu"]["losses"]))


if __name__ == "__main__":
    main(sys.argv[1], "--tf32" in sys.argv[2:])
