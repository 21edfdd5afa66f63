"""Coverage of ``invoke diagnose`` on real error texts (tests/corpus): at least 95 % right and at most 1 % wrong on
the whole corpus. Every record is sourced and names a diagnosis that exists; an unknown error still ends in the
report line; docs/DIAGNOSES.md quotes the measured figures."""

from __future__ import annotations

import re

from checks.diagnose import UNKNOWN, load_signatures, render
from tests import corpus

ENTRIES = corpus.load()
RESULTS = corpus.measure(ENTRIES)
IDS = {s.id for s in load_signatures()}
RIGHT, WRONG = 0.95, 0.01


def test_every_record_is_sourced_and_names_a_known_diagnosis():
    slugs = [e.slug for e in ENTRIES]
    assert len(slugs) == len(set(slugs)), "duplicate slugs"
    for e in ENTRIES:
        assert re.match(r"https://\S+$", e.source), e.slug
        assert re.match(r"(\d{4}-\d{2}-\d{2}|unknown)\b", e.date), e.slug
        assert e.expected in IDS | {corpus.UNKNOWN}, e.slug
        assert e.split in corpus.SPLITS and e.text.strip() and e.cause, e.slug


def test_the_corpus_is_large_and_varied():
    assert len(ENTRIES) >= 150
    assert {e.split for e in ENTRIES} == set(corpus.SPLITS)
    assert sum(e.expected == corpus.UNKNOWN for e in ENTRIES) >= 10  # texts that must stay unknown


def test_coverage():
    f = corpus.figures(RESULTS)
    assert f["right"] >= RIGHT and f["wrong"] <= WRONG, corpus.report(RESULTS)


def test_unknown_errors_end_in_the_report_line():
    """A text no class explains gets the report line (what to send and how), as before the classes."""
    from checks import knowledge

    k = knowledge.load({})
    unexplained = [e for e in ENTRIES if not k.diagnose(e.text)]
    assert len(unexplained) >= 10
    for e in unexplained:
        text = render(k.diagnose(e.text))
        assert text == UNKNOWN and "Please report it" in text, e.slug


def test_the_figures_in_the_docs_are_the_measured_ones():
    """docs/DIAGNOSES.md quotes `python -m tests.corpus`; a change of the classes or the corpus updates it."""
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "DIAGNOSES.md").read_text(encoding="utf-8")
    for line in corpus.report(RESULTS).split("\n\n")[0].splitlines():
        assert line in doc, line
