"""Packages: the installed TensorFlow and tensorflow-metal against the matrix."""

from __future__ import annotations

from typing import Any

from packaging.version import InvalidVersion, Version

from checks import fixes, platforms
from checks.facts import Facts
from checks.knowledge import Knowledge, judge_pair
from checks.model import Options, Result, fail, pass_, skip, warn
from checks.rules.common import NOT_RECORDED, no_metal_reason, recorded


def _installed_tf(versions: dict[str, Any], k: Knowledge) -> dict[str, str]:
    return {d: versions[d] for d in k.matrix.tensorflows if versions.get(d)}


def tensorflow(facts: Facts, options: Options, k: Knowledge) -> Result:
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    versions = facts["packages"]["versions"]
    platform = facts["system"]["platform"]
    target = k.matrix.target(options.profile, platform)
    installed = _installed_tf(versions, k)
    keep = {"installed": installed, "platform": platform, "profile": options.profile}
    if not installed:
        return fail("TensorFlow is not installed in this environment",
                    fixes.repair(facts, why="installs the hash-locked set"), facts=keep)
    if target is None:
        return warn("no %s target for %s in the matrix; cannot judge %s" % (
            options.profile, platform, ", ".join("%s %s" % kv for kv in installed.items())),
            fixes.command("matrix", why="lists the supported platforms"), facts=keep)
    for other in k.matrix.targets_for(options.profile, platform):  # the default, or a pair chosen by --tensorflow
        dist, pinned = other.tensorflow_pin
        if installed.get(dist) == pinned:
            keep["pinned"] = {dist: pinned}
            return pass_("%s %s, as the matrix pins for %s/%s%s" % (
                dist, pinned, options.profile, platform, "" if other is target else " (%s)" % other.label),
                facts=keep)
    dist, pinned = target.tensorflow_pin
    keep["pinned"] = {dist: pinned}
    return warn("%s installed; the matrix pins %s==%s for %s/%s" % (
        ", ".join("%s %s" % kv for kv in installed.items()), dist, pinned, options.profile, platform),
        fixes.repair(facts, why="installs %s==%s from the lock" % (dist, pinned)), facts=keep)


