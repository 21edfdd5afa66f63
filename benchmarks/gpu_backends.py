"""Run the Keras 3 backend child (checks/probes/backend_child.py) for torch and JAX on a machine with a CUDA GPU.

The machine has PyTorch and JAX but no Keras and no network: Keras 3 and the small dependencies it lacks come as
wheels in WHEELS (``python3 -m pip download keras==3.15.1 --no-deps -d wheels/`` and its dependencies), unpacked
into a private folder put on the child's PYTHONPATH; a dependency the machine already has (numpy, ml_dtypes for
jaxlib) is used as it is. Each child runs in its own process under a time limit, through the suite's process helper,
and writes its JSON to OUT/keras-BACKEND[-tf32].json, with the machine's description beside it.

Usage (on the GPU machine, from the repository root):  python3 benchmarks/gpu_backends.py WHEELS OUT [--tf32]
Judge here:  .tools/bin/python -m benchmarks.gpu_backend_rules docs/gpu/h100-keras-torch.json ...
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from checks import process  # noqa: E402 - after the path is set

NEEDED = {"keras": "keras", "namex": "namex", "rich": "rich", "markdown_it": "markdown_it_py", "mdurl": "mdurl",
          "pygments": "pygments", "absl": "absl_py", "h5py": "h5py", "optree": "optree", "ml_dtypes": "ml_dtypes",
          "packaging": "packaging"}  # module -> wheel name prefix


def unpack(wheels: Path, into: Path) -> list[str]:
    """Unpack the wheels of the modules this interpreter lacks; returns the wheels used."""
    tag = "cp%d%d" % sys.version_info[:2]
    used = []
    for module, prefix in NEEDED.items():
        if module != "keras" and importlib.util.find_spec(module) is not None:
            continue
        found = sorted(w for w in wheels.glob(prefix + "-*.whl") if "none-any" in w.name or "-%s-" % tag in w.name)
        if not found:
            raise SystemExit("no wheel for %s (%s) in %s" % (module, tag, wheels))
        with zipfile.ZipFile(found[-1]) as z:
            z.extractall(into)
        used.append(found[-1].name)
    return used


def machine() -> dict[str, object]:
    smi = process.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                      timeout=30)
    return {"gpu": smi.stdout.strip() or smi.error, "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "platform": platform.platform()}


def main() -> int:
    wheels, out = Path(sys.argv[1]), Path(sys.argv[2])
    tf32 = "--tf32" in sys.argv[3:]
    deps = Path(tempfile.mkdtemp(prefix="keras-deps-"))
    used = unpack(wheels, deps)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(deps)]), PYTHONFAULTHANDLER="1")
    about = {"machine": machine(), "wheels": used}
    print(json.dumps(about), flush=True)
    for backend in ("torch", "jax"):
        path = out / ("keras-%s%s.json" % (backend, "-tf32" if tf32 else ""))
        config = {"out": str(path), "backend": backend, "budget_s": 4.0, "tf32": tf32}
        proc = process.run([sys.executable, "-X", "faulthandler", "-m", "checks.probes.backend_child",
                            json.dumps(config)], timeout=240, env=env)
        print(proc.stderr[-3000:], flush=True)
        facts = json.loads(path.read_text()) if path.exists() else {"stage": "start"}
        facts["process"] = {k: v for k, v in proc.to_json().items() if k != "stdout"}
        facts["gathered_on"] = about
        path.write_text(json.dumps(facts, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
