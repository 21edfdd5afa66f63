"""Releases read on demand, and the refresh that reads only what is new (`invoke abi`, `invoke refresh`).

On demand: `invoke abi --tensorflow V [--plugin NAME==V]` reads just the files it needs from the package index
(its PEP 691 JSON pages, as scripts/pypi.py reads them): a TensorFlow macOS arm64 wheel gives its loadability
fingerprint (envs/abi/) and its kernel C API exports (envs/kernel-c-api.json); a tensorflow-metal wheel its
fingerprint; a plugin published as an sdist only (the community plugin) what it declares (envs/declared/: its
Requires-Dist on TensorFlow, Requires-Python, build requirements, the TensorFlow its build pins).

The refresh: envs/releases.json holds every release of the watched projects seen on the index; a release not
in it is read as above, the plugin's release list in envs/matrix.json grows, and a plugin release and a
TensorFlow that fit (the plugin declares that TensorFlow, or the static check says it loads) become a pair with
status ``predicted`` and its evidence. Nothing is ever marked verified here: that takes a user report.
"""

from __future__ import annotations

import email.parser
import json
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename
from packaging.version import InvalidVersion, Version

from checks import abi, fixes, kernel_api, platforms
from checks.errors import StepFailed, UsageError
from checks.paths import ROOT
from scripts import abi as wheels
from scripts import pypi

Say = Callable[[str], None]
MACOS_ARM64: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
MACOS_ARM64.update(sys_platform="darwin", platform_system="Darwin", platform_machine="arm64", python_version="3.11",
                   python_full_version="3.11.0", implementation_name="cpython",
                   platform_python_implementation="CPython", os_name="posix")  # Requires-Dist markers, on a Mac
BUILD_REQUIRES = re.compile(r"^\s*requires\s*=\s*\[(.*?)\]", re.S | re.M)


@dataclass(frozen=True)
class Paths:
    """Where the facts live: the repository's envs/ (a copy of it in the tests)."""

    envs: Path = ROOT / "envs"
    index: str = pypi.INDEX

    @property
    def abi(self) -> Path:
        return self.envs / "abi"

    @property
    def declared(self) -> Path:
        return self.envs / "declared"

    @property
    def grid(self) -> Path:
        return self.envs / "abi-grid.json"

    @property
    def kernel(self) -> Path:
        return self.envs / "kernel-c-api.json"

    @property
    def matrix(self) -> Path:
        return self.envs / "matrix.json"

    @property
    def releases(self) -> Path:
        return self.envs / "releases.json"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _dump(path: Path, data: Any, indent: int = 2, sort_keys: bool = False) -> str:
    """Write JSON; return new, changed or unchanged."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n"
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if old != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return "new" if old is None else "unchanged" if old == text else "changed"


def watched(paths: Paths) -> dict[str, Any]:
    """envs/releases.json: project -> {role, plugin, seen, ...}."""
    return dict(_load(paths.releases)["projects"])


def plugin_of(name: str, paths: Paths) -> str | None:
    """The matrix plugin a project name stands for (``metal-pluggable-device`` is the community plugin's earlier
    name); None for a name that is no plugin."""
    entry = watched(paths).get(str(canonicalize_name(name)))
    return entry.get("plugin") if entry else None


def index_page(name: str, paths: Paths) -> dict[str, Any] | None:
    """The project's JSON page, or None when the index has no such project (404)."""
    try:
        return wheels.page(name, paths.index)
    except StepFailed as exc:
        if "404" in str(exc):
            return None
        raise


def _versions(page: Mapping[str, Any]) -> list[str]:
    return sorted({str(v) for v in page.get("versions") or []}, key=_key)


def _key(text: str) -> tuple[int, Any]:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)


def _release_files(page: Mapping[str, Any], version: str) -> list[dict[str, Any]]:
    out = []
    for f in page["files"]:
        if f.get("yanked"):
            continue
        name = f["filename"]
        try:
            v = (wheels.parse_wheel_filename(name)[1] if name.endswith(".whl") else
                 parse_sdist_filename(name)[1] if name.endswith((".tar.gz", ".zip")) else None)
        except ValueError:
            continue
        if v is not None and v == Version(version):
            out.append(f)
    return out


