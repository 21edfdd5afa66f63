"""A team's project on top of the pinned pair: its requirements, hash-pinned locks beside it, conflicts refused.

Declared once for the team as ``"requirements": ["requirements.txt", ...]`` in the project's ``tfmetal.json``
(paths relative to that file; ``TFM_CONFIG`` points at it), or per run with ``invoke setup --requirements FILE``
(repeatable; it wins over the file). Setup resolves them together with the pair for every platform the team
uses (``TEAM_TARGETS`` and this machine's), for the environment's Python, and writes
``tfmetal-locks/<profile>-<platform>-py<X.Y>.txt`` in the first requirement file's directory, hash-pinned
(the same place however the files were named, so a printed fix with ``--requirements`` finds the same locks).
A lock whose recorded inputs digest still matches is not resolved again.

- Only distributions from the index: a line naming a local path or an editable install (``-e .``, ``./lib``,
  ``name @ file:...``, also in an included file) is refused (exit 2) before anything is created, as is a
  requirement file that is a directory or not UTF-8 text.
- TensorFlow and the plugin stay pinned: the base lock (``envs/locks/...``) is uv's constraint file.
- A requirement that needs another TensorFlow is refused (exit 2) before anything is built: a first
  resolution pins every TensorFlow distribution name to the pair's version; if it fails, each requirement
  is resolved with the pins alone to find the culprit, alone without them to see the TensorFlow it needs,
  and with its own version left open to find the newest version that fits.
- One TensorFlow distribution: the lock's resolution excludes the other names (uv ``--excludes``), so a
  requirement on ``tensorflow`` does not bring a second TensorFlow beside ``tensorflow-cpu`` (or the reverse);
  the first resolution has already shown that the TensorFlow it wants is the pinned one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, NamedTuple

from packaging.requirements import InvalidRequirement, Requirement

from checks import clashes, fixes, matrix, platforms, process
from checks.errors import StepFailed, UsageError
from checks.knowledge import Knowledge
from checks.lockfile import canonical, pinned, pins_in
from checks.matrix import Target
from scripts.locks import _write_atomic, inputs, uv_compile

TEAM_TARGETS = (("metal", platforms.MAC_GPU), ("cpu", "linux-x86_64"))  # the Mac metal pair and the Linux cpu profile
LOCK_DIRNAME = "tfmetal-locks"
DIGEST_LINE = "# Inputs-sha256: "


class Project(NamedTuple):
    """The team's requirement files (absolute) and the directory its locks live in."""

    files: tuple[Path, ...]
    lock_dir: Path
    source: str  # "--requirements" or the config file that declared them

    def lock_path(self, target: Target, python: str) -> Path:
        return self.lock_dir / ("%s-%s-py%s.txt" % (target.profile, target.platform, python))

    def to_json(self, lock: Path, base: Path) -> dict[str, Any]:
        return {"requirements": [str(f) for f in self.files], "source": self.source, "lock": str(lock),
                "base_lock": matrix.shown(base)}


def declared(cli: Sequence[str], config: Path) -> Project | None:
    """The project's requirements: ``--requirements`` files, else the config file's ``requirements``, else None."""
    if cli:
        files = tuple(_existing(Path(f).expanduser().absolute(), "--requirements %s" % f) for f in cli)
        return Project(files, files[0].parent / LOCK_DIRNAME, "--requirements")
    if not config.exists():
        return None
    try:
        listed = json.loads(config.read_text(encoding="utf-8")).get("requirements")
    except (OSError, ValueError, AttributeError):
        return None  # settings.load_config reports an unreadable config, with exit 2, before any task runs
    if listed is None:
        return None
    if not isinstance(listed, list) or not listed or not all(isinstance(f, str) for f in listed):
        raise UsageError("%s: \"requirements\" must be a non-empty list of requirement file paths" % config)
    base = config.absolute().parent
    files = tuple(_existing(base / f, "%s in %s" % (f, config)) for f in listed)
    return Project(files, files[0].parent / LOCK_DIRNAME, str(config))


