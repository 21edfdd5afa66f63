"""TensorFlow itself: did the child import it, and which GPUs does it list?"""

from __future__ import annotations

import os
from typing import Any

from checks import fixes, settings
from checks.diagnose import Machine, errors
from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Result, Status, fail, pass_, skip, warn
from checks.rules.common import NOT_RECORDED, gpu_gate, gpu_platform, recorded, tf_imported

STDERR_LINES = 12
IMPORT_FAILED = "`import tensorflow` failed: "


FATAL = "Fatal Python error: "  # faulthandler's dump (the child runs with -X faulthandler)
FRAMES = 4


def _stderr_tail(process: dict[str, Any]) -> list[str]:
    """The last lines of the child's stderr; for a crash faulthandler dumped, the lines before its dump (the last
    thing the process said), the error and the innermost frames, not the module list that ends the dump."""
    lines = [ln for ln in (process.get("stderr") or "").splitlines() if ln.strip()]
    fatal = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith(FATAL)), None)
    if fatal is None:
        return lines[-STDERR_LINES:]
    frames = [ln for ln in lines[fatal + 1:] if ln.lstrip().startswith("File ")][:FRAMES]
    return lines[max(0, fatal - (STDERR_LINES - 1 - len(frames))):fatal + 1] + frames


def _where(process: dict[str, Any]) -> str:
    """Where TensorFlow's import stopped, when faulthandler's innermost frame says: in its GPU plugin loader."""
    tail = _stderr_tail(process)
    frame = next((ln for ln in tail if ln.lstrip().startswith("File ")), "")
    return ", in its GPU plugin loader (%s)" % frame.rsplit(" in ", 1)[-1] if "load_library.py" in frame else ""


def _explained(result: Result, stderr: str, k: Knowledge, machine: Machine, env: str) -> Result:
    """Run the child's stderr through the known error signatures: their cause and fix (fitted to this
    machine) lead; harmless log lines are left out."""
    found = errors(k.diagnose(stderr, machine, env))
    if not found:
        return result
    d = found[0]
    details = (["cause: " + d.cause, "what helps: " + d.fix] + ["also: [%s] %s" % (x.id, x.cause) for x in found[1:]]
               + result.details)
    facts = {**result.facts, "diagnoses": [x.to_json() for x in found]}
    summary = result.summary
    if summary.startswith(IMPORT_FAILED):  # quote the recognised error, not whatever line came last
        summary = IMPORT_FAILED + d.evidence[:300]
    return Result(result.status, summary + " [%s]" % d.id, details, result.fix, facts)


def imported(facts: Facts, options: Options, k: Knowledge) -> Result:
    if not recorded(facts, "tensorflow"):
        return skip(NOT_RECORDED)
    result = _imported(facts)
    if result.status != Status.FAIL:
        return result
    plugins = (facts.get("tensorflow") or {}).get("plugins")
    if plugins:  # the import loads them: a crash or hang there may be theirs
        result = Result(result.status, result.summary, result.details + [
            "GPU plugin libraries loaded at import: %s (to tell whether one of them is the cause, move it out of "
            "tensorflow-plugins/ or unset TF_PLUGGABLE_DEVICE_LIBRARY_PATH, and import again)" % ", ".join(plugins)],
            result.fix, {**result.facts, "plugins": plugins})
    proc = (facts.get("tensorflow") or {}).get("process") or {}
    stderr = (proc.get("stderr") or "") + ("\nSIGILL" if proc.get("signal") == "SIGILL" else "")
    return _explained(result, stderr, k, Machine.from_facts(facts, options.profile), fixes.env_of(facts))


def _imported(facts: Facts) -> Result:
    tf = facts.get("tensorflow") or {}
    proc = tf.get("process") or {}
    keep = {"stage": tf.get("stage"), "returncode": proc.get("returncode"), "signal": proc.get("signal"),
            "timed_out": proc.get("timed_out")}
    if tf_imported(facts):
        info = tf["tensorflow"]
        return pass_("TensorFlow %s imported in %.1f s" % (info["version"], info["import_s"]),
                     facts={**keep, "version": info["version"], "import_s": info["import_s"]})
    tail = _stderr_tail(proc)
    if proc.get("timed_out"):
        return _timed_out(facts, tail, keep)
    if proc.get("signal"):
        return fail("the TensorFlow child died from %s while importing TensorFlow%s" % (proc["signal"], _where(proc)),
                    fixes.repair(facts, "--force", why="reinstalls the hash-locked set"), details=tail, facts=keep)
    if proc.get("error") and proc.get("returncode") is None:
        return fail("the TensorFlow child could not start: %s" % proc["error"],
                    fixes.repair(facts, "--force", why="rebuilds the environment"),
                    facts=keep)
    last = tail[-1] if tail else "exit code %s" % proc.get("returncode")
    return fail(IMPORT_FAILED + last,
                fixes.repair(facts, "--force", why="reinstalls every file of the hash-locked set"),
                details=tail, facts=keep)


