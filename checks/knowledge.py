"""The knowledge core: the matrix, plugins, ABI fingerprints, kernel C API exports, chips, error signatures
and the training family's heavy ops and host reasons, loaded once.

``load()`` reads every knowledge file (the matrix from ``$TFM_MATRIX`` when set) into one ``Knowledge``
value; rules receive it next to the options and do no I/O. ``judge_pair`` is the one place a
TensorFlow / plugin pair is judged: setup, the checks, ``invoke matrix`` and ``invoke abi`` all ask it.
Versions are compared with ``packaging.version`` only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from packaging.version import InvalidVersion, Version

from checks import abi, chips, diagnose, kernel_api, platforms
from checks.chips import Chip
from checks.matrix import DEFAULT_PLUGIN, Matrix, MatrixError, Pair, Target
from checks.matrix import load as load_matrix
from checks.paths import MATRIX_PATH, ROOT

VERDICTS = ("verified", "apple-claim", "unconfirmed", "predicted", "broken", "unknown")
DECLARED = "its declared requirements"
STATIC = "static check of the wheels"
TRAINING_PATH = ROOT / "envs" / "training.json"


class TrainingKnowledge(NamedTuple):
    """``envs/training.json``: which ops a GPU training step must run on the GPU, and why one may not."""

    heavy_ops: Mapping[str, tuple[str, ...]]  # kind -> op-type marks
    host_reasons: tuple[Mapping[str, Any], ...]  # {kind, tensorflow_from, reason, source}, first match wins

    def heavy_kind(self, op: str) -> str | None:
        """``matmul``, ``conv`` or ``optimizer`` for the ops a step must run on its target, else None."""
        for kind, marks in self.heavy_ops.items():
            if any(m in op for m in marks):
                return kind
        return None

    def host_reason(self, op: str, tf_version: str | None) -> str:
        """Why the heavy ``op`` may have run on the host with this TensorFlow version."""
        kind = self.heavy_kind(op)
        for row in self.host_reasons:
            since = row.get("tensorflow_from")
            if row["kind"] in (kind, "other") and (not since or _at_least(tf_version, since)):
                return str(row["reason"])
        return "no known reason"


def _at_least(version: str | None, since: str) -> bool:
    try:
        return version is not None and Version(version) >= Version(since)
    except InvalidVersion:
        return False


def load_training(path: Path = TRAINING_PATH) -> TrainingKnowledge:
    """The training table (read once, by ``load``); a malformed one is a MatrixError (exit 2, one line)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        heavy = {str(kind): tuple(str(m) for m in marks) for kind, marks in data["heavy_ops"].items()}
        reasons = tuple(data["host_reasons"])
        if not all(isinstance(r, dict) and "kind" in r and "reason" in r for r in reasons):
            raise ValueError("a host reason without kind or reason")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MatrixError("training %s: %s" % (path, exc)) from None
    return TrainingKnowledge(heavy, reasons)


@dataclass(frozen=True)
class Knowledge:
    """Everything the suite knows, as data: judged here, rendered elsewhere."""

    matrix: Matrix
    path: Path
    fingerprints: abi.Fingerprints
    chips: Mapping[str, Any]
    signatures: tuple[diagnose.Signature, ...]
    training: TrainingKnowledge
    kernel_facts: Mapping[str, Any]  # envs/kernel-c-api.json: what each TensorFlow wheel exports (checks.kernel_api)
    declared: abi.Declarations = field(default_factory=dict)  # envs/declared/: what each sdist plugin release declares

    def predict(self, tensorflow: str, version: str, plugin: str = DEFAULT_PLUGIN) -> abi.Verdict | None:
        """The static verdict of the wheels for a pair, or None when no fingerprint covers it."""
        return abi.predict(tensorflow, version, self.fingerprints, plugin)

    def declaration(self, plugin: str, version: str) -> Mapping[str, Any] | None:
        """What release ``version`` of a plugin published as an sdist declares (None: not recorded)."""
        return self.declared.get(plugin, {}).get(str(Version(version)))

    def diagnose(self, text: str, machine: diagnose.Machine | None = None,
                 env: str | None = None) -> list[diagnose.Diagnosis]:
        """The known signatures in ``text`` (errors first, harmless lines last); fixes fit ``machine`` and name
        ``env`` (default: the default environment)."""
        return diagnose.diagnose(text, self.signatures, machine, env)

    def chip(self, system: Mapping[str, Any]) -> Chip:
        return chips.identify(system, self.chips)

    def kernel_c_api(self, tensorflow: str) -> kernel_api.KernelApi | None:
        """Which kernel C API functions for resource variables TensorFlow ``tensorflow`` exports (None: unrecorded)."""
        return kernel_api.for_tensorflow(self.kernel_facts, tensorflow)

    def metal_target(self) -> Target | None:
        return self.matrix.target("metal", platforms.MAC_GPU)

    def working_pair(self) -> tuple[str, str, str] | None:
        """(TensorFlow version, plugin, plugin version) that setup installs on Apple Silicon."""
        target = self.metal_target()
        plugin = target.plugin_pin(self.matrix.plugin_names) if target else None
        if target is None or plugin is None:
            return None
        return target.tensorflow_pin[1], plugin[0], plugin[1]

    def alternative(self) -> str | None:
        """The working pair as requirements: ``tensorflow==2.19.1 tensorflow-metal==1.2.0``."""
        pair = self.working_pair()
        return "tensorflow==%s %s==%s" % pair if pair else None


