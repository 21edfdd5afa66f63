"""Packages: the installed TensorFlow and tensorflow-metal against the matrix."""

from __future__ import annotations

from typing import Any

from packaging.version import InvalidVersion, Version

from checks.facts import Facts
from checks.knowledge import Knowledge, judge_pair
from checks.model import Options, Result, fail, pass_, skip, warn
from checks.probes.packages import TENSORFLOWS
from checks.rules.common import NOT_RECORDED, no_metal_reason, recorded

TF_DISTS = TENSORFLOWS


def _installed_tf(versions: dict[str, Any]) -> dict[str, str]:
    return {d: versions[d] for d in TF_DISTS if versions.get(d)}


def tensorflow(facts: Facts, options: Options, k: Knowledge) -> Result:
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    versions = facts["packages"]["versions"]
    platform = facts["system"]["platform"]
    target = k.matrix.target(options.profile, platform)
    installed = _installed_tf(versions)
    keep = {"installed": installed, "platform": platform, "profile": options.profile}
    if not installed:
        return fail("TensorFlow is not installed in this environment", "invoke setup", facts=keep)
    if target is None:
        return warn("no %s target for %s in the matrix; cannot judge %s" % (
            options.profile, platform, ", ".join("%s %s" % kv for kv in installed.items())),
            "see `invoke matrix` for the supported platforms", facts=keep)
    dist, pinned = target.tensorflow_pin
    keep["pinned"] = {dist: pinned}
    if installed.get(dist) == pinned:
        return pass_("%s %s, as the matrix pins for %s/%s" % (dist, pinned, options.profile, platform), facts=keep)
    return warn("%s installed; the matrix pins %s==%s for %s/%s" % (
        ", ".join("%s %s" % kv for kv in installed.items()), dist, pinned, options.profile, platform),
        "python -m pip install '%s==%s'   (or: invoke setup --force)" % (dist, pinned), facts=keep)


def metal(facts: Facts, options: Options, k: Knowledge) -> Result:
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    versions = facts["packages"]["versions"]
    plugin = facts["packages"].get("metal_plugin")
    installed_metal = versions.get("tensorflow-metal")
    keep: dict[str, Any] = {"tensorflow-metal": installed_metal, "plugin": plugin}
    if options.profile != "metal":
        if installed_metal:
            return warn("tensorflow-metal %s is installed, but the cpu profile does not use it" % installed_metal,
                        "python -m pip uninstall tensorflow-metal", facts=keep)
        return skip(no_metal_reason(facts, options.profile) or "cpu profile", facts=keep)
    want = k.alternative() or "invoke setup --profile metal"
    if not installed_metal:
        return fail("tensorflow-metal is not installed: TensorFlow will see no GPU",
                    "python -m pip install %s" % want, facts=keep)
    if not plugin:
        return fail("tensorflow-metal %s is installed but libmetal_plugin.dylib is missing" % installed_metal,
                    "python -m pip install --force-reinstall tensorflow-metal==%s" % installed_metal, facts=keep)
    tf_version = next(iter(_installed_tf(versions).values()), None)
    if tf_version is None:
        return fail("tensorflow-metal %s without TensorFlow" % installed_metal, "python -m pip install %s" % want,
                    facts=keep)
    try:
        j = judge_pair(k, tf_version, installed_metal)
    except InvalidVersion:
        return warn("TensorFlow %s + tensorflow-metal %s: not versions the matrix can judge" % (
            tf_version, installed_metal), "python -m pip install %s" % want, facts=keep)
    if j.static is not None:
        keep["static_verdict"] = j.static.to_json()
    keep.update({"verdict": j.verdict, "source": j.source})
    if j.reported is not None:
        keep["pair_status"] = j.reported.status
    details = ["source: " + j.source] + (j.static.explain() if j.static and j.verdict == "broken" else [])
    if j.verdict == "broken":
        return fail("%s %s" % (j.label, j.reason), "python -m pip install %s" % want, details=details, facts=keep)
    if j.verdict != "verified":
        return warn("%s: %s" % (j.label, j.reason), "python -m pip install %s   (a verified pair)" % want,
                    details=details, facts=keep)
    return pass_("%s: %s" % (j.label, j.reason), details=details, facts=keep)