def _grid(paths: Paths) -> dict[str, Any]:
    return _load(paths.grid)


# -- TensorFlow ---------------------------------------------------------------------------------------------------

def record_tensorflow(version: str, say: Say, paths: Paths) -> list[str]:
    """Read TensorFlow ``version``'s macOS arm64 wheel: its fingerprint (envs/abi/), its kernel C API exports
    (envs/kernel-c-api.json), the Pythons it has wheels for; add it to envs/abi-grid.json. Returns what changed."""
    grid = _grid(paths)
    first = min((Version(v) for v in watched(paths).get("tensorflow-macos", {}).get("seen") or []), default=None)
    if first is not None and Version(version) < first:  # answered without the index
        raise UsageError("TensorFlow %s predates the macOS arm64 wheels (the first: tensorflow-macos %s)" % (
            version, first), fix=fixes.command("abi", why="lists the recorded TensorFlow releases"))
    dist = None
    for name in ("tensorflow", "tensorflow-macos"):
        page = index_page(name, paths)
        if page and version in _versions(page) and wheels.macos_pythons(name, version, grid, paths.index):
            dist = name
            break
    if dist is None:
        raise UsageError("the package index lists no macOS arm64 wheel of tensorflow or tensorflow-macos %s" % version,
                         fix=fixes.command("abi", why="lists the recorded TensorFlow releases"))
    pythons = wheels.macos_pythons(dist, version, grid, paths.index)
    python = grid["python"] if grid["python"] in pythons else pythons[-1]
    lief = wheels._lief()
    fix = fixes.command("abi", "--tensorflow", version, why="again, once the package index answers")
    wheel = wheels.fetch(wheels.listed_wheel("%s==%s" % (dist, version), grid, python, paths.index), say, fix)
    via = None
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        if wheels.PYWRAP not in zf.namelist():  # a shim (2.13-2.15): the binaries are in tensorflow-macos
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            target = next((Requirement(ln.split(":", 1)[1]) for ln in zf.read(meta).decode().splitlines()
                           if ln.startswith("Requires-Dist:") and "tensorflow-macos" in ln), None)
            pinned = next((s.version for s in target.specifier if s.operator == "=="), None) if target else None
            if pinned is None:
                raise StepFailed("%s holds no TensorFlow binaries and names no tensorflow-macos to follow" % wheel.name)
            via = "%s is a shim for tensorflow-macos %s" % (wheel.name, pinned)
            wheel = wheels.fetch(wheels.listed_wheel("tensorflow-macos==%s" % pinned, grid, python, paths.index),
                                 say, fix)
    fps = abi.load_fingerprints(paths.abi)
    symbols = {b["symbol"] for name, releases in fps.items() if name != "tensorflow"
               for fp in releases.values() for b in fp["binds"]}
    say("  reading %s (the images `import tensorflow` loads, their export tries) ..." % wheel.name)
    fp = wheels.tensorflow_fingerprint(lief, wheel, version, via, symbols)
    fp["pythons"] = pythons
    changes = ["envs/abi/tensorflow-%s.json: %s" % (version, wheels._write(fp, paths.abi))]
    entry: dict[str, Any] = {"version": version}
    if dist != "tensorflow":
        entry["dist"] = dist
    if python != grid["python"]:
        entry["python"] = python
    if all(e["version"] != version for e in grid["tensorflow"]):
        grid["tensorflow"] = sorted(grid["tensorflow"] + [entry], key=lambda e: Version(e["version"]))
        changes.append("envs/abi-grid.json: %s" % _dump(paths.grid, grid))
    say("  reading the kernel C API exports of every binary of %s ..." % wheel.name)
    from scripts import kernel_api as kernel_scan

    fact = kernel_scan.scan_wheel(wheel, version, lief)
    data = _load(paths.kernel)
    data["tensorflow"] = sorted([f for f in data["tensorflow"] if f["version"] != version] + [fact],
                                key=lambda f: Version(f["version"]))
    changes.append("envs/kernel-c-api.json: %s" % _dump(paths.kernel, data, indent=1, sort_keys=True))
    return changes


