"""Which Apple chip is this, and what is its GPU's FP32 peak? Data in ``envs/chips.json``, read by ``load_table``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from checks.matrix import MatrixError
from checks.paths import ROOT

CHIPS_PATH = ROOT / "envs" / "chips.json"


class Chip(NamedTuple):
    """What is known of the GPU: its name, cores, peak (None when the table cannot say) and why not."""

    name: str | None
    cores: int | None
    peak_gflops: float | None
    known: bool
    note: str

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def load_table(path: Path = CHIPS_PATH) -> dict[str, Any]:
    """The chip table (read once, by ``checks.knowledge.load``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MatrixError("chips %s: %s" % (path, exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("chips"), list):
        raise MatrixError("chips %s: no list of chips" % path)
    return data


def normalise(name: str | None) -> str | None:
    """'kHW_AppleM1ProItem' -> 'Apple M1 Pro'; 'Apple M3 Max' stays."""
    if not name:
        return None
    m = re.fullmatch(r"kHW_Apple(M\d+)(Pro|Max|Ultra)?Item", name)
    if m:
        return " ".join(filter(None, ["Apple", m.group(1), m.group(2)]))
    return name.strip()


def identify(system: Mapping[str, Any], t: Mapping[str, Any]) -> Chip:
    """The chip from system_profiler's GPU (name, cores), else the CPU brand string; ``t`` is the chip table."""
    gpu = system.get("gpu") or {}
    name = normalise(gpu.get("name")) or normalise(system.get("cpu_brand"))
    cores = gpu.get("cores")
    if system.get("hardware_arch") == "x86_64":
        return Chip(name, cores, None, False, "Intel Mac: no Apple GPU, the chip table does not apply")
    if gpu.get("paravirtual") or system.get("vm"):
        return Chip(name, cores, None, False, "virtual machine (paravirtual GPU): no peak applies")
    if not name:
        return Chip(None, cores, None, False, "no GPU name recorded")
    row = next((c for c in t["chips"] if c["name"] == name), None)
    if row is None:
        return Chip(name, cores, None, False, "%r is not in envs/chips.json: figures without a percentage" % name)
    if cores is None:
        return Chip(name, None, None, True, "GPU core count unknown (%s has %s cores): no percentage" % (
            name, "/".join(map(str, row["cores"]))))
    if cores not in row["cores"]:
        note = "%s with %d GPU cores is not a known configuration (%s); peak computed anyway" % (
            name, cores, "/".join(map(str, row["cores"])))
    else:
        note = "peak = %d cores x %d FLOP x %s GHz (%s)" % (cores, t["flops_per_core_cycle"], row["clock_ghz"],
                                                           row["source"])
    if row["clock_ghz"] is None:
        return Chip(name, cores, None, True, "%s: GPU clock unknown (%s): no percentage" % (name, row["source"]))
    return Chip(name, cores, cores * t["flops_per_core_cycle"] * row["clock_ghz"], True, note)
