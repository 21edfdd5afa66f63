"""Read the compatibility matrix (``envs/matrix.json``): targets to install, plugins, pairs to judge.

Pure data access; a malformed file raises ``MatrixError`` with a one-line reason. Pairs are judged
in one place only: ``checks.knowledge.judge_pair``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from checks import platforms
from checks.errors import UsageError
from checks.paths import LOCK_DIR, MATRIX_PATH, ROOT

PAIR_STATUSES = ("verified", "apple-claim", "unconfirmed", "predicted", "broken")  # predicted: from the files
PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")  # the Python lines the suite knows, oldest first
DEFAULT_PLUGIN = "tensorflow-metal"
TENSORFLOWS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel")  # a matrix without its list
TENSORFLOW = "tensorflow"  # the default backend: TensorFlow and its own Keras


class MatrixError(UsageError):
    """The matrix (or another knowledge file) cannot be used; the message names the file and the fault."""


class Build(NamedTuple):
    """What building a plugin from its sdist needs on the Mac (no build isolation: the env holds ``requires``)."""

    requires: tuple[str, ...] = ()  # Python build requirements, locked into the TensorFlow step
    tools: tuple[str, ...] = ()  # programs the build runs (make, xcrun)
    sdk: SpecifierSet | None = None  # the macOS SDK version it compiles against


class Plugin(NamedTuple):
    """A TensorFlow PluggableDevice distribution for the Apple GPU: a data record, judged like any other."""

    name: str
    artifact: str  # "wheel" or "sdist"
    library: str  # the file TensorFlow loads from tensorflow-plugins/
    python: SpecifierSet
    macos: SpecifierSet
    source: str
    versions: tuple[str, ...] = ()
    tensorflow: SpecifierSet | None = None  # the TensorFlow its newest release needs
    build: Build | None = None  # sdist only: built at install time
    install_flags: tuple[str, ...] = ()  # the installer flags of its own install step (sdist: the second step)
    conflicts: tuple[str, ...] = ()  # distributions that cannot share an environment with it
    declines: tuple[str, ...] = ()  # diagnosis ids of the stderr lines it prints when it offers no GPU
    expected: tuple[str, ...] = ()  # diagnosis ids of stderr lines that are expected and explained, not faults
    why: str = ""
    former_names: tuple[str, ...] = ()  # distribution names it had before (an environment may still hold one)

    @property
    def names(self) -> tuple[str, ...]:
        """Every distribution name this plugin is installed under: its name, then its former ones."""
        return (self.name, *self.former_names)

    @property
    def two_step(self) -> bool:
        """An sdist built against the TensorFlow already installed: TensorFlow first, then the plugin."""
        return self.artifact == "sdist"


class Backend(NamedTuple):
    """A framework Keras 3 runs on (``invoke setup --backend NAME``): one environment each."""

    name: str
    keras_backend: str  # the KERAS_BACKEND value
    distributions: tuple[str, ...]  # what identifies it in an environment (TensorFlow: the matrix's tensorflows)
    accelerator: dict[str, str]  # platform key -> the GPU path there (mps, a PluggableDevice); absent: CPU only
    why: str = ""
    source: str = ""


TENSORFLOW_BACKEND = Backend(TENSORFLOW, TENSORFLOW, TENSORFLOWS, {platforms.MAC_GPU: "a TensorFlow PluggableDevice"})


class Target(NamedTuple):
    """What setup installs for one (profile, platform)."""

    profile: str
    platform: str
    requirements: tuple[str, ...]
    python: SpecifierSet
    macos: SpecifierSet | None
    why: str
    source: str
    lock_dir: Path = LOCK_DIR
    name: str = ""  # lock file prefix (default: the profile)
    locks: str = ""  # sub-folder of lock_dir holding its locks
    plugin: Plugin | None = None  # the GPU plugin it pins, if any
    tensorflows: tuple[str, ...] = TENSORFLOWS  # the matrix's TensorFlow distribution names
    backend: str = TENSORFLOW  # the framework Keras runs on (a backend's name)
    find_links: tuple[str, ...] = ()  # local folders of wheels the index lacks (torch's CPU build), kept in the lock

    def pin(self, name: str) -> str | None:
        """The exact version pinned for distribution ``name`` (``tensorflow-cpu`` …), if any."""
        for line in self.requirements:
            req = Requirement(line)
            if req.name == name:
                return next((s.version for s in req.specifier if s.operator == "=="), None)
        return None

    def plugin_pin(self, plugins: Sequence[str]) -> tuple[str, str] | None:
        """(distribution, version) of the GPU plugin this target installs, if any."""
        for name in plugins:
            version = self.pin(name)
            if version:
                return name, version
        return None

    @property
    def tensorflow_pin(self) -> tuple[str, str]:
        """(distribution, version) of the TensorFlow this target installs."""
        for name in self.tensorflows:
            version = self.pin(name)
            if version:
                return name, version
        raise MatrixError("target %s/%s pins no TensorFlow" % (self.profile, self.platform))

    def lock_path(self, python_version: str) -> Path:
        """``<locks beside the matrix>/[<locks>/]<name or profile>-<platform>-py<X.Y>.txt``; for a plugin built
        from its sdist, the first step's lock (TensorFlow and the build requirements)."""
        return self.lock_dir / self.locks / ("%s-%s-py%s.txt" % (self.name or self.profile, self.platform,
                                                                  python_version))

    def plugin_lock_path(self, python_version: str) -> Path | None:
        """The second step's lock (the plugin's sdist by its sha256) for a plugin built at install time."""
        if self.plugin is None or not self.plugin.two_step:
            return None
        return self.lock_dir / self.locks / ("%s-plugin-%s-py%s.txt" % (self.name or self.profile, self.platform,
                                                                        python_version))

    @property
    def label(self) -> str:
        """``tensorflow 2.21.0 + tensorflow-metal-plugin 0.4.1``."""
        return " + ".join(str(Requirement(r)).replace("==", " ") for r in self.requirements)