# -- plugins ------------------------------------------------------------------------------------------------------

def declaration(sdist: Path, listed: Mapping[str, Any], plugin: str, project: str, version: str,
                index: str = pypi.INDEX) -> dict[str, Any]:
    """What an sdist declares: PKG-INFO's Requires-Dist and Requires-Python, pyproject.toml's build requirements,
    and a TF_SUPPORTED_VERSION file when it ships one (the TensorFlow its build pins)."""
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
        top = names[0].split("/")[0]

        def read(member: str) -> str | None:
            path = "%s/%s" % (top, member)
            if path not in names:
                return None
            fh = tf.extractfile(path)
            return fh.read().decode("utf-8") if fh else None

        pkg_info, pyproject, supported = read("PKG-INFO"), read("pyproject.toml"), read("TF_SUPPORTED_VERSION")
    if pkg_info is None:
        raise StepFailed("%s has no PKG-INFO: nothing declared to judge it by" % sdist.name)
    meta = email.parser.Parser().parsestr(pkg_info, headersonly=True)
    requires = [str(Requirement(r)) for r in meta.get_all("Requires-Dist") or []]
    build: list[str] = []
    if pyproject:
        section = pyproject.split("[build-system]", 1)[1] if "[build-system]" in pyproject else ""
        found = BUILD_REQUIRES.search(section.split("\n[", 1)[0])
        build = re.findall(r"[\"']([^\"']+)[\"']", found.group(1)) if found else []
    tensorflow = [r for r in map(Requirement, requires) if r.name == "tensorflow"
                  and (r.marker is None or r.marker.evaluate(MACOS_ARM64))]
    return {"kind": plugin, "project": project, "version": version, "artifact": "sdist",
            "file": listed["filename"], "url": listed["url"], "sha256": listed["hashes"]["sha256"],
            "size": listed.get("size"),
            "upload_time": listed.get("upload-time"), "requires_python": meta.get("Requires-Python"),
            "requires_dist": requires, "tensorflow": str(tensorflow[0].specifier) if tensorflow else None,
            "build_requires": build, "tf_supported_version": supported.strip() if supported else None,
            "source": "PKG-INFO, pyproject.toml and TF_SUPPORTED_VERSION of %s (sha256 %s) on %s" % (
                listed["filename"], listed["hashes"]["sha256"], index)}


