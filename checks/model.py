"""The result model: what every check returns and every renderer reads."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from checks.facts import Facts
    from checks.knowledge import Knowledge


class Status(str, enum.Enum):
    """Outcome of one check; ``fail`` is the only one that fails a run (``warn`` too with --strict)."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


MARKS = {Status.PASS: "[✓]", Status.WARN: "[!]", Status.FAIL: "[✗]", Status.SKIP: "[-]"}


@dataclass(frozen=True)
class Result:
    """One check's verdict: a one-line summary, details, a fix when not passing, and its facts."""

    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    fix: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # a skip's reason shared with other checks (a gate's): the report says it once


@dataclass(frozen=True)
class Options:
    """What the user asked of a verify run."""

    profile: str = "cpu"
    require_gpu: bool = False
    min_speedup: float = 1.5
    strict: bool = False
    min_train_speedup: float | None = None  # None: a GPU training step slower than the CPU's only warns


@dataclass(frozen=True)
class Check:
    """A registry entry: an id (``family.name``), a title and a pure rule over facts, options and knowledge."""

    id: str
    title: str
    rule: Callable[[Facts, Options, Knowledge], Result]
    needs: tuple[str, ...] = ("environment",)  # gates (checks.registry.GATES) that must open before the rule runs
    backend_title: str | None = None  # the title where Keras runs on another framework ({framework}: its name)

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass(frozen=True)
class Outcome:
    """A check paired with its result, as the renderers take them."""

    check: Check
    result: Result
    seconds: float = 0.0  # how long the rule took (JUnit testcase time)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self.result)
        data["status"] = self.result.status.value
        return {"id": self.check.id, "family": self.check.family, "title": self.check.title, **data}


def pass_(summary: str, **kw: Any) -> Result:
    return Result(Status.PASS, summary, **kw)


def warn(summary: str, fix: str | None = None, **kw: Any) -> Result:
    return Result(Status.WARN, summary, fix=fix, **kw)


def fail(summary: str, fix: str | None, **kw: Any) -> Result:
    return Result(Status.FAIL, summary, fix=fix, **kw)


def skip(summary: str, reason: str | None = None, **kw: Any) -> Result:
    return Result(Status.SKIP, summary, reason=reason, **kw)