class Pair(NamedTuple):
    """One TensorFlow / plugin pairing and what users reported of it (``metal`` is the plugin's version)."""

    tensorflow: SpecifierSet
    metal: Version
    python: tuple[str, ...]
    macos: SpecifierSet
    status: str
    source: str
    error: str | None = None
    phase: str | None = None
    plugin: str = DEFAULT_PLUGIN

    def matches(self, tensorflow: str, metal: str, plugin: str = DEFAULT_PLUGIN) -> bool:
        return plugin == self.plugin and Version(metal) == self.metal and \
            self.tensorflow.contains(tensorflow, prereleases=True)

    @property
    def floor(self) -> Version:
        """The lowest TensorFlow the pair names (``==2.10.*`` -> 2.10), compared as versions, never as text."""
        return min(Version(s.version.replace(".*", "")) for s in self.tensorflow)


class Matrix(NamedTuple):
    common: tuple[str, ...]
    targets: tuple[Target, ...]
    pairs: tuple[Pair, ...]
    plugins: tuple[Plugin, ...] = ()
    tensorflows: tuple[str, ...] = TENSORFLOWS  # the distribution names of TensorFlow; an environment holds one
    backends: tuple[Backend, ...] = (TENSORFLOW_BACKEND,)

    def backend(self, name: str) -> Backend | None:
        return next((b for b in self.backends if b.name == name), None)

    def backend_of(self, installed: Sequence[str]) -> str:
        """The backend of an environment holding these distributions: TensorFlow where one is installed (its Keras
        is then TensorFlow's), else the first backend whose distributions are there; TensorFlow when none is."""
        names = set(installed)
        if names & set(self.tensorflows):
            return TENSORFLOW
        return next((b.name for b in self.backends if b.name != TENSORFLOW and names & set(b.distributions)),
                    TENSORFLOW)

    @property
    def tensorflow_targets(self) -> tuple[Target, ...]:
        """The targets of the TensorFlow backend (the others install Keras 3 on torch or JAX)."""
        return tuple(t for t in self.targets if t.backend == TENSORFLOW)

    @property
    def plugin_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.plugins)

    @property
    def installed_names(self) -> tuple[str, ...]:
        """Every distribution name a plugin of the matrix may be installed under, former names included."""
        return tuple(n for p in self.plugins for n in p.names)

    def target(self, profile: str, platform: str, tensorflow: str | None = None,
               backend: str = TENSORFLOW) -> Target | None:
        """The target setup installs for (profile, platform, backend): the first listed (the default), or the one
        that pins ``tensorflow`` (``--tensorflow 2.21.0`` picks the community Metal pair)."""
        return next((t for t in self.targets_for(profile, platform, backend)
                     if tensorflow is None or t.tensorflow_pin[1] == tensorflow), None)

    def targets_for(self, profile: str, platform: str, backend: str = TENSORFLOW) -> list[Target]:
        return [t for t in self.targets if (t.profile, t.platform, t.backend) == (profile, platform, backend)]

    def plugin(self, name: str) -> Plugin | None:
        return next((p for p in self.plugins if p.name == name), None)

    def platforms(self, profile: str) -> list[str]:
        return sorted({t.platform for t in self.targets if t.profile == profile})

    def pair(self, tensorflow: str, metal: str, plugin: str = DEFAULT_PLUGIN) -> Pair | None:
        """The reported pair covering this TensorFlow and plugin version (use ``judge_pair`` to judge it)."""
        return next((p for p in self.pairs if p.matches(tensorflow, metal, plugin)), None)