def _existing(path: Path, label: str) -> Path:
    """A requirement file setup can lock: a readable text file whose lines (and those of the files it includes
    with ``-r``/``-c``) name no local path, or a UsageError (exit 2) before anything is created."""
    if path.is_dir():
        raise UsageError("%s is a directory, not a requirement file" % label)
    if not path.is_file():
        raise UsageError("%s: no such requirement file" % label)
    local = _local_path(path, label, set())
    if local:
        raise UsageError(local)
    return path


INCLUDE = re.compile(r"^(?:-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)")
EDITABLE = re.compile(r"^(?:-e|--editable)(?:\s+|=)(\S+)")


def _local_path(path: Path, label: str, seen: set[Path]) -> str | None:
    """Why ``path`` cannot be locked: not text, or a line that names a local path or an editable install (a
    hash-pinned lock holds only distributions from the index); None when it can."""
    seen.add(path.resolve())
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "%s is not a text requirement file (it is not UTF-8 text)" % label
    except OSError as exc:
        return "%s: cannot read it: %s" % (label, exc.strerror or exc)
    for number, line in _logical_lines(text):
        include = INCLUDE.match(line)
        if include:
            inner = path.parent / include.group(1)
            if inner.is_file() and inner.resolve() not in seen:
                why = _local_path(inner, "%s (included by %s)" % (inner, label), seen)
                if why:
                    return why
            continue
        editable = EDITABLE.match(line)
        if not line or line.startswith("#") or (line.startswith("-") and not editable):
            continue
        target = editable.group(1) if editable else line
        local = editable is not None or _names_a_path(target)
        if local:
            plain = not any(mark in target for mark in ("@", ":"))  # a path; not a URL or `name @ file:...`
            where = path.parent / target if plain else None
            return ("%s, line %d: %r is %s, which a hash-pinned lock cannot hold; remove the line and install %s "
                    "into the environment yourself after setup" % (
                        label, number, line, "an editable install" if editable else "a local path",
                        os.path.normpath(str(where)) if where is not None else "it"))
    return None


ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, line) of a requirement file: comments dropped, ``\\`` continuations joined."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #")[0].strip() if not raw.lstrip().startswith("#") else ""
        start = start or number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((start, (pending + line).strip()))
        pending, start = "", 0
    return out


def _names_a_path(target: str) -> bool:
    """True for a requirement that is a local path or a file URL (``.``, ``./lib``, ``dist/x.whl``,
    ``name @ file:///srv/x``); a name with a version, markers or ``--hash`` options, or a remote URL, is not."""
    if target.startswith("file:"):
        return True
    word = target.split()[0]
    try:
        url = Requirement(target).url
        return url.startswith("file:") if url else word.endswith(ARCHIVES)  # `x.whl` parses as a name
    except InvalidRequirement:
        pass
    if "://" in word:
        return False
    return word.startswith((".", "/", "~")) or "/" in word or "\\" in word or word.endswith(ARCHIVES)


def team_targets(k: Knowledge, here: Target, python: str) -> list[Target]:
    """This machine's target first, then the default target (the matrix's first) of each of the team's other
    profile/platform pairs whose Python range holds ``python``."""
    out, seen = [here], {(here.profile, here.platform)}
    for t in k.matrix.tensorflow_targets:
        key = (t.profile, t.platform)
        if key in TEAM_TARGETS and key not in seen and t.python.contains(python):
            out.append(t)
        seen.add(key)
    return out


def digest(project: Project, target: Target, python: str) -> str:
    """What a project lock is made from: the requirement files' text and the base lock's bytes."""
    h = hashlib.sha256(b"tfmetal-project-lock 2\n")  # 2: the matrix's common packages are inputs too
    for f in project.files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(target.lock_path(python).read_bytes())
    return h.hexdigest()


def is_fresh(lock: Path, want: str) -> bool:
    try:
        with lock.open(encoding="utf-8") as fh:
            head = [next(fh, "") for _ in range(4)]
    except OSError:
        return False
    return any(line.strip() == DIGEST_LINE + want for line in head)


