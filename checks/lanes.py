"""What exists for a TensorFlow that no target of the matrix pins (`invoke setup --tensorflow V`), from the facts.

Setup cannot install such a TensorFlow: no lock pins it. Instead of only saying so, this answers from what the
wheels and the plugins' files say (``Knowledge``: the fingerprints, the kernel C API exports, the sdist
declarations): which Pythons have macOS arm64 wheels, which plugin can load, whether the kernel C API is exported,
and what does not exist yet (a plugin release that declares it, a pair, a lock). Pure: no I/O.
"""

from __future__ import annotations

from packaging.version import Version

from checks import abi, fixes
from checks.errors import UsageError
from checks.knowledge import Knowledge, judge_pair


def plugin_facts(k: Knowledge, tensorflow: str) -> tuple[list[str], list[str]]:
    """(what can load, what cannot) for each matrix plugin's newest recorded release."""
    can, cannot = [], []
    for plugin in k.matrix.plugins:
        releases = set(k.fingerprints.get(plugin.name, {})) | set(k.declared.get(plugin.name, {}))
        if not releases:
            continue
        newest = max(releases, key=Version)
        j = judge_pair(k, tensorflow, newest, plugin.name)
        record = k.declaration(plugin.name, newest)
        if j.verdict == "broken":
            cannot.append("%s %s (%s)" % (plugin.name, newest, j.error or j.reason))
        elif j.static is not None:
            can.append("%s %s loads (static check of the wheels; no report)" % (plugin.name, newest))
        elif record is not None:
            can.append("%s %s declares tensorflow%s (%s)" % (plugin.name, newest, record.get("tensorflow"),
                                                             "a predicted pair of envs/matrix.json, no report"
                                                             if j.verdict == "predicted" else "no report"))
    return can, cannot


def check(k: Knowledge, profile: str, tensorflow: str, fix: str) -> None:
    """For a TensorFlow that no pair of the matrix covers (a release newer than those known, such as 2.22), raise
    the answer of ``unpinned`` instead of a bare "not pinned", with ``fix`` (the command again, with a TensorFlow
    this platform pins: the one line that gets an environment); for any other, return."""
    if profile == "cpu" or any(p.tensorflow.contains(tensorflow, prereleases=True) for p in k.matrix.pairs
                               if p.status != "predicted"):
        return
    pins = sorted({t.tensorflow_pin[1] for t in k.matrix.tensorflow_targets if profile in ("auto", t.profile)},
                  key=Version)
    raise unpinned(k, tensorflow, pins, fix)


def unpinned(k: Knowledge, tensorflow: str, pins: list[str], fix: str) -> UsageError:
    """The error for a TensorFlow no target pins: what exists for it today and what does not yet. Its one fix is
    ``fix`` (a pinned TensorFlow); reading the wheel and new releases are named in the text: neither heals."""
    plain = "TensorFlow %s is not pinned in envs/matrix.json (pinned: %s)" % (tensorflow, ", ".join(pins))
    fp = abi.fingerprint_for(tensorflow, k.fingerprints)
    if fp is None:
        return UsageError(plain + "; nothing is recorded of it for macOS arm64 yet (`%s` reads its wheel once the "
                          "package index lists one)" % fixes.command("abi", "--tensorflow", tensorflow), fix=fix)
    exists = []
    pythons = fp.get("pythons")
    exists.append("macOS arm64 wheels for CPython %s" % ", ".join(pythons) if pythons else
                  "a macOS arm64 wheel (%s)" % fp["wheel"])
    api = k.kernel_c_api(tensorflow)
    if api is not None:
        exists.append("the kernel C API for resource variables: %s" % (
            "all %d functions exported" % len(api.declared) if api.complete else
            "%d of %d exported" % (len(api.declared) - len(api.missing), len(api.declared))))
    can, cannot = plugin_facts(k, tensorflow)
    exists += ["can load: %s" % "; ".join(can) if can else "no plugin that can load"]
    missing = ["a plugin release that declares TensorFlow %s" % ".".join(map(str, Version(tensorflow).release[:2]))
               ] if not any("declares" in c for c in can) else []
    predicted = any(p.status == "predicted" and p.tensorflow.contains(tensorflow, prereleases=True)
                    for p in k.matrix.pairs)
    missing += ["a target and its locks in envs/matrix.json" if predicted else "a pair or a lock in envs/matrix.json",
                "a user report"]
    message = ("%s. What exists for it today: %s. Cannot load: %s. Not yet: %s (the details from the wheels: `%s`; "
               "new releases, where a plugin that declares it becomes a predicted pair: `%s`)") % (
        plain, "; ".join(exists), "; ".join(cannot) or "-", ", ".join(missing),
        fixes.command("abi", "--tensorflow", tensorflow), fixes.command("refresh"))
    return UsageError(message, fix=fix)