def load(path: Path = MATRIX_PATH) -> Matrix:
    """Parse and validate the matrix; raise ``MatrixError`` on any fault."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MatrixError("cannot read matrix %s: %s" % (path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise MatrixError("matrix %s is not valid JSON: %s" % (path, exc)) from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(type(data),
                                                                                                 "a number")
        raise MatrixError("matrix %s: the top level is %s; it must be a JSON object with schema_version, common, "
                          "targets and pairs" % (path, kind))
    try:
        return _parse(data, Path(path).parent / "locks")
    except MatrixError as exc:  # name the file the fault is in
        if not exc.message.startswith("matrix: "):
            raise
        raise MatrixError("matrix %s: %s" % (path, exc.message[len("matrix: "):])) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise MatrixError("matrix %s: missing or wrong field %s" % (path, exc)) from None
    except (InvalidRequirement, InvalidSpecifier, InvalidVersion) as exc:
        raise MatrixError("matrix %s: %s" % (path, exc)) from None


def shown(path: Path) -> str:
    """A path as the user reads it: relative to the repository when inside it."""
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


def _parse(data: dict[str, Any], lock_dir: Path) -> Matrix:
    if data.get("schema_version") != 1:
        raise MatrixError("matrix: unsupported schema_version %r (expected 1)" % data.get("schema_version"))
    common = tuple(str(Requirement(r)) for r in data["common"])
    tensorflows = tuple(str(n) for n in data.get("tensorflows") or TENSORFLOWS)
    plugins = tuple(_plugin(p) for p in data.get("plugins") or [DEFAULT_PLUGIN_RECORD])
    backends = tuple(_backend(b, tensorflows) for b in data.get("backends") or []) or (TENSORFLOW_BACKEND,)
    targets = tuple(_target(t, lock_dir, plugins, tensorflows, backends) for t in data["targets"])
    names = [p.name for p in plugins]
    pairs = tuple(_pair(p, names) for p in data["pairs"])
    return Matrix(common, targets, pairs, plugins, tensorflows, backends)


def _backend(b: dict[str, Any], tensorflows: tuple[str, ...]) -> Backend:
    name = str(b["name"])
    return Backend(name, str(b["keras_backend"]), tensorflows if name == TENSORFLOW else
                   tuple(str(d) for d in b["distributions"]), {str(k): str(v) for k, v in b["accelerator"].items()},
                   b.get("why", ""), b.get("source", ""))


DEFAULT_PLUGIN_RECORD = {"name": DEFAULT_PLUGIN, "artifact": "wheel", "library": "libmetal_plugin.dylib",
                         "python": ">=3.8,<3.13", "macos": ">=12.0", "source": "PyPI: tensorflow-metal wheels"}


def _plugin(p: dict[str, Any]) -> Plugin:
    if p["artifact"] not in ("wheel", "sdist"):
        raise MatrixError("matrix: plugin %s has artifact %r (expected wheel or sdist)" % (p["name"], p["artifact"]))
    build = p.get("build")
    if p["artifact"] == "sdist" and not build:
        raise MatrixError("matrix: plugin %s is an sdist and needs its build record" % p["name"])
    return Plugin(
        p["name"], p["artifact"], p["library"], SpecifierSet(p["python"]), SpecifierSet(p["macos"]), p["source"],
        tuple(p.get("versions") or ()), SpecifierSet(p["tensorflow"]) if p.get("tensorflow") else None,
        Build(tuple(str(Requirement(r)) for r in build.get("requires") or ()), tuple(build.get("tools") or ()),
              SpecifierSet(build["sdk"]) if build.get("sdk") else None) if build else None,
        tuple(p.get("install_flags") or ()), tuple(p.get("conflicts") or ()), tuple(p.get("declines") or ()),
        tuple(p.get("expected") or ()), p.get("why", ""), tuple(p.get("former_names") or ()))


def _target(t: dict[str, Any], lock_dir: Path, plugins: Sequence[Plugin] = (),
            tensorflows: tuple[str, ...] = TENSORFLOWS, backends: Sequence[Backend] = (TENSORFLOW_BACKEND,)) -> Target:
    if t["profile"] not in platforms.PROFILES:
        raise MatrixError("matrix: unknown profile %r in targets" % t["profile"])
    backend = next((b for b in backends if b.name == t.get("backend", TENSORFLOW)), None)
    if backend is None:
        raise MatrixError("matrix: target names backend %r, which is not in backends (%s)"
                          % (t.get("backend"), ", ".join(b.name for b in backends)))
    reqs = tuple(str(Requirement(r)) for r in t["requirements"])
    macos = SpecifierSet(t["macos"]) if t.get("macos") else None
    names = {Requirement(r).name for r in reqs}
    plugin = next((p for p in plugins if p.name in names), None)
    target = Target(t["profile"], t["platform"], reqs, SpecifierSet(t["python"]), macos, t["why"], t["source"],
                    lock_dir, t.get("name", ""), t.get("locks", ""), plugin, tensorflows, backend.name,
                    tuple(str(f) for f in t.get("find_links") or ()))
    if backend.name == TENSORFLOW:
        target.tensorflow_pin  # noqa: B018 - validates that a TensorFlow is pinned
    elif not any(target.pin(d) for d in backend.distributions):
        raise MatrixError("matrix: target %s/%s (backend %s) pins none of %s"
                          % (target.profile, target.platform, backend.name, ", ".join(backend.distributions)))
    return target


def _pair(p: dict[str, Any], plugins: Sequence[str]) -> Pair:
    plugin = p.get("plugin", DEFAULT_PLUGIN)
    if plugin not in plugins:
        raise MatrixError("matrix: pair names plugin %r, which is not in plugins (%s)" % (plugin, ", ".join(plugins)))
    if p["status"] not in PAIR_STATUSES:
        raise MatrixError("matrix: pair status %r is not one of %s" % (p["status"], ", ".join(PAIR_STATUSES)))
    if p["status"] == "broken" and not p.get("error"):
        raise MatrixError("matrix: broken pair %s + %s needs its error" % (p["tensorflow"], p["metal"]))
    return Pair(SpecifierSet(p["tensorflow"]), Version(p["metal"]), tuple(p["python"]), SpecifierSet(p["macos"]),
                p["status"], p["source"], p.get("error"), p.get("phase"), plugin)


def python_versions(spec: SpecifierSet, candidates: Sequence[str] = PYTHONS) -> list[str]:
    """The X.Y versions among ``candidates`` that ``spec`` admits."""
    return [v for v in candidates if spec.contains(v + ".0")]
