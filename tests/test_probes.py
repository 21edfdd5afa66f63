"""The packages probe, on distributions made for the test (a dist-info folder is what importlib.metadata reads)."""

from __future__ import annotations


def test_unmet_requirements_name_only_installed_distributions(tmp_path, monkeypatch):
    """tensorflow-cpu provides the `tensorflow` name for requirements, but is the only one reported."""
    from checks import knowledge
    from checks.probes.packages import unmet_requirements

    for name, version, requires in (("tensorflow_cpu", "2.19.1", ["zz-missing-numpy<2.2"]),
                                    ("needs_tf", "1.0", ["tensorflow>=2.19,<2.20"])):
        info = tmp_path / ("%s-%s.dist-info" % (name, version))
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
            name.replace("_", "-"), version, "".join("Requires-Dist: %s\n" % r for r in requires)))
    monkeypatch.syspath_prepend(str(tmp_path))
    names = knowledge.load().matrix.tensorflows
    mine = [p for p in unmet_requirements(names) if "zz-missing-numpy" in p or "needs-tf" in p]
    assert mine == ["tensorflow-cpu 2.19.1 requires zz-missing-numpy<2.2, which is not installed"]
