"""One import-order child: ``python -X faulthandler -m checks.probes.import_child CONFIG``.

CONFIG is JSON: ``{"out": FILE, "order": "after"|"before", "modules": [...]}``. ``after`` imports TensorFlow first,
then each module; ``before`` each module first, then TensorFlow. Before every import the child writes which one it
is about to make to ``out`` (atomically), so a process that aborts or hangs still says where it stopped; a module
that raises is recorded and the next one is tried. Nothing else is imported.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any

from checks.probes.tf_child import save_json


def main(config: dict[str, Any]) -> int:
    out = config["out"]
    modules = list(config["modules"])
    sequence = ["tensorflow"] + modules if config["order"] == "after" else modules + ["tensorflow"]
    state: dict[str, Any] = {"order": config["order"], "imported": [], "errors": {}, "current": None}
    for name in sequence:
        state["current"] = name
        save_json(state, out)
        print("[imports] import %s" % name, file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a module that raises is a fact; the next one is still tried
            state["errors"][name] = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else "")
            if name == "tensorflow":
                break
            continue
        state["imported"].append([name, round(time.perf_counter() - start, 3)])
    state["current"] = None
    save_json(state, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
