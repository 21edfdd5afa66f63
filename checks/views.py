"""What `invoke matrix` and `invoke abi` print: the knowledge core rendered as lines (pure).

Every pair shown here is judged by ``checks.knowledge.judge_pair``, as setup and the checks judge it.
"""

from __future__ import annotations

import textwrap

from packaging.version import Version

from checks import abi, kernel_api
from checks.knowledge import Judgement, Knowledge, judge_pair
from checks.matrix import Pair

STATIC_CODES = {"loads": "loads", "symbol": "symbol", "library": "no-library"}
WIDTH = 100  # columns of `invoke matrix`: a longer line wraps, its continuation indented under it


def wrapped(lines: list[str], width: int = WIDTH) -> list[str]:
    """Each line within ``width`` columns (a word longer than that stays whole): continuations are indented four
    columns more than the line they continue."""
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        out += textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    return out


def judged(k: Knowledge, pair: Pair) -> Judgement:
    """A matrix pair judged at the lowest TensorFlow it names (``==2.10.*`` -> 2.10), a version, not text."""
    return judge_pair(k, str(pair.floor), str(pair.metal), pair.plugin)


def matrix_lines(k: Knowledge) -> list[str]:
    """What setup installs per (profile, platform), then every known pair with its report and static verdict."""
    m = k.matrix
    row = "  %-7s %-14s %-45s %-12s %s"
    lines = ["Matrix: %s" % k.path, "What `invoke setup` installs:", row % ("profile", "platform", "requirements",
                                                                        "python", "macOS")]
    for t in m.tensorflow_targets:
        default = m.target(t.profile, t.platform) is t
        lines.append(row % (t.profile, t.platform, " ".join(t.requirements), t.python, t.macos or "-"))
        lines.append("          %s; why: %s" % ("default" if default else "chosen with --tensorflow %s"
                                                 % t.tensorflow_pin[1], t.why))
    lines += ["", "Keras 3 on another framework (`invoke setup --backend NAME`, its own environment .venv-NAME):"]
    for b in m.backends:
        if b.name == "tensorflow":
            continue
        gpu = ", ".join("%s on %s" % (path, plat) for plat, path in b.accelerator.items()) or "none (the CPU)"
        lines.append("  %s: GPU %s; why: %s" % (b.name, gpu, b.why))
        for t in m.targets:
            if t.backend == b.name:
                lines.append(row % (t.profile, t.platform, " ".join(t.requirements), t.python, t.macos or "-"))
    lines += ["", "GPU plugins:"]
    for g in m.plugins:
        lines.append("  %-24s %-6s python %-12s macOS %-8s TensorFlow %s; releases %s" % (
            g.name, g.artifact, g.python, g.macos, g.tensorflow or "-", ", ".join(g.versions) or "-"))
        if g.build is not None:
            needs = list(g.build.requires) + list(g.build.tools) + (["macOS SDK %s" % g.build.sdk] if g.build.sdk
                                                                      else [])
            lines.append("      install: two steps, TensorFlow first, then the sdist built against it (%s); the "
                         "build needs %s" % (" ".join(g.install_flags), ", ".join(needs) or "nothing more"))
        else:
            lines.append("      install: one step, a prebuilt wheel with TensorFlow")
        if g.conflicts:
            lines.append("      conflicts: %s (same tensorflow-plugins/%s)" % (", ".join(g.conflicts), g.library))
        if g.declines or g.expected:
            lines.append("      stderr: declines %s; expected %s (invoke diagnose explains them)" % (
                ", ".join(g.declines) or "-", ", ".join(g.expected) or "-"))
        if g.why:
            lines.append("      why: %s" % g.why)
        lines.append("      source: %s" % g.source)
    pair_row = "  %-10s %-23s %-7s %-20s %-6s %-12s %s"
    lines += ["", "Known TensorFlow / plugin pairs (each with its source, and the error of a broken one):",
              pair_row % ("tensorflow", "plugin", "version", "python", "macOS", "reported", "static")]
    for p in m.pairs:
        j = judged(k, p)
        note = p.source + ("  [%s: %s]" % (p.phase or "import", p.error) if p.error else "")
        static = "-" if j.static is None else STATIC_CODES[j.static.kind]
        if j.agrees is False:
            static += " (DISAGREES)"
        lines.append(pair_row % (str(p.tensorflow).lstrip("="), p.plugin, p.metal, ",".join(p.python),
                                 str(p.macos).lstrip(">="), p.status, static))
        lines.append("      %s" % note)
    return wrapped(lines)


