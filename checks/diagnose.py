"""Explain error text with the known signatures of ``envs/diagnoses.json`` (read by ``load_signatures``)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from checks import fixes
from checks.matrix import MatrixError
from checks.paths import DEFAULT_ENV, ROOT

if TYPE_CHECKING:  # a type only: setup, which loads the signatures, gathers no facts
    from checks.facts import Facts

DIAGNOSES_PATH = ROOT / "envs" / "diagnoses.json"


class Machine(NamedTuple):
    """What the caller knows of the machine (None: unknown); a signature's ``fixes`` are fitted to it."""

    os: str | None = None
    arch: str | None = None  # the interpreter's: arm64 or x86_64
    translated: bool | None = None  # an x86_64 Python under Rosetta
    profile: str | None = None

    @classmethod
    def from_facts(cls, facts: Facts, profile: str | None = None) -> Machine:
        s = facts.get("system") or {}
        return cls(s.get("os"), s.get("interpreter_arch"), s.get("translated"), profile)

    def fits(self, when: dict[str, Any]) -> bool:
        return all(getattr(self, key) == value for key, value in when.items())


@dataclass(frozen=True)
class Signature:
    """A class of errors: any pattern of ``match`` (the wordings of one cause, anchored on what stays the same:
    a signal, an op and device, an object's module) together with every pattern of ``needs`` (the context the
    cause requires, such as the plugin's file name). ``extract`` patterns only fill placeholders when found."""

    id: str
    patterns: tuple[str, ...]  # regular expressions (FLAGS), compiled when first searched: re caches them
    cause: str
    fix: str
    source: str
    harmless: bool = False
    hides: tuple[str, ...] = ()  # ids this one explains away (a consequence, not a second cause)
    known: dict[str, Any] = field(default_factory=dict)  # {"group", "values", "otherwise"} -> {known}
    fixes: tuple[tuple[dict[str, Any], str], ...] = ()  # (when, fix): the first that fits the machine
    needs: tuple[str, ...] = ()
    extract: tuple[str, ...] = ()


class Diagnosis(NamedTuple):
    id: str
    cause: str
    fix: str
    source: str
    evidence: str
    harmless: bool = False

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def load_signatures(path: Path = DIAGNOSES_PATH) -> tuple[Signature, ...]:
    """The known error signatures (read once, by ``checks.knowledge.load``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(_signature(d) for d in data["diagnoses"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MatrixError("diagnoses %s: %s" % (path, exc)) from None


FLAGS = re.MULTILINE | re.IGNORECASE


def _search(pattern: str, text: str) -> re.Match[str] | None:
    """Compiled on first use (re keeps them): every command loads the signatures, few diagnose (0.02 s for 83)."""
    return re.search(pattern, text, FLAGS)


def _signature(d: dict[str, Any]) -> Signature:
    if not d["match"]:
        raise ValueError("%s: no pattern in match" % d["id"])
    fixes = tuple((f["when"], f["fix"]) for f in d.get("fixes", ()))
    return Signature(d["id"], tuple(d["match"]), d["cause"], d["fix"], d["source"], bool(d.get("harmless")),
                     tuple(d.get("hides", ())), d.get("known", {}), fixes, tuple(d.get("needs", [])),
                     tuple(d.get("extract", [])))


def diagnose(text: str, signatures: Sequence[Signature], machine: Machine | None = None,
             env: str | os.PathLike[str] | None = None) -> list[Diagnosis]:
    """Every known signature found in ``text``: errors first (table order, so the more specific signature
    leads), then harmless lines. Placeholders are filled from the text, ``{env}`` with the environment the text
    is about (the default one when not known) as a fix line names it; with ``machine`` the fix fits it."""
    where = fixes.shown(env or DEFAULT_ENV)
    found = []
    for sig in signatures:
        matches = [m for m in (_search(p, text) for p in sig.patterns) if m is not None]
        context = [m for m in (_search(p, text) for p in sig.needs) if m is not None]
        if matches and len(context) == len(sig.needs):
            groups: dict[str, str] = {"env": where}
            for m in [m for m in (_search(p, text) for p in sig.extract) if m is not None] + context + matches:
                groups.update({k: v for k, v in m.groupdict().items() if v})
            if sig.known:
                values = sig.known["values"]
                groups["known"] = values.get(groups.get(sig.known["group"], ""), sig.known["otherwise"])
            evidence = max((m.group(0) for m in matches), key=len)
            found.append((sig, Diagnosis(sig.id, _fill(sig.cause, groups), _fill(_fix(sig, machine), groups),
                                         sig.source, evidence.strip(), sig.harmless)))
    hidden = {h for sig, _ in found for h in sig.hides}
    real = [d for _, d in found if not d.harmless and d.id not in hidden]
    return real + [d for _, d in found if d.harmless]


def errors(found: list[Diagnosis]) -> list[Diagnosis]:
    """The diagnoses of real errors, without the harmless lines."""
    return [d for d in found if not d.harmless]


def _fix(sig: Signature, machine: Machine | None) -> str:
    if machine is not None:
        return next((fix for when, fix in sig.fixes if machine.fits(when)), sig.fix)
    return sig.fix


def _fill(template: str, groups: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: groups.get(m.group(1), "(see the message)"), template)


UNKNOWN = ("no known diagnosis for this error. Please report it with the full message, the output of "
           "`.tools/bin/invoke verify --env ENV --json out.json` (or `python -m checks --json out.json` inside the "
           "environment), and how you installed "
           "TensorFlow.")
ONLY_HARMLESS = ("no error among the recognised lines: they are harmless log output. If something failed, "
                 "paste the lines around the failure (the traceback's last lines).")


def render(found: list[Diagnosis]) -> str:
    if not found:
        return UNKNOWN
    lines = [] if errors(found) else [ONLY_HARMLESS]
    for d in found:
        if d.harmless:
            lines += ["[%s] harmless: %s" % (d.id, d.cause), "  matched: %s" % d.evidence[:200],
                      "  source: %s" % d.source]
        else:
            lines += ["[%s] %s" % (d.id, d.cause), "  what helps: %s" % d.fix, "  matched: %s" % d.evidence[:200],
                      "  source: %s" % d.source]
    return "\n".join(lines)