def planned_locks(k: Knowledge, project: Project, here: Target, python: str) -> list[tuple[Target, Path, str, bool]]:
    """Each team target's project lock, the digest of its inputs and whether the lock is fresh (nothing resolved)."""
    out = []
    for target in team_targets(k, here, python):
        base = target.lock_path(python)
        if not base.exists():
            raise UsageError("no base lock %s for the project to build on" % matrix.shown(base),
                             fix=fixes.command("lock", why="writes every lock"))
        lock = project.lock_path(target, python)
        want = digest(project, target, python)
        out.append((target, lock, want, is_fresh(lock, want)))
    return out


def ensure_locks(k: Knowledge, project: Project, here: Target, python: str,
                 say: Callable[[str], Any] = print) -> Path:
    """Resolve every stale project lock, the platforms side by side (uv waits on the network more than on the
    CPU); write them only once all resolved, so a conflict leaves nothing behind. Returns this machine's lock."""
    stale: list[tuple[Target, Path, str]] = []
    for target, lock, want, fresh in planned_locks(k, project, here, python):
        if fresh:
            say("project lock %s is up to date" % lock)
        else:
            stale.append((target, lock, want))
    if stale:
        say("resolving %s ..." % ", ".join("%s/%s" % (t.profile, t.platform) for t, _, _ in stale))
        from concurrent.futures import ThreadPoolExecutor  # here: only a project lock to resolve needs threads

        with ThreadPoolExecutor(max_workers=len(stale)) as pool:
            futures = [pool.submit(resolve, project, t, python, k.matrix.common) for t, _, _ in stale]
            bodies = [f.result() for f in futures]  # the first failure, in target order (this machine's first)
        for (target, lock, want), body in zip(stale, bodies):
            header = ("# Made by `invoke setup` from %s on %s: %s profile, %s, Python %s. Commit it.\n%s%s\n"
                      % (", ".join(f.name for f in project.files), matrix.shown(target.lock_path(python)),
                         target.profile, target.platform, python, DIGEST_LINE, want))
            lock.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(lock, header + body)
            say("resolved %s" % lock)
    for target in team_targets(k, here, python):
        warn_clashes(project.lock_path(target, python), target.platform, say)
    return project.lock_path(here, python)


def warn_clashes(lock: Path, platform: str, say: Callable[[str], Any] = print) -> list[str]:
    """Warn about a known import clash with TensorFlow the lock pins (``envs/import-clashes.json``): the packages
    lock together but abort or hang in one process; verify's packages.project would name it."""
    try:
        pins = pinned(lock)
    except OSError:
        return []
    found = clashes.found(pins, platform)
    for line in found:
        say("warning: %s: %s" % (lock, line))
    return found


def _others(target: Target) -> list[str]:
    """The TensorFlow distribution names this target does not install."""
    mine = target.tensorflow_pin[0]
    return [d for d in target.tensorflows if d != mine]


def _pins_text(target: Target, python: str, every_tf_name: bool) -> str:
    """Constraints: the base lock's pins; with ``every_tf_name``, every TensorFlow name at the pair's version."""
    pins = pinned(target.lock_path(python))
    lines = ["%s==%s" % kv for kv in sorted(pins.items())]
    if every_tf_name:
        lines += ["%s==%s" % (d, target.tensorflow_pin[1]) for d in _others(target)]
    return "\n".join(lines) + "\n"


def resolve(project: Project, target: Target, python: str, common: Sequence[str] = ()) -> str:
    """The project lock's body for one target (the base lock's inputs, the matrix's common packages among them,
    with the project's requirements), or a UsageError (exit 2) explaining the conflict."""
    reqs = inputs(target, tuple(common))
    check, _ = uv_compile(reqs, target, python, _pins_text(target, python, True), files=project.files)
    if not check.ok:
        raise explain(project, target, python, check)
    done, body = uv_compile(reqs, target, python, _pins_text(target, python, False), excludes=_others(target),
                            hashes=True, files=project.files)
    if not done.ok:
        raise StepFailed("uv could not lock the project for %s/%s, Python %s: %s" % (
            target.profile, target.platform, python, uv_reason(done)))
    return body