def compare(k: Knowledge) -> list[dict[str, str]]:
    """Each matrix pair with a reported import outcome that the static verdict covers: report against verdict."""
    rows = []
    for pair in k.matrix.pairs:
        j = judged(k, pair)
        if j.agrees is None or j.static is None:
            continue
        rows.append({"tensorflow": str(pair.tensorflow), "metal": str(pair.metal), "plugin": pair.plugin,
                     "reported": j.reported_import or "", "predicted": j.static.short(),
                     "agrees": "yes" if j.agrees else "no"})
    return rows


def abi_lines(k: Knowledge, tensorflow: str | None = None, metal: str | None = None,
              plugin: str = "tensorflow-metal") -> list[str] | None:
    """The lines `invoke abi` prints: one pair explained (a plugin wheel by the static check of the binaries, a
    plugin sdist by what it declares), or the grid of static verdicts and every plugin sdist's declarations, then
    the kernel C API exports (of ``tensorflow``, or one line per recorded TensorFlow). None when nothing recorded
    covers the request."""
    if metal is not None and k.declaration(plugin, metal) is not None:
        lines = declared_pair_lines(k, tensorflow, metal, plugin) if tensorflow else declared_lines(k, None, plugin)
    else:
        grid = pair_lines(k, tensorflow, metal, plugin)
        if grid is None:
            return None
        lines = grid
        if metal is None:
            lines += [line for name in sorted(k.declared) for line in [""] + declared_lines(k, tensorflow, name)]
    return lines + [""] + (kernel_api_lines(k, tensorflow) if tensorflow else kernel_api_summary(k))


def declared_lines(k: Knowledge, tensorflow: str | None, plugin: str) -> list[str]:
    """Each recorded release of a plugin published as an sdist: what it declares, and (with ``tensorflow``) the
    judgement of the pair."""
    head = "%s: an sdist compiled at install time, judged by what each release declares (no binary to read)" % plugin
    row = "  %-8s %-22s %-16s %-9s %s"
    lines = [head, row % ("release", "declares tensorflow", "builds against", "python",
                          "with TensorFlow %s" % tensorflow if tensorflow else "build requirements")]
    for version, record in sorted(k.declared.get(plugin, {}).items(), key=lambda kv: Version(kv[0])):
        if tensorflow:
            j = judge_pair(k, tensorflow, version, plugin)
            last = "%s: %s" % (j.verdict, j.reason)
        else:
            last = ", ".join(record.get("build_requires") or []) or "-"
        lines.append(row % (version, record.get("tensorflow") or "-", record.get("tf_supported_version") or "-",
                            record.get("requires_python") or "-", last))
    return lines


def declared_pair_lines(k: Knowledge, tensorflow: str, version: str, plugin: str) -> list[str]:
    """One TensorFlow with one release of an sdist plugin: its declarations, the report, the judgement."""
    record = k.declaration(plugin, version) or {}
    j = judge_pair(k, tensorflow, version, plugin)
    admits = "admits" if j.phase != "install" else "excludes"
    lines = ["TensorFlow %s + %s %s (macOS arm64, what the sdist declares): Requires-Dist tensorflow%s %s %s" % (
        tensorflow, plugin, version, record.get("tensorflow") or " (none)", admits, tensorflow),
        "  Requires-Python %s; builds with %s; TF_SUPPORTED_VERSION %s" % (
            record.get("requires_python") or "-", ", ".join(record.get("build_requires") or []) or "nothing declared",
            record.get("tf_supported_version") or "-"),
        "  %s (sha256 %s...)" % (record.get("file"), str(record.get("sha256"))[:12])]
    if j.reported is not None:
        p = j.reported
        lines.append("reported: %s%s (%s)" % (p.status, " (%s): %s" % (p.phase or "import", p.error)
                                             if p.error else "", p.source))
    lines.append("judgement: %s, %s" % (j.verdict, j.reason))
    return lines + ["Declaring is not loading: the build and the import decide (`invoke setup`, `invoke verify`)."]


