"""TensorFlow itself: did the child import it, and which GPUs does it list?"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from checks import clashes, fixes, settings
from checks.diagnose import Machine
from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Result, Status, fail, pass_, skip, warn
from checks.rules.common import (
    NOT_RECORDED,
    explained,
    gpu_gate,
    gpu_platform,
    not_known,
    recorded,
    tf_imported,
    vm_advisory,
)

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
    return explained(result, _stderr_text(proc), k, facts, options, quoted=IMPORT_FAILED)


def _imported(facts: Facts) -> Result:
    tf = facts.get("tensorflow") or {}
    proc = tf.get("process") or {}
    keep = {"stage": tf.get("stage"), "returncode": proc.get("returncode"), "signal": proc.get("signal"),
            "timed_out": proc.get("timed_out")}
    if tf_imported(facts):
        info = tf["tensorflow"]
        died = died_after_import(facts, "TensorFlow", tf)
        if died is not None:
            return Result(died.status, died.summary, ["TensorFlow %s imported in %.1f s, before the probe stopped" % (
                info["version"], info["import_s"])] + died.details, died.fix,
                {**died.facts, "version": info["version"], "import_s": info["import_s"]})
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


def larger_timeout(limit: float | None) -> float:
    """The ``--timeout`` to try after the child hit ``limit``: twice it, and never below the default."""
    default = settings.DEFAULTS["timeout"] or 300.0
    return max(default, 2 * limit) if limit else 2 * default


def died_after_import(facts: Facts, label: str, child_facts: Mapping[str, Any]) -> Result | None:
    """The child imported its framework but did not reach stage ``done``: it died from a signal, hit ``--timeout``
    or exited non-zero during a later stage (the stage it saved last). None where it finished, or ended cleanly."""
    stage = child_facts.get("stage")
    proc = child_facts.get("process") or {}
    if stage == "done" or child_facts.get("not_recorded"):
        return None
    keep = {"stage": stage, "returncode": proc.get("returncode"), "signal": proc.get("signal"),
            "timed_out": proc.get("timed_out")}
    tail = _stderr_tail(proc)
    env = fixes.env_of(facts)
    if proc.get("timed_out"):
        limit = child_facts.get("timeout_s")
        return fail("the %s probe hit its time limit%s during stage %s" % (
            label, " (--timeout %g s)" % limit if limit else "", stage),
            fixes.command("verify", "--timeout", "%g" % larger_timeout(limit), env=env,
                          why="a larger time limit; a real hang stops at the same stage again"),
            details=tail, facts={**keep, "timeout_s": limit})
    if proc.get("signal"):
        how = "died from %s" % proc["signal"]
    elif proc.get("returncode") not in (None, 0):
        how = "exited with code %s" % proc["returncode"]
    else:
        return None
    return fail("the %s probe %s during stage %s" % (label, how, stage),
                fixes.command("report", "--out", "probe-crash", env=env,
                              why="a bundle for a bug report: it holds the probe's stderr"),
                details=tail, facts=keep)


def _timed_out(facts: Facts, tail: list[str], keep: dict[str, Any]) -> Result:
    """The child hit ``--timeout`` before TensorFlow imported: a larger limit is the command to try; a real hang
    shows again under it."""
    limit = (facts.get("tensorflow") or {}).get("timeout_s")
    larger = larger_timeout(limit)
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
        return _no_device(facts, keep)
    what = "%d GPU(s): %s (%s%s)" % (len(listed), ", ".join(listed), gpu_platform(facts), "".join(
        ", from %s" % os.path.basename(p) for p in plugins))
    expected = [d for d in found if any(d.id in p.expected for p in k.matrix.plugins)]
    if expected:  # a known limit of this pair, explained: a warning, not a failure
        return warn("%s; expected limit of this pair: %s [%s]" % (what, expected[0].cause, expected[0].id),
                    details=["what helps: " + expected[0].fix] + _loaded(plugins),
                    facts={**keep, "diagnoses": [d.to_json() for d in expected]})
    if vm_advisory(facts):
        return pass_("%s, in a macOS VM (%s)" % (what, _vm_gpu(facts)),
                     details=["what TensorFlow names the paravirtual device is shown as it listed it; its correctness "
                              "is judged by the GPU checks, its speed is not gated"]
                     + not_known(facts, "gpus", "gpu_details") + _loaded(plugins), facts=keep)
    return pass_(what, details=_loaded(plugins), facts=keep)


def _loaded(plugins: list[str]) -> list[str]:
    """A detail line naming the plugin libraries TensorFlow loaded at import, where there are any."""
    return ["GPU plugin libraries loaded at import: " + ", ".join(plugins)] if plugins else []


# Names a sandbox sets in the processes it starts (recorded by checks.probes.packages.ENV_VARS): Codex's Seatbelt
# sandbox sets CODEX_SANDBOX=seatbelt; an App Sandbox container sets APP_SANDBOX_CONTAINER_ID.
SANDBOX_VARS = ("CODEX_SANDBOX", "APP_SANDBOX_CONTAINER_ID")
SANDBOXED = ("a Seatbelt sandbox that denies IOKit's GPU user client (AGXDeviceUserClient) leaves Metal with no device "
             "at all (openai/codex#17644)")


def _vm_gpu(facts: Facts) -> str:
    s = facts["system"]
    gpu = s.get("gpu") or {}
    return "%s, GPU %s" % (s.get("model") or "kern.hv_vmm_present = 1",
                           gpu.get("name") or "not reported by system_profiler")


def _no_device(facts: Facts, keep: dict[str, Any]) -> Result:
    """No GPU listed where a Metal plugin is loaded: in a VM, say so; on a bare-metal Apple Silicon Mac, the process
    looks sandboxed (the hardware has a GPU that the process cannot see); else the plugin registered nothing."""
    s = facts["system"]
    reinstall = fixes.repair(facts, "--force", why="reinstalls the pinned pair")
    if vm_advisory(facts):
        return fail("TensorFlow lists no GPU in this macOS VM (%s): the Metal plugin registered no device on the "
                    "paravirtual GPU" % _vm_gpu(facts),
                    fixes.repair(facts, "--profile", "cpu", "--force", why="a VM runner whose GPU TensorFlow cannot "
                                 "use: the cpu profile checks the rest"),
                    details=["some Metal calls are missing on the paravirtual device (godot#101773, "
                             "ml-explore/mlx#31); run the GPU checks on a bare-metal Apple Silicon Mac"]
                    + not_known(facts, "gpus"),
                    facts={**keep, "vm": True})
    if s["os"] == "macos" and s.get("hardware_arch") == "arm64" and not s.get("translated") and s.get("vm") is False:
        env = ((facts.get("packages") or {}).get("env") or {})
        hints = ["%s=%s is set" % (v, env[v]) for v in SANDBOX_VARS if v in env]
        return fail("TensorFlow lists no GPU: the Metal plugin did not register a device, though this bare-metal "
                    "Apple Silicon Mac (%s) has a GPU: the process looks sandboxed%s" % (
            s.get("cpu_brand") or (s.get("gpu") or {}).get("name") or "Apple Silicon",
            " (%s)" % "; ".join(hints) if hints else ""),
            fixes.command("verify", env=fixes.env_of(facts), why="from a Terminal or ssh session outside the sandbox "
                          "(not under sandbox-exec or an agent's sandboxed shell)"), details=[
                SANDBOXED,
                "a rebuild cannot give a sandboxed process a GPU; if it lists no GPU outside the sandbox either, "
                "the plugin is broken: %s" % reinstall]
            + not_known(facts, "gpus"),
            facts={**keep, "sandboxed": True, "sandbox_hints": hints})
    return fail("TensorFlow lists no GPU: the Metal plugin did not register a device", reinstall, facts=keep)


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


ORDER_WORDS = {"after": "imported after TensorFlow", "before": "imported before TensorFlow"}


def _how(proc: dict[str, Any]) -> str:
    if proc.get("timed_out"):
        return "hangs (%s)" % (proc.get("error") or "killed at the timeout")
    if proc.get("signal"):
        return "aborts the process (%s)" % proc["signal"]
    if proc.get("returncode") is None:
        return "could not run (%s)" % (proc.get("error") or "no exit status")
    return "ends the process with exit code %s" % proc.get("returncode")


def project_imports(facts: Facts, options: Options, k: Knowledge) -> Result:
    """The project's packages imported beside TensorFlow, after it and before it, each order in its own process."""
    if not recorded(facts, "tensorflow"):
        return skip(NOT_RECORDED)
    pi = (facts.get("tensorflow") or {}).get("project_imports")
    if pi is None:
        return skip("no project requirements (setup's marker records none: invoke setup --requirements FILE)")
    dists = pi.get("distributions") or {}
    owner = {m: d for d, info in dists.items() for m in info["modules"]}
    keep = {"distributions": dists, "timeout_s": pi.get("timeout_s")}
    if pi.get("not_run"):
        return skip("%s: the project's packages were not tried" % pi["not_run"], facts=keep)
    if not owner:
        return skip("none of the project's requirements is installed with an importable module", facts=keep)
    orders = pi.get("orders") or {}
    culprits = []  # (module, order, child) of each child that stopped in a module's import
    for order in ("after", "before"):
        child = orders.get(order) or {}
        if not child or child.get("ok"):
            continue
        stopped = child.get("stopped_at")
        if stopped in owner:
            culprits.append((stopped, order, child))
        elif order == "before":  # stopped in TensorFlow's import: the modules tried alone say which
            alone = next((a for a in pi.get("alone") or [] if not a.get("ok")), None)
            if alone:
                culprits.append((alone["modules"][0], order, alone))
            elif stopped == "tensorflow":
                culprits.append(("?", order, child))
    errors = {m: e for o in orders.values() for m, e in (o.get("errors") or {}).items() if m in owner}
    if not culprits and not errors:
        return pass_("%d module(s) of %d project distribution(s) import after and before TensorFlow: %s" % (
            len(owner), len(dists), ", ".join(sorted(owner))), facts=keep)
    if not culprits:
        module, error = sorted(errors.items())[0]
        return fail("%s (%s %s) raises when imported beside TensorFlow: %s" % (
            module, owner[module], dists[owner[module]]["version"], error), None,
            details=["the module's own error; the same import without TensorFlow tells whether TensorFlow is the "
                     "cause"], facts={**keep, "errors": errors})
    module, order, child = culprits[0]
    proc = child.get("process") or {}
    if module == "?":
        summary = "TensorFlow %s after the project's modules (%s); none of them alone did it" % (
            _how(proc), ", ".join(sorted(owner)))
    else:
        dist = owner[module]
        summary = "%s (%s %s) %s when %s" % (module, dist, dists[dist]["version"], _how(proc), ORDER_WORDS[order])
    known = [c for c in clashes.for_package(owner.get(module, ""))]
    details = ["known clash: %s; fits: %s (%s)" % (c.effect, c.fits, ", ".join(c.sources)) for c in known]
    details += _stderr_tail(proc)[-6:]
    details.append("each order ran in its own process (faulthandler on, killed with its children after %.0f s); "
                   "the other packages: %s" % (pi.get("timeout_s") or 0, ", ".join(sorted(set(owner) - {module}))
                                               or "none"))
    return explained(fail(summary, None, details=details,
                          facts={**keep, "culprit": module, "order": order, "process": {
                              k2: proc.get(k2) for k2 in ("returncode", "signal", "timed_out", "error")}}),
                     _stderr_text(proc), k, facts, options)


def _stderr_text(proc: Mapping[str, Any]) -> str:
    """A child's stderr for the signatures, with SIGILL named when the kernel killed it with that signal."""
    return (proc.get("stderr") or "") + ("\nSIGILL" if proc.get("signal") == "SIGILL" else "")