def metal(facts: Facts, options: Options, k: Knowledge) -> Result:
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    versions = facts["packages"]["versions"]
    plugin = facts["packages"].get("metal_plugin")
    present = [(name, versions[name]) for name in k.matrix.plugin_names if versions.get(name)]
    name, installed_metal = present[0] if present else ("tensorflow-metal", None)
    keep: dict[str, Any] = {"tensorflow-metal": versions.get("tensorflow-metal"), "plugin": plugin,
                            "plugins": dict(present)}
    if options.profile != "metal":
        if installed_metal:
            return warn("%s %s is installed, but the cpu profile does not use it" % (name, installed_metal),
                        fixes.uninstall(facts, name, why="the cpu profile uses no Metal plugin"),
                        facts=keep)
        reason = no_metal_reason(facts, options.profile) or "cpu profile"
        return skip(reason, reason, facts=keep)
    cannot = no_metal_reason(facts, "metal")
    if cannot:  # the metal profile asked of a machine that cannot run it: architecture.interpreter says so
        return skip(cannot, facts=keep)
    want = fixes.repair(facts, why="installs the pinned pair %s from the lock" % (k.alternative() or "of the matrix"))
    if not installed_metal:
        return fail("no Metal plugin (%s) is installed: TensorFlow will see no GPU" % " or ".join(
            k.matrix.plugin_names), want, facts=keep)
    record = k.matrix.plugin(name)
    if not plugin:
        rebuild = fixes.repair(facts, "--force", "--tensorflow", next(iter(_installed_tf(versions, k).values()), ""),
                            why="rebuilds %s" % name) if record and record.two_step else \
            fixes.repair(facts, "--force", why="reinstalls every file of the hash-locked set")
        return fail("%s %s is installed but libmetal_plugin.dylib is missing" % (name, installed_metal), rebuild,
                    facts=keep)
    tf_version = next(iter(_installed_tf(versions, k).values()), None)
    if tf_version is None:
        return fail("%s %s without TensorFlow" % (name, installed_metal), want, facts=keep)
    try:
        j = judge_pair(k, tf_version, installed_metal, name)
    except InvalidVersion:
        return warn("TensorFlow %s + %s %s: not versions the matrix can judge" % (
            tf_version, name, installed_metal), want, facts=keep)
    if j.static is not None:
        keep["static_verdict"] = j.static.to_json()
    keep.update({"verdict": j.verdict, "source": j.source})
    if j.reported is not None:
        keep["pair_status"] = j.reported.status
    details = ["source: " + j.source] + (j.static.explain() if j.static and j.verdict == "broken" else [])
    api = k.kernel_c_api(tf_version) if record and record.expected else None
    if api is not None and api.missing:  # expected and explained: not a fault of this environment
        details.append("expected: TensorFlow %s exports %d of the %d kernel C API functions for resource variables, "
                       "so %s runs optimizers on the host and waits for the GPU after each kernel "
                       "(`.tools/bin/invoke abi --tensorflow %s` lists them)" % (
                           tf_version, len(api.declared) - len(api.missing), len(api.declared), name, tf_version))
    if j.verdict == "broken":
        return fail("%s %s" % (j.label, j.reason), want, details=details, facts=keep)
    if j.verdict != "verified":
        return warn("%s: %s" % (j.label, j.reason), want,
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
    installed = _installed_tf(versions, k)
    problems: list[tuple[str, str | None]] = []  # (problem, fix command or None)
    if len(set(installed.values())) > 1 or {"tensorflow-cpu", "tensorflow-intel"} & set(installed) and \
            "tensorflow" in installed:
        listed = ", ".join("%s %s" % kv for kv in sorted(installed.items()))
        problems.append(("conflicting TensorFlow distributions share one package directory: %s" % listed,
                         fixes.repair(facts, "--force", why="rebuilds it with only the locked TensorFlow")))
    tf_version = next(iter(installed.values()), None)
    try:
        keras_fix = fixes.repair(facts, why="installs the locked Keras")
        problems += _keras(tf_version, versions, pk.get("env") or {}, keras_fix) if tf_version else []
    except InvalidVersion:
        pass
    problems += [(u, fixes.repair(facts, why="installs the hash-locked set")) for u in pk.get("unmet") or []]
    problems += _plugin_conflicts(facts, versions, k)
    interp = facts["system"]["interpreter_arch"]
    foreign = {d: a for d, a in (pk.get("binaries") or {}).items() if interp not in a and "universal" not in a}
    if foreign:
        problems.append(("native code built for another CPU than this %s interpreter: %s" % (
            interp, ", ".join("%s (%s)" % (d, "/".join(a)) for d, a in sorted(foreign.items()))),
            fixes.repair(facts, "--force", why="rebuilds it; setup picks a native %s Python"
                         % facts["system"].get("hardware_arch", interp))))
    keep = {"problems": [p for p, _ in problems], "unmet": pk.get("unmet"), "binaries": pk.get("binaries")}
    if not problems:
        return pass_("no conflicting distributions, unmet requirements or foreign binaries", facts=keep)
    return fail(problems[0][0] + ("" if len(problems) == 1 else " (and %d more)" % (len(problems) - 1)),
                problems[0][1], details=[p for p, _ in problems[1:]], facts=keep)


def _keras(tf_version: str, versions: dict[str, Any], env: dict[str, str],
           repair: str) -> list[tuple[str, str | None]]:
    """TensorFlow 2.16+ needs Keras 3; 2.13-2.15 need Keras 2 of the same minor; tf-keras follows TensorFlow."""
    out: list[tuple[str, str | None]] = []
    tf_minor = _minor(tf_version)
    keras = versions.get("keras")
    if keras and tf_minor >= (2, 16) and Version(keras).major < 3:
        out.append(("Keras %s with TensorFlow %s, which needs Keras 3" % (keras, tf_version),
                    repair))
    if keras and (2, 13) <= tf_minor < (2, 16) and _minor(keras) != tf_minor:
        out.append(("Keras %s with TensorFlow %s, which needs Keras %d.%d" % ((keras, tf_version) + tf_minor),
                    repair))
    tf_keras = versions.get("tf-keras")
    if tf_keras and _minor(tf_keras) != tf_minor:
        out.append(("tf-keras %s does not match TensorFlow %s" % (tf_keras, tf_version),
                    repair))
    legacy = env.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes")
    if legacy and not tf_keras:
        out.append(("TF_USE_LEGACY_KERAS is set but tf-keras is not installed: tf.keras will fail to import "
                    "(unset it, or add tf-keras~=%d.%d.0 to your project)" % tf_minor,
                    None))  # not setup's to change: unset TF_USE_LEGACY_KERAS, or add tf-keras to your project
    return out


def _plugin_conflicts(facts: Facts, versions: dict[str, Any], k: Knowledge) -> list[tuple[str, str]]:
    """Two Metal plugins in one environment: both write tensorflow-plugins/libmetal_plugin.dylib, so one
    overwrote the other. The fix rebuilds the environment with one pair (setup installs only one)."""
    for plugin in k.matrix.plugins:
        both = [n for n in (plugin.name, *plugin.conflicts) if versions.get(n)]
        if len(both) > 1:
            listed = " and ".join("%s %s" % (n, versions[n]) for n in both)
            default = k.metal_target()
            others = [t.tensorflow_pin[1] for t in k.matrix.targets_for("metal", platforms.MAC_GPU) if t is not default]
            why = "keeps only %s" % (default.label if default else "one plugin") + "".join(
                "; or --tensorflow %s for %s" % (v, k.matrix.target("metal", platforms.MAC_GPU, v).label)  # type: ignore[union-attr]
                for v in others)
            pair = ["--tensorflow", default.tensorflow_pin[1]] if default else []  # named: setup keeps the env's own
            return [("%s are both installed: each installs tensorflow-plugins/%s, so one overwrote the other"
                     % (listed, plugin.library), fixes.repair(facts, "--force", *pair, why=why))]
    return []