def record_plugin(project: str, version: str, say: Say, paths: Paths) -> list[str]:
    """Read a plugin release: a macOS arm64 wheel gives a fingerprint (envs/abi/), an sdist its declaration
    (envs/declared/). Raises UsageError naming the known releases when the index does not have it."""
    plugin = plugin_of(project, paths) or project
    page = index_page(project, paths)
    known = known_releases(plugin, paths)
    if page is None or version not in _versions(page):
        where = "the package index has no project %s" % project if page is None else \
            "%s %s is not on the package index" % (project, version)
        other = [p for p in sorted({e["plugin"] for e in watched(paths).values() if e.get("plugin")})
                 if page is not None and p != plugin and version in known_releases(p, paths)]
        note = watched(paths).get(str(canonicalize_name(project)), {}).get("note")
        where += " (%s)" % note if page is None and note else ""
        if other:
            raise UsageError("%s; %s %s is a release of %s (known releases of %s: %s)" % (
                where, project, version, other[0], plugin, ", ".join(known) or "none"),
                fix=fixes.command("abi", "--plugin", "%s==%s" % (other[0], version)))
        raise UsageError("%s; known releases of %s: %s" % (where, plugin, ", ".join(known) or "none"),
                         fix=fixes.command("abi", "--plugin", "%s==%s" % (plugin, known[-1]) if known else plugin,
                                           why="the newest known release") if known else None)
    grid = _grid(paths)
    files = _release_files(page, version)
    fix = fixes.command("abi", "--plugin", "%s==%s" % (project, version), why="again, once the package index answers")
    if wheels.macos_pythons(project, version, grid, paths.index):
        pythons = wheels.macos_pythons(project, version, grid, paths.index)
        python = grid["python"] if grid["python"] in pythons else pythons[-1]
        wheel = wheels.fetch(wheels.listed_wheel("%s==%s" % (project, version), grid, python, paths.index), say, fix)
        fp = wheels.plugin_fingerprint(wheels._lief(), wheel, version)
        fp["kind"] = plugin
        changes = ["envs/abi/%s-%s.json: %s" % (plugin, version, wheels._write(fp, paths.abi))]
        if plugin == "tensorflow-metal" and version not in grid["metal"]:
            grid["metal"] = sorted(grid["metal"] + [version], key=Version)
            changes.append("envs/abi-grid.json: %s" % _dump(paths.grid, grid))
        fps = abi.load_fingerprints(paths.abi)
        read_for = {n for fpt in fps["tensorflow"].values() for img in fpt["loaded"] for n in img["exports"]}
        unread = {b["symbol"] for b in fp["binds"]} - read_for - {b["symbol"] for name, rel in fps.items()
                                                                 if name not in ("tensorflow", plugin) for f in
                                                                 rel.values() for b in f["binds"]}
        if unread:
            say("  %s %s binds %d symbols the TensorFlow fingerprints were not read for: `%s` re-reads them" % (
                plugin, version, len(unread), fixes.command("abi", "--refresh")))
        return changes
    sdist = next((f for f in files if f["filename"].endswith(".tar.gz")), None)
    if sdist is None:
        raise StepFailed("%s %s has neither a macOS arm64 wheel nor an sdist on the index" % (project, version))
    path = wheels.fetch(sdist, say, fix)
    record = declaration(path, sdist, plugin, project, version, paths.index)
    out = paths.declared / ("%s-%s.json" % (plugin, version))
    return ["envs/declared/%s: %s" % (out.name, _dump(out, record, indent=1))]


def known_releases(plugin: str, paths: Paths) -> list[str]:
    """A plugin's releases as recorded: the matrix, the fingerprints, the declarations, the releases seen."""
    matrix = _load(paths.matrix)
    out = set(next((p.get("versions") or [] for p in matrix.get("plugins") or [] if p["name"] == plugin), []))
    out |= set(abi.load_fingerprints(paths.abi).get(plugin, {}))
    out |= set(abi.load_declared(paths.declared).get(plugin, {}))
    for entry in watched(paths).values():
        if entry.get("plugin") == plugin:
            out |= set(entry.get("seen") or [])
    return sorted(out, key=_key)


# -- on demand ----------------------------------------------------------------------------------------------------

def tensorflow_recorded(version: str, paths: Paths) -> bool:
    return abi.fingerprint_for(version, abi.load_fingerprints(paths.abi)) is not None


def plugin_recorded(plugin: str, version: str, paths: Paths) -> bool:
    v = str(Version(version))
    return v in abi.load_fingerprints(paths.abi).get(plugin, {}) or v in abi.load_declared(paths.declared).get(
        plugin, {})


def ensure(tensorflow: str | None, plugin: str | None, version: str | None, say: Say,
           paths: Paths | None = None) -> list[str]:
    """Read what `invoke abi` needs and is not recorded yet; returns what changed (empty: nothing read)."""
    paths = paths or Paths()
    changes: list[str] = []
    if plugin and version and not plugin_recorded(plugin, version, paths):
        say("%s %s is not recorded: reading it from the package index" % (plugin, version))
        changes += record_plugin(plugin, version, say, paths)
    if tensorflow and not tensorflow_recorded(tensorflow, paths):
        say("TensorFlow %s is not recorded: reading its macOS arm64 wheel from the package index" % tensorflow)
        changes += record_tensorflow(tensorflow, say, paths)
    return changes


# -- the refresh --------------------------------------------------------------------------------------------------