def matrix_path(environ: Mapping[str, str] = os.environ) -> Path:
    """``$TFM_MATRIX`` (a team's own matrix; its locks beside it) or the repository's."""
    return Path(environ.get("TFM_MATRIX") or MATRIX_PATH)


def load(environ: Mapping[str, str] = os.environ) -> Knowledge:
    """Read every knowledge file once; a malformed one raises ``MatrixError`` (exit 2, one line)."""
    path = matrix_path(environ)
    m, signatures = load_matrix(path), diagnose.load_signatures()
    known = {s.id for s in signatures}
    for plugin in m.plugins:
        unknown = [i for i in plugin.declines + plugin.expected if i not in known]
        if unknown:
            raise MatrixError("matrix %s: plugin %s names diagnoses that envs/diagnoses.json lacks: %s"
                              % (path, plugin.name, ", ".join(unknown)))
    return Knowledge(m, path, abi.load_fingerprints(), chips.load_table(), signatures, load_training(),
                     kernel_api.load_facts(), abi.load_declared())


class Judgement(NamedTuple):
    """What is known of one TensorFlow / plugin pair, from user reports and the static check of the wheels.

    ``verdict`` is one of VERDICTS; ``reason`` reads after the pair's name ("is known broken (import: ...)");
    ``error`` is the error users see, for a broken pair; ``alternative`` is a working pair to install.
    """

    tensorflow: str
    plugin: str
    version: str
    verdict: str
    reason: str
    source: str
    error: str | None = None
    phase: str | None = None
    alternative: str | None = None
    static: abi.Verdict | None = None
    reported: Pair | None = None

    @property
    def label(self) -> str:
        return "TensorFlow %s + %s %s" % (self.tensorflow, self.plugin, self.version)

    @property
    def reported_import(self) -> str | None:
        """What the user report says of the import: 'loads', the error it names, or None (no report)."""
        p = self.reported
        if p is None:
            return None
        if p.status == "verified" or (p.status == "broken" and p.phase == "run"):
            return "loads"
        return p.error if p.status == "broken" else None

    @property
    def agrees(self) -> bool | None:
        """Do the static verdict and the user report agree on the import? None when one of them is missing."""
        expected = self.reported_import
        if self.static is None or expected is None:
            return None
        if expected == "loads":
            return self.static.loads
        return not self.static.loads and expected.lower() in (self.static.error or "").lower()


def judge_pair(k: Knowledge, tensorflow: str, version: str, plugin: str = DEFAULT_PLUGIN) -> Judgement:
    """Judge a pair: a user report of verified or broken wins; else a static "cannot load" makes it broken, and so
    does a plugin release whose declared TensorFlow (its Requires-Dist) excludes this one; else the report's status
    (apple-claim, unconfirmed, predicted) or unknown. Raises InvalidVersion for a bad version."""
    Version(tensorflow), Version(version)
    pair = k.matrix.pair(tensorflow, version, plugin)
    static = k.predict(tensorflow, version, plugin)
    declared = k.declaration(plugin, version)
    alternative = k.alternative()

    def judged(verdict: str, reason: str, source: str, error: str | None = None,
               phase: str | None = None) -> Judgement:
        return Judgement(tensorflow, plugin, version, verdict, reason, source, error, phase, alternative, static, pair)

    if pair is not None and pair.status == "broken":
        phase = pair.phase or "import"
        return judged("broken", "is known broken (%s: %s)" % (phase, pair.error), pair.source, pair.error, phase)
    if pair is not None and pair.status == "verified":
        return judged("verified", "a verified pair", pair.source)
    if static is not None and not static.loads:
        return judged("broken", "cannot load (%s: %s)" % (STATIC, static.short()),
                      STATIC + " (invoke abi --tensorflow %s --metal %s)" % (tensorflow, version), static.short(),
                      "import")
    if declared is not None and not abi.declares(dict(declared), tensorflow):
        error = "it declares tensorflow%s" % (declared.get("tensorflow") or " nowhere")
        return judged("broken", "cannot be installed with it (%s: %s)" % (DECLARED, error), declared["source"],
                      error, "install")
    if pair is not None:
        return judged(pair.status, "%s, not verified by a user report" % pair.status, pair.source)
    if static is not None:
        return judged("unknown", "no report, but the %s says it loads" % STATIC, STATIC)
    if declared is not None:
        return judged("unknown", "no report, but it declares tensorflow%s" % declared["tensorflow"],
                      declared["source"])
    return judged("unknown", "no record of this pair", "-")


def valid_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True
