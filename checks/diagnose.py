"""Explain error text with the known signatures of ``envs/diagnoses.json`` (read by ``load_signatures``)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.matrix import ROOT, MatrixError

DIAGNOSES_PATH = ROOT / "envs" / "diagnoses.json"


@dataclass(frozen=True)
class Signature:
    id: str
    patterns: tuple[re.Pattern[str], ...]
    cause: str
    fix: str
    source: str


@dataclass(frozen=True)
class Diagnosis:
    id: str
    cause: str
    fix: str
    source: str
    evidence: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_signatures(path: Path = DIAGNOSES_PATH) -> tuple[Signature, ...]:
    """The known error signatures (read once, by ``checks.knowledge.load``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(Signature(d["id"], tuple(re.compile(p, re.MULTILINE) for p in d["match"]), d["cause"],
                               d["fix"], d["source"]) for d in data["diagnoses"])
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        raise MatrixError("diagnoses %s: %s" % (path, exc)) from None


def diagnose(text: str, signatures: Sequence[Signature]) -> list[Diagnosis]:
    """Every known signature found in ``text``, in table order, with placeholders filled."""
    found = []
    for sig in signatures:
        matches = [m for m in (p.search(text) for p in sig.patterns) if m is not None]
        if len(matches) == len(sig.patterns):
            groups: dict[str, str] = {}
            for m in matches:
                groups.update({k: v for k, v in m.groupdict().items() if v})
            evidence = max((m.group(0) for m in matches), key=len)
            found.append(Diagnosis(sig.id, _fill(sig.cause, groups), _fill(sig.fix, groups), sig.source,
                                   evidence.strip()))
    return found


def _fill(template: str, groups: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: groups.get(m.group(1), "(see the message)"), template)


UNKNOWN = ("no known diagnosis for this error. Please report it with the full message, the output of "
           "`invoke verify --json out.json` (or `python -m checks --json out.json`), and how you installed "
           "TensorFlow.")


def render(found: list[Diagnosis]) -> str:
    if not found:
        return UNKNOWN
    lines = []
    for d in found:
        lines += ["[%s] %s" % (d.id, d.cause), "  fix: %s" % d.fix, "  matched: %s" % d.evidence[:200],
                  "  source: %s" % d.source]
    return "\n".join(lines)
