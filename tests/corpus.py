"""The diagnosis corpus (``tests/corpus/*.txt``, format in its README) and how well ``diagnose`` explains it.

``python -m tests.corpus`` prints the figures and every miss; ``tests/test_corpus.py`` holds them to a floor.
Each text goes through the real path of ``invoke diagnose``: the knowledge core's ``diagnose``.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
KEYS = ("source", "date", "cause", "expected", "split")
SPLITS = ("train", "heldout", "heldout2", "heldout3")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Entry:
    slug: str
    file: str
    source: str
    date: str
    cause: str
    expected: str
    split: str
    text: str


def load(directory: Path = CORPUS) -> list[Entry]:
    entries = []
    for path in sorted(directory.glob("*.txt")):
        records = re.split(r"^%%% ", path.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]
        for record in records:
            head, sep, text = record.partition("\n---\n")
            if not sep:
                raise ValueError("%s: record without a --- line: %s" % (path.name, record[:60]))
            slug, *lines = head.split("\n")
            fields = dict(line.split(": ", 1) for line in lines)
            missing = [k for k in KEYS if not fields.get(k)]
            if missing:
                raise ValueError("%s: %s lacks %s" % (path.name, slug, ", ".join(missing)))
            entries.append(Entry(slug.strip(), path.name, text=text.rstrip("\n"),
                                 **{k: fields[k] for k in KEYS}))
    return entries


def verdict(entry: Entry, found_ids: list[str], harmless: set[str]) -> str:
    """right, wrong or unknown. An error is right when the first diagnosis (errors lead) is the expected one;
    a harmless line when no error is claimed and it is among those recognised; an expected "unknown" when no
    error is claimed (harmless lines may be recognised). ``harmless``: the ids of the harmless classes."""
    errors = [i for i in found_ids if i not in harmless]
    if entry.expected == UNKNOWN:
        return "right" if not errors else "wrong"
    if entry.expected in harmless:
        return "wrong" if errors else ("right" if entry.expected in found_ids else "unknown")
    if not errors:
        return "unknown"
    return "right" if errors[0] == entry.expected else "wrong"


def measure(entries: list[Entry]) -> list[tuple[Entry, str, list[str]]]:
    from checks import knowledge

    k = knowledge.load({})
    harmless = {s.id for s in k.signatures if s.harmless}
    out = []
    for e in entries:
        ids = [d.id for d in k.diagnose(e.text)]
        out.append((e, verdict(e, ids, harmless), ids))
    return out


def figures(results: list[tuple[Entry, str, list[str]]]) -> dict[str, float]:
    counts = Counter(v for _, v, _ in results)
    n = len(results) or 1
    return {"n": len(results), "right": counts["right"] / n, "wrong": counts["wrong"] / n,
            "unknown": counts["unknown"] / n}


def report(results: list[tuple[Entry, str, list[str]]]) -> str:
    lines = []
    for split in (None,) + SPLITS:
        part = [r for r in results if split is None or r[0].split == split]
        f = figures(part)
        lines.append("%-8s %4d texts: %5.1f %% right, %4.1f %% wrong, %4.1f %% unknown" % (
            split or "all", f["n"], 100 * f["right"], 100 * f["wrong"], 100 * f["unknown"]))
    misses = [r for r in results if r[1] != "right"]
    if misses:
        lines.append("")
        lines += ["%-7s %s/%s: expected %s, got %s" % (v, e.file, e.slug, e.expected, ", ".join(ids) or "nothing")
                  for e, v, ids in misses]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    try:
        print(report(measure(load())))
    except BrokenPipeError:  # piped into head
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