def _timed_out(facts: Facts, tail: list[str], keep: dict[str, Any]) -> Result:
    """The child hit ``--timeout`` before TensorFlow imported: a larger limit is the command to try; a real hang
    shows again under it."""
    limit = (facts.get("tensorflow") or {}).get("timeout_s")
    default = settings.DEFAULTS["timeout"] or 300.0
    larger = max(default, 2 * limit) if limit else 2 * default
    return fail("the TensorFlow probe hit its time limit%s while importing TensorFlow" % (
        " of %g s (--timeout)" % limit if limit else ""),
        fixes.command("verify", "--timeout", "%g" % larger, env=fixes.env_of(facts),
                      why="a larger time limit; if the import still does not finish, run python -X faulthandler "
                          "-c 'import tensorflow' in the env to see where it stops"),
        details=tail, facts={**keep, "timeout_s": limit})


def gpus(facts: Facts, options: Options, k: Knowledge) -> Result:
    info = (facts.get("tensorflow") or {}).get("tensorflow") or {}
    listed = info.get("gpus")
    plugins: list[str] = (facts.get("tensorflow") or {}).get("plugins") or []
    keep = {"gpus": listed, "details": info.get("gpu_details"), "plugins": plugins}
    stderr = (((facts.get("tensorflow") or {}).get("process") or {}).get("stderr") or "")
    found = k.diagnose(stderr, Machine.from_facts(facts, options.profile), fixes.env_of(facts)) \
        if stderr and tf_imported(facts) else []
    decline = next((d for d in found if any(d.id in p.declines for p in k.matrix.plugins)), None)
    if decline is not None and not listed:  # a plugin is there and said why it offers no device: on any machine
        return fail("TensorFlow lists no GPU: the Metal plugin declined: %s [%s]" % (decline.evidence[:200],
                                                                                   decline.id),
                    _decline_fix(facts, decline.id, k), details=["cause: " + decline.cause,
                                                                "what helps: " + decline.fix] + _loaded(plugins),
                    facts={**keep, "diagnoses": [decline.to_json()]})
    gate = gpu_gate(facts, options, "no Metal GPU here")
    if gate:
        return skip(gate.summary, gate.reason, facts=keep) if gate.status == Status.SKIP else gate
    if not tf_imported(facts):
        return skip("TensorFlow did not import" if recorded(facts, "tensorflow") else NOT_RECORDED)
    if not listed:
        return fail("TensorFlow lists no GPU: the Metal plugin did not register a device",
                    fixes.repair(facts, "--force", why="reinstalls the pinned pair"),
                    details=_loaded(plugins), facts=keep)
    what = "%d GPU(s): %s (%s%s)" % (len(listed), ", ".join(listed), gpu_platform(facts), "".join(
        ", from %s" % os.path.basename(p) for p in plugins))
    expected = [d for d in found if any(d.id in p.expected for p in k.matrix.plugins)]
    if expected:  # a known limit of this pair, explained: a warning, not a failure
        return warn("%s; expected limit of this pair: %s [%s]" % (what, expected[0].cause, expected[0].id),
                    details=["what helps: " + expected[0].fix] + _loaded(plugins),
                    facts={**keep, "diagnoses": [d.to_json() for d in expected]})
    return pass_(what, details=_loaded(plugins), facts=keep)


def _loaded(plugins: list[str]) -> list[str]:
    """A detail line naming the plugin libraries TensorFlow loaded at import, where there are any."""
    return ["GPU plugin libraries loaded at import: " + ", ".join(plugins)] if plugins else []


REBUILD = "metal-plugin-other-tensorflow"  # built against another TensorFlow: rebuild it against this one


def _decline_fix(facts: Facts, diagnosis: str, k: Knowledge) -> str | None:
    """The rebuild through setup (TensorFlow from its lock first, then the plugin's sdist without build isolation);
    None where no setup command helps (``TF_DISABLE_METAL`` is the user's: the diagnosis says so, as `what helps`)."""
    here = (facts.get("system") or {}).get("platform")
    target = next((t for t in k.matrix.targets if t.plugin and t.plugin.two_step and t.platform == here), None)
    if diagnosis != REBUILD or target is None:  # e.g. a Metal plugin's text off a Mac: no setup of ours rebuilds it
        return None
    return fixes.repair(facts, "--force", "--tensorflow", target.tensorflow_pin[1],
                     why="rebuilds %s against TensorFlow %s" % (target.plugin.name if target.plugin else "the plugin",
                                                                target.tensorflow_pin[1]))
