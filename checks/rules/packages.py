"""Packages: the installed TensorFlow and tensorflow-metal against the matrix."""

from __future__ import annotations

from typing import Any

from checks import matrix
from checks.model import Options, Result, fail, pass_, skip, warn
from checks.rules.common import no_metal_reason

TF_DISTS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel")


def _installed_tf(versions: dict[str, Any]) -> dict[str, str]:
    return {d: versions[d] for d in TF_DISTS if versions.get(d)}


def tensorflow(facts: dict[str, Any], options: Options) -> Result:
    versions = facts["packages"]["versions"]
    platform = facts["system"]["platform"]
    target = matrix.default().target(options.profile, platform)
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


def metal(facts: dict[str, Any], options: Options) -> Result:
    versions = facts["packages"]["versions"]
    plugin = facts["packages"].get("metal_plugin")
    installed_metal = versions.get("tensorflow-metal")
    keep = {"tensorflow-metal": installed_metal, "plugin": plugin}
    if options.profile != "metal":
        if installed_metal:
            return warn("tensorflow-metal %s is installed, but the cpu profile does not use it" % installed_metal,
                        "python -m pip uninstall tensorflow-metal", facts=keep)
        return skip(no_metal_reason(facts, options.profile) or "cpu profile", facts=keep)
    target = matrix.default().target("metal", facts["system"]["platform"])
    want = "tensorflow==%s tensorflow-metal==%s" % (target.pin("tensorflow"), target.pin("tensorflow-metal")) \
        if target else "invoke setup --profile metal"
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
    pair = matrix.default().pair(tf_version, installed_metal)
    label = "TensorFlow %s + tensorflow-metal %s" % (tf_version, installed_metal)
    if pair is None:
        return warn("%s: no record of this pair in the matrix" % label,
                    "python -m pip install %s   (a verified pair)" % want, facts=keep)
    keep.update({"pair_status": pair.status, "source": pair.source})
    if pair.status == "broken":
        return fail("%s is known broken (%s): %s" % (label, pair.phase or "import", pair.error),
                    "python -m pip install %s" % want, details=["source: " + pair.source], facts=keep)
    if pair.status != "verified":
        return warn("%s: %s, not verified by a user report" % (label, pair.status),
                    "python -m pip install %s   (a verified pair)" % want, details=["source: " + pair.source],
                    facts=keep)
    return pass_("%s: a verified pair" % label, details=["source: " + pair.source], facts=keep)