@dataclass
class Refresh:
    """What a refresh found and changed."""

    new: dict[str, list[str]] = field(default_factory=dict)  # project -> new versions
    files: list[str] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not any(self.new.values()):
            return ["Nothing new on the index: every release of %s was seen before." % ", ".join(self.new)]
        out = ["New on the index:"]
        out += ["  %s: %s" % (p, ", ".join(v)) for p, v in self.new.items() if v]
        out += ["Files:"] + ["  " + f for f in self.files]
        if self.pairs:
            out.append("Predicted pairs added to envs/matrix.json (status predicted: from the files, not a report):")
            out += ["  TensorFlow %s + %s %s: %s" % (p["tensorflow"], p["plugin"], p["metal"],
                                                     "; ".join(p["evidence"].values())) for p in self.pairs]
        out += self.notes
        return out


def refresh(say: Say = print, paths: Paths | None = None, locks: bool = False) -> Refresh:
    """Ask the index for every watched project's releases, read the unseen ones, add the predicted pairs (and, for
    a plugin built from its sdist, a target that pins the pair; with ``locks``, its locks too)."""
    paths = paths or Paths()
    data = _load(paths.releases)
    result = Refresh()
    new_tf: list[str] = []
    new_plugins: list[tuple[str, str]] = []
    for project, entry in data["projects"].items():
        page = index_page(project, paths)
        published = _versions(page) if page else []
        if page is None:
            say("  %s: the index has no such project (%s)" % (project, entry.get("note", "")))
        seen = set(entry.get("seen") or [])
        fresh = [v for v in published if v not in seen]
        result.new[project] = fresh
        for version in fresh:
            say("  %s %s is new" % (project, version))
            try:
                Version(version)
            except InvalidVersion:
                continue
            grid = _grid(paths)
            if entry["role"] == "tensorflow":
                if wheels.macos_pythons(project, version, grid, paths.index):
                    if not tensorflow_recorded(version, paths) or version not in abi.load_fingerprints(
                            paths.abi)["tensorflow"]:
                        result.files += record_tensorflow(version, say, paths)
                    new_tf.append(version)
                else:
                    result.notes.append("%s %s: no macOS arm64 wheel (nothing to read)" % (project, version))
            else:
                result.files += record_plugin(project, version, say, paths)
                new_plugins.append((entry["plugin"], version))
        entry["seen"] = sorted(seen | set(fresh), key=_key)
    if any(result.new.values()):
        result.files.append("envs/releases.json: %s" % _dump(paths.releases, data, indent=1))
    result.pairs = candidates(paths, new_tf, new_plugins)
    targets = new_targets(paths, result.pairs)
    result.files += update_matrix(paths, new_plugins, result.pairs, targets)
    for target in targets:
        folder = "envs/locks/%s/" % target["locks"]
        if locks:
            from checks.matrix import load as load_matrix
            from scripts import community_locks

            m = load_matrix(paths.matrix)
            parsed = next(t for t in m.targets if t.name == target["name"])
            written = community_locks.write_for(parsed, list(m.common), parsed.lock_dir / parsed.locks, paths.declared)
            result.files.append("%s: %d locks written" % (folder, len(written)))
        else:
            result.notes.append("Locks: the new target %s has none yet; `%s` writes them into %s" % (
                target["name"], fixes.command("lock", why="resolves against PyPI"), folder))
    if result.pairs and not targets:
        result.notes.append("Locks: none change (a predicted pair of a wheel plugin gets no target by itself)")
    return result