def pair_lines(k: Knowledge, tensorflow: str | None, metal: str | None, plugin: str) -> list[str] | None:
    """One pair explained, or the grid of static verdicts; None when no fingerprint covers the request."""
    def same_line(a: str, b: str) -> bool:
        return Version(a).release[:2] == Version(b).release[:2]

    verdicts = [v for v in abi.grid(k.fingerprints, plugin) if (not tensorflow or same_line(v.tensorflow, tensorflow))
                and (not metal or Version(v.metal) == Version(metal))]
    if not verdicts:
        return None
    if tensorflow and metal:
        v = verdicts[0]
        j = judge_pair(k, v.tensorflow, v.metal, plugin)
        lines = ["TensorFlow %s + %s %s (macOS arm64, static check of the wheels): %s" % (
            v.tensorflow, plugin, v.metal, v.error or "loads")] + ["  " + ln for ln in v.explain()]
        if j.reported is not None:
            p = j.reported
            lines.append("reported: %s%s (%s)" % (p.status, " (%s): %s" % (p.phase or "import", p.error)
                                                 if p.error else "", p.source))
        lines.append("judgement: %s, %s" % (j.verdict, j.reason))
        if j.agrees is not None:
            lines.append("static verdict and report: %s" % ("agree" if j.agrees else "DISAGREE"))
        return lines + ["Loading is not running: a pair that loads can still fail later."]
    metals = sorted({v.metal for v in verdicts}, key=Version)
    lines = ["Static verdicts of tensorflow-metal (L: loads, S: symbol not found, F: flat-namespace symbol not found, "
             "N: library not loaded)", "  %-11s %s" % ("tensorflow", " ".join("%-6s" % x for x in metals))]
    codes = {"loads": "L", "symbol": "S", "library": "N"}
    for tf_version in sorted({v.tensorflow for v in verdicts}, key=Version):
        row = {v.metal: ("F" if v.error and "flat namespace" in v.error else codes[v.kind])
               for v in verdicts if v.tensorflow == tf_version}
        lines.append("  %-11s %s" % (tf_version, " ".join("%-6s" % row.get(x, "-") for x in metals)))
    rows = compare(k)
    lines.append("\nAgainst user reports in %s: %d agree, %d disagree" % (
        k.path.name, sum(r["agrees"] == "yes" for r in rows), sum(r["agrees"] == "no" for r in rows)))
    lines += ["  DISAGREE %s + %s: reported %s, predicted %s" % (r["tensorflow"], r["metal"], r["reported"],
                                                                r["predicted"]) for r in rows if r["agrees"] == "no"]
    return lines


def kernel_api_summary(k: Knowledge) -> list[str]:
    """One line per recorded TensorFlow: how many of the header's functions its wheel exports."""
    lines = ["Kernel C API for resource variables (%s), exported by the macOS arm64 wheels:" % kernel_api.HEADER]
    for fact in sorted(k.kernel_facts["tensorflow"], key=lambda f: Version(f["version"])):
        api = kernel_api.judge(fact)
        missing = "" if api.complete else "  (missing: %s%s)" % (", ".join(api.missing[:3]),
                                                                ", ..." if len(api.missing) > 3 else "")
        lines.append("  %-11s %2d of %d%s" % (api.tensorflow, len(api.declared) - len(api.missing), len(api.declared),
                                             missing))
    return lines + ["  `invoke abi --tensorflow V` says what that means for each plugin."]


def kernel_api_lines(k: Knowledge, tensorflow: str) -> list[str]:
    """What `invoke abi --tensorflow V` says of V's kernel C API exports and what they mean for each plugin."""
    api = k.kernel_c_api(tensorflow)
    if api is None:
        return ["Kernel C API for resource variables: TensorFlow %s is not recorded in %s" % (
            tensorflow, kernel_api.DATA_PATH.name)]
    total = len(api.declared)
    if api.complete:
        head = "Kernel C API for resource variables (%s): all %d functions exported" % (kernel_api.HEADER, total)
    else:
        head = "Kernel C API for resource variables (%s): %d of %d functions exported by no binary of the wheel" % (
            kernel_api.HEADER, len(api.missing), total)
    lines = [head + " (%s, sha256 %s...)" % (api.wheel, api.sha256[:12])]
    if api.missing:
        lines.append("  missing: " + ", ".join(api.missing))
    lines += ["  " + kernel_api.plugin_effect(p, api) for p in k.kernel_facts["plugins"]]
    if api.missing:
        lines.append("  " + k.kernel_facts["upstream"])
    return lines