def requirement_lines(project: Project) -> list[tuple[Requirement, Path]]:
    """The plain requirement lines of the project's files (options and includes are left to uv)."""
    out = []
    for f in project.files:
        for raw in f.read_text(encoding="utf-8").splitlines():
            line = raw.split(" #")[0].strip()
            if not line or line.startswith(("#", "-")):
                continue
            try:
                out.append((Requirement(line), f))
            except InvalidRequirement:
                continue
    return out


def uv_reason(done: process.Completed) -> str:
    """uv's explanation as one paragraph: its 'Because ...' lines joined, hints and box drawing dropped."""
    text = done.stderr or done.error or ""
    kept = []
    for raw in text.splitlines():
        line = raw.strip().lstrip("×╰─▶│ ").strip()
        if not line or line.startswith(("hint:", "help:")) or line.startswith("No solution found"):
            continue
        kept.append(line)
    return re.sub(r"\s+", " ", " ".join(kept)).strip() or "no explanation from uv"


NOT_FOUND = re.compile(r"\b([A-Za-z0-9][A-Za-z0-9._-]*) was not found in the (package registry|provided package "
                       r"locations)")


class NotOnIndex(UsageError):
    """A project requirement names a distribution the package index does not have: not a conflict."""

    def __init__(self, message: str, name: str, file: Path) -> None:
        super().__init__(message)
        self.name, self.file = name, file


NEEDS = re.compile(r"depends on (tensorflow(?:-[a-z]+)?)((?:[<>=!~]=?[\w.*]+,?)+)")


def explain(project: Project, target: Target, python: str, failed: process.Completed) -> UsageError:
    """Why the project cannot sit on the pair: the requirement that needs another TensorFlow, what it needs, the
    pin, and the newest version of it that fits, each found by resolving; else uv's reason in one paragraph."""
    dist, version = target.tensorflow_pin
    where = "%s/%s, Python %s" % (target.profile, target.platform, python)
    strict = _pins_text(target, python, True)
    reqs = list(target.requirements)
    said = (failed.stderr or "").lower()
    lines = requirement_lines(project)  # those uv's message names first: usually the first one tried is it
    absent = NOT_FOUND.search(uv_reason(failed))
    for req, f in lines:
        if absent and canonical(req.name) == canonical(absent.group(1)):
            return NotOnIndex("%s (from %s) does not exist: the package index has no distribution named %r "
                              "(correct its name in %s or remove it); nothing was created" % (
                                  req, f.name, req.name, matrix.shown(f)), req.name, f)
    for req, f in sorted(lines, key=lambda rf: canonical(rf[0].name) not in said.replace("_", "-")):
        with_pins, _ = uv_compile([str(req)] + reqs, target, python, strict)
        if with_pins.ok:
            continue
        _, alone = uv_compile([str(req)], target, python)
        tf_alone = {n: v for n, v in pins_in(alone).items() if n in target.tensorflows}
        if all(v == version for v in tf_alone.values()):  # none, or the pinned one: the conflict lies elsewhere
            return UsageError("%s (from %s) conflicts with the pinned set for %s: %s" % (
                req, f.name, where, uv_reason(with_pins)))
        spec = NEEDS.search(with_pins.stderr or "")
        needs = "%s%s" % spec.groups() if spec else " ".join("%s %s" % kv for kv in sorted(tf_alone.items()))
        open_req = Requirement(str(req))
        open_req.specifier = type(open_req.specifier)("")
        _, fitting = uv_compile([str(open_req)] + reqs, target, python, strict)
        fit = pins_in(fitting).get(canonical(req.name))
        advice = ("the newest %s that fits is %s: require %s==%s" % (req.name, fit, req.name, fit) if fit else
                  "no version of %s fits TensorFlow %s" % (req.name, version))
        return UsageError("%s (from %s) needs %s (it resolves to %s alone), but the pair pins %s==%s for %s; %s. "
                          "Nothing was created." % (req, f.name, needs, ", ".join(
                              "%s %s" % kv for kv in sorted(tf_alone.items())), dist, version, where, advice))
    return UsageError("the project's requirements cannot be resolved with the pinned set for %s (%s==%s and the "
                      "base lock as constraints): %s. Nothing was created." % (where, dist, version,
                                                                             uv_reason(failed)))