def new_targets(paths: Paths, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A setup target for each predicted pair of a plugin built from its sdist whose TensorFlow line no target pins
    yet: `invoke setup --tensorflow V` can then install it, from its own two-step locks."""
    matrix = _load(paths.matrix)
    plugins = {p["name"]: p for p in matrix.get("plugins") or []}
    fps = abi.load_fingerprints(paths.abi)
    out = []
    for pair in pairs:
        plugin = plugins[pair["plugin"]]
        line = SpecifierSet(pair["tensorflow"])
        pinned = [t for t in matrix["targets"] if any(
            Requirement(r).name == "tensorflow" and line.contains(next(iter(Requirement(r).specifier)).version,
                                                                  prereleases=True) for r in t["requirements"])]
        if plugin.get("artifact") != "sdist" or pinned or not pair["python"]:
            continue
        tensorflow = max((v for v in fps["tensorflow"] if line.contains(v, prereleases=True)), key=Version)
        minor = ".".join(pair["tensorflow"].strip("=*").split(".")[:2])
        newest = pair["python"][-1].split(".")
        out.append({"profile": "metal", "platform": platforms.MAC_GPU, "name": "metal-community-%s" % minor,
                    "locks": "community-%s" % minor,
                    "requirements": ["tensorflow==%s" % tensorflow, "%s==%s" % (pair["plugin"], pair["metal"])],
                    "python": ">=%s,<%s.%d" % (pair["python"][0], newest[0], int(newest[1]) + 1),
                    "macos": pair["macos"],
                    "why": "Predicted, not verified by any user report: %s" % "; ".join(pair["evidence"].values()),
                    "source": pair["source"]})
    return out


def candidates(paths: Paths, new_tf: list[str], new_plugins: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Pairs of a new release (TensorFlow or plugin) that the files say fit: the plugin's declared TensorFlow
    contains it, or the static check says it loads. Pairs the matrix already has are left out."""
    fps = abi.load_fingerprints(paths.abi)
    declared = abi.load_declared(paths.declared)
    kernel = kernel_api.load_facts(paths.kernel)
    matrix = _load(paths.matrix)
    plugins = {p["name"]: p for p in matrix.get("plugins") or []}
    tracking = {e["plugin"]: e["tracking"] for e in watched(paths).values() if e.get("plugin") and e.get("tracking")}
    known_tf = sorted(fps["tensorflow"], key=Version)
    pairs: list[tuple[str, str, str]] = []
    for plugin, version in new_plugins:
        pairs += [(tf, plugin, version) for tf in known_tf]
    for tf in new_tf:
        for plugin in plugins:
            releases = set(fps.get(plugin, {})) | set(declared.get(plugin, {}))
            if releases:  # its newest release: an older one is not a candidate for a TensorFlow newer than it
                pairs.append((tf, plugin, max(releases, key=Version)))
    out: list[dict[str, Any]] = []
    lines_done: set[tuple[str, str, str]] = set()
    for tf, plugin, version in sorted(set(pairs), key=lambda p: (Version(p[0]), p[1], Version(p[2]))):
        line = "==%s.*" % ".".join(map(str, Version(tf).release[:2]))
        if (line, plugin, version) in lines_done or plugin not in plugins:
            continue
        if any(p.get("plugin", "tensorflow-metal") == plugin and Version(p["metal"]) == Version(version)
               and SpecifierSet(p["tensorflow"]).contains(tf, prereleases=True) for p in matrix["pairs"]):
            continue
        evidence: dict[str, str] = {}
        decl = declared.get(plugin, {}).get(version)
        plugin_fp = fps.get(plugin, {}).get(version)
        if decl is not None:
            if not decl.get("tensorflow") or not SpecifierSet(decl["tensorflow"]).contains(tf, prereleases=True):
                continue
            evidence["declared"] = "%s declares Requires-Dist tensorflow%s, Requires-Python %s, builds with %s" % (
                decl["file"], decl["tensorflow"], decl.get("requires_python") or "any",
                ", ".join(decl.get("build_requires") or []) or "nothing declared")
        elif plugin_fp is not None:
            v = abi.verdict(fps["tensorflow"][tf], plugin_fp, abi.known_symbols(fps))
            if not v.loads:
                continue
            evidence["static"] = "static check of %s and %s: loads" % (fps["tensorflow"][tf]["wheel"],
                                                                        plugin_fp["wheel"])
        else:
            continue
        api = kernel_api.for_tensorflow(kernel, tf)
        if api is not None:
            evidence["kernel_c_api"] = "%s exports %d of %d functions of %s" % (
                api.wheel, len(api.declared) - len(api.missing), len(api.declared), kernel_api.HEADER)
        if tracking.get(plugin):
            evidence["upstream"] = tracking[plugin]
        pythons = fps["tensorflow"][tf].get("pythons") or []
        requires_python = (decl or {}).get("requires_python") or plugins[plugin].get("python") or ""
        spec = SpecifierSet(requires_python)
        lines_done.add((line, plugin, version))
        out.append({"tensorflow": line, "metal": version, "plugin": plugin,
                    "python": [p for p in pythons if spec.contains(p + ".0")],
                    "macos": plugins[plugin].get("macos", ">=12.0"), "status": "predicted",
                    "source": "invoke refresh: TensorFlow %s and %s %s as read from the package index" % (
                        tf, plugin, version), "evidence": evidence})
    return out


def update_matrix(paths: Paths, new_plugins: list[tuple[str, str]], pairs: list[dict[str, Any]],
                  targets: Sequence[dict[str, Any]] = ()) -> list[str]:
    """Add new plugin releases to their plugin's ``versions``, the predicted pairs and their targets, keeping the
    file's layout (one record per line): edited as text, checked against the same edit made on the parsed data."""
    if not new_plugins and not pairs:
        return []
    text = paths.matrix.read_text(encoding="utf-8")
    data = json.loads(text)
    if targets:  # after the last metal target: the first target of a (profile, platform) stays its default
        last = max(i for i, t in enumerate(data["targets"])
                   if t["profile"] == "metal" and t.get("backend", "tensorflow") == "tensorflow")
        data["targets"][last + 1:last + 1] = list(targets)
        at = text.index('    {"profile": "cpu"')
        text = text[:at] + "".join("    %s,\n" % json.dumps(t) for t in targets) + text[at:]
    for plugin, version in new_plugins:
        record = next((p for p in data["plugins"] if p["name"] == plugin), None)
        if record is None or version in record.get("versions", []):
            continue
        record["versions"] = sorted(record["versions"] + [version], key=Version)
        start = text.index('{"name": "%s"' % plugin)
        at = text.index('"versions": [', start)
        end = text.index("]", at)
        text = text[:at] + '"versions": ' + json.dumps(record["versions"]) + text[end + 1:]
    if pairs:
        data["pairs"] = data["pairs"] + pairs
        end = text.rindex("]")  # the pairs are the last list of the file
        last = text.rindex("}", 0, end)
        text = text[:last + 1] + "".join(",\n    " + json.dumps(p) for p in pairs) + text[last + 1:]
    if json.loads(text) != data:  # the layout was not the expected one: write it plainly
        text = json.dumps(data, indent=1) + "\n"
    paths.matrix.write_text(text, encoding="utf-8")
    return ["envs/matrix.json: changed (%s)" % ", ".join(
        ["%s %s added to its releases" % p for p in new_plugins] + ["%d predicted pair(s)" % len(pairs)] +
        ["target %s" % t["name"] for t in targets])]


def parse_plugin(text: str, paths: Paths | None = None) -> tuple[str, str]:
    """``--plugin NAME==VERSION`` -> (the matrix plugin it stands for, version); UsageError otherwise."""
    paths = paths or Paths()
    try:
        req = Requirement(text)
        pins = [s.version for s in req.specifier if s.operator == "=="]
        if len(pins) != 1 or len(req.specifier) != 1:
            raise InvalidRequirement("not NAME==VERSION")
        Version(pins[0])
    except (InvalidRequirement, InvalidVersion):
        raise UsageError("--plugin %r is not NAME==VERSION (e.g. tensorflow-metal-plugin==0.4.1)" % text) from None
    name = str(canonicalize_name(req.name))
    if plugin_of(name, paths) is None:
        names = sorted(watched(paths)[p]["plugin"] for p in watched(paths) if watched(paths)[p].get("plugin"))
        raise UsageError("--plugin %s: not a Metal plugin this suite knows (known: %s)" % (
            req.name, ", ".join(sorted(set(names)))))
    return name, pins[0]
