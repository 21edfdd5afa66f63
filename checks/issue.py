"""A paste-ready block for a bug report (``invoke report --issue``), as ``python -m torch.utils.collect_env`` prints
one: versions, the machine, the checks that failed or warned, and where the bundle is. Pure over a run's JSON (the
bundle's ``results.json``); a fact the run did not collect reads ``not collected``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOT_COLLECTED = "not collected"


def _v(value: Any) -> str:
    return NOT_COLLECTED if value is None or value == "" else str(value)


def _yes_no(value: Any) -> str:
    return NOT_COLLECTED if value is None else "yes" if value else "no"


def _gpu(system: Mapping[str, Any]) -> str:
    gpu = system.get("gpu") or {}
    if not gpu:
        return NOT_COLLECTED
    cores = "%s cores" % gpu["cores"] if gpu.get("cores") else "cores not reported"
    return "%s (%s, %s)" % (_v(gpu.get("name")), cores, _v(gpu.get("metal")))


def block(doc: Mapping[str, Any], bundle: str) -> str:
    """The block, fenced for GitHub (a collapsed ``<details>``) from verify's JSON and the bundle's folder."""
    facts = doc.get("facts") or {}
    s = facts.get("system") or {}
    pk = facts.get("packages") or {}
    versions = pk.get("versions") or {}
    tf = facts.get("tensorflow") or {}
    info = tf.get("tensorflow") or {}
    marker = (pk.get("environment") or {}).get("marker") or {}
    plugins = ["%s %s" % (n, v) for n, v in versions.items() if "metal" in n and v]
    tf_dist = next(("%s %s" % (n, v) for n, v in versions.items() if n.startswith("tensorflow") and "metal" not in n
                    and v), None)
    name = "macOS %s" % (s.get("macos_version") or "(version not collected)") if s.get("os") == "macos" \
        else _v(s.get("os"))
    os_line = "%s, hardware %s, interpreter %s" % (name, _v(s.get("hardware_arch")), _v(s.get("interpreter_arch")))
    rows = [
        ("checks", "%s (schema %s), profile %s, exit %s" % (doc.get("tool_version"), doc.get("schema_version"),
                                                             facts.get("profile"), doc.get("exit_code"))),
        ("options", ", ".join("%s=%s" % kv for kv in sorted((doc.get("options") or {}).items()))),
        ("OS", os_line),
        ("virtual machine", _yes_no(s.get("vm"))),
        ("Rosetta", _yes_no(s.get("translated"))),
        ("model / CPU", "%s / %s" % (_v(s.get("model")), _v(s.get("cpu_brand")))),
        ("GPU (system_profiler)", _gpu(s)),
        ("memory", "%.1f GiB" % (s["memory_bytes"] / 2**30) if s.get("memory_bytes") else NOT_COLLECTED),
        ("Python", "%s at %s" % (_v(s.get("python_version")), _v(s.get("python_executable")))),
        ("TensorFlow (installed)", _v(tf_dist)),
        ("TensorFlow (imported)", "%s in %.1f s" % (info["version"], info.get("import_s") or 0) if info.get("version")
         else "no: stage %s" % _v(tf.get("stage"))),
        ("GPUs listed", ", ".join(info.get("gpus") or []) or ("none" if info else NOT_COLLECTED)),
        ("Metal plugin", ", ".join(plugins) or "none"),
        ("Keras / NumPy", "%s / %s" % (_v(versions.get("keras")), _v(versions.get("numpy")))),
        ("lock", _v(marker.get("lock"))),
        ("settings", ", ".join("%s=%s" % kv for kv in sorted((pk.get("env") or {}).items())) or "none set"),
        ("timed out", ", ".join((s.get("timeouts") or {}).values()) or "none"),
    ]
    width = max(len(k) for k, _ in rows) + 2
    lines = ["%-*s%s" % (width, k + ":", v) for k, v in rows]
    bad = [c for c in doc.get("checks") or [] if c.get("status") in ("fail", "warn")]
    lines.append("checks not passed:" if bad else "checks not passed: none")
    for c in bad:
        lines.append("  [%s] %s: %s" % (c["status"], c["id"], c.get("summary", "")[:300]))
    lines.append("%-*s%s (attach the folder; `python -m checks --replay %s` replays it)" % (width, "bundle:", bundle,
                                                                                        bundle))
    return "\n".join(["<details><summary>tf-metal environment (invoke report --issue)</summary>", "", "```text"]
                     + lines + ["```", "", "</details>"])