def _minor(version: str) -> tuple[int, int]:
    v = Version(version)
    return v.major, v.minor


def consistency(facts: Facts, options: Options, k: Knowledge) -> Result:
    """Conflicting TensorFlow distributions, a Keras that does not fit, unmet requirements, foreign binaries."""
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    pk = facts["packages"]
    versions = pk["versions"]
    installed = _installed_tf(versions)
    problems: list[tuple[str, str]] = []  # (problem, fix)
    if len(set(installed.values())) > 1 or {"tensorflow-cpu", "tensorflow-intel"} & set(installed) and \
            "tensorflow" in installed:
        listed = ", ".join("%s %s" % kv for kv in sorted(installed.items()))
        problems.append(("conflicting TensorFlow distributions share one package directory: %s" % listed,
                         "python -m pip uninstall -y %s, then invoke setup --force" % " ".join(sorted(installed))))
    tf_version = next(iter(installed.values()), None)
    try:
        problems += _keras(tf_version, versions, pk.get("env") or {}) if tf_version else []
    except InvalidVersion:
        pass
    problems += [(u, "invoke setup --force   (reinstalls the hash-locked set)") for u in pk.get("unmet") or []]
    interp = facts["system"]["interpreter_arch"]
    foreign = {d: a for d, a in (pk.get("binaries") or {}).items() if interp not in a and "universal" not in a}
    if foreign:
        problems.append(("native code built for another CPU than this %s interpreter: %s" % (
            interp, ", ".join("%s (%s)" % (d, "/".join(a)) for d, a in sorted(foreign.items()))),
            "invoke setup --force with a native %s Python" % facts["system"].get("hardware_arch", interp)))
    keep = {"problems": [p for p, _ in problems], "unmet": pk.get("unmet"), "binaries": pk.get("binaries")}
    if not problems:
        return pass_("no conflicting distributions, unmet requirements or foreign binaries", facts=keep)
    return fail(problems[0][0] + ("" if len(problems) == 1 else " (and %d more)" % (len(problems) - 1)),
                problems[0][1], details=[p for p, _ in problems[1:]], facts=keep)


def _keras(tf_version: str, versions: dict[str, Any], env: dict[str, str]) -> list[tuple[str, str]]:
    """TensorFlow 2.16+ needs Keras 3; 2.13-2.15 need Keras 2 of the same minor; tf-keras follows TensorFlow."""
    out = []
    tf_minor = _minor(tf_version)
    keras = versions.get("keras")
    if keras and tf_minor >= (2, 16) and Version(keras).major < 3:
        out.append(("Keras %s with TensorFlow %s, which needs Keras 3" % (keras, tf_version),
                    "python -m pip install 'keras>=3'   "
                    "(Keras 2 code: install tf-keras and set TF_USE_LEGACY_KERAS=1)"))
    if keras and (2, 13) <= tf_minor < (2, 16) and _minor(keras) != tf_minor:
        out.append(("Keras %s with TensorFlow %s, which needs Keras %d.%d" % ((keras, tf_version) + tf_minor),
                    "python -m pip install 'keras~=%d.%d.0'" % tf_minor))
    tf_keras = versions.get("tf-keras")
    if tf_keras and _minor(tf_keras) != tf_minor:
        out.append(("tf-keras %s does not match TensorFlow %s" % (tf_keras, tf_version),
                    "python -m pip install 'tf-keras~=%d.%d.0'" % tf_minor))
    legacy = env.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes")
    if legacy and not tf_keras:
        out.append(("TF_USE_LEGACY_KERAS is set but tf-keras is not installed: tf.keras will fail to import",
                    "python -m pip install 'tf-keras~=%d.%d.0'   (or unset TF_USE_LEGACY_KERAS)" % tf_minor))
    return out
