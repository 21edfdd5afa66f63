"""`invoke abi --refresh` fetches wheels for macOS arm64 from the index itself: `.tools/` has no pip."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from checks.errors import StepFailed
from scripts import pypi
from tests.conftest import ROOT

GRID = json.loads((ROOT / "envs" / "abi-grid.json").read_text())

# File names PyPI lists for tensorflow-metal 1.2.0 and tensorflow-macos 2.12.0 (some of them).
METAL_120 = ["tensorflow_metal-1.2.0-cp39-cp39-macosx_12_0_arm64.whl",
             "tensorflow_metal-1.2.0-cp310-cp310-macosx_12_0_arm64.whl",
             "tensorflow_metal-1.2.0-cp311-cp311-macosx_12_0_arm64.whl",
             "tensorflow_metal-1.2.0-cp312-cp312-macosx_12_0_arm64.whl"]
MACOS_212 = ["tensorflow_macos-2.12.0-cp311-cp311-macosx_12_0_arm64.whl",
             "tensorflow_macos-2.12.0-cp311-cp311-macosx_12_0_x86_64.whl",
             "tensorflow_macos-2.12.0-cp310-cp310-macosx_12_0_arm64.whl"]


def listing(names):
    return [{"filename": n, "url": "https://example.invalid/" + n, "hashes": {"sha256": "0" * 64}} for n in names]


def test_the_wheel_for_the_grid_python_and_platform_is_chosen():
    tags = pypi.platform_tags(GRID["platform"], "3.11")
    assert pypi.best_wheel(listing(METAL_120), "1.2.0", tags)["filename"] == METAL_120[2]
    assert pypi.best_wheel(listing(MACOS_212), "2.12.0", tags)["filename"] == MACOS_212[0]
    assert pypi.best_wheel(listing(MACOS_212), "2.12.0", pypi.platform_tags(GRID["platform"], "3.10")
                           )["filename"] == MACOS_212[2]


def test_no_fitting_wheel_is_none():
    tags = pypi.platform_tags(GRID["platform"], "3.13")
    assert pypi.best_wheel(listing(METAL_120), "1.2.0", tags) is None
    assert pypi.best_wheel(listing(METAL_120), "1.1.0", pypi.platform_tags(GRID["platform"], "3.11")) is None
    newer_macos = ["tensorflow_metal-1.2.0-cp311-cp311-macosx_14_0_arm64.whl"]  # needs macOS 14: not for 12
    assert pypi.best_wheel(listing(newer_macos), "1.2.0", pypi.platform_tags(GRID["platform"], "3.11")) is None


def test_a_download_whose_sha256_differs_is_not_kept(tmp_path):
    src = tmp_path / "src" / METAL_120[2]
    src.parent.mkdir()
    src.write_bytes(b"not the wheel")
    out = tmp_path / "cache"
    out.mkdir()
    entry = {"filename": src.name, "url": src.as_uri(), "hashes": {"sha256": "0" * 64}}
    with pytest.raises(StepFailed, match="does not match the sha256"):
        pypi.download(entry, out, fix="x")
    assert list(out.iterdir()) == []
    entry["hashes"]["sha256"] = hashlib.sha256(b"not the wheel").hexdigest()
    assert pypi.download(entry, out, fix="x").read_bytes() == b"not the wheel"
    assert [p.name for p in out.iterdir()] == [src.name]


def test_an_unreachable_index_names_the_index_and_its_error():
    with pytest.raises(StepFailed, match=r"cannot read the package index page http://127\.0\.0\.1:9/tensorflow/"):
        pypi.project("tensorflow", fix="x", index="http://127.0.0.1:9/", timeout=5)


@pytest.mark.network
def test_abi_download_works_with_the_tools_python_which_has_no_pip(tmp_path):
    """The step `invoke abi --refresh` runs for each wheel, in the interpreter of .tools/ (made without pip)."""
    assert subprocess.run([sys.executable, "-c", "import pip"], capture_output=True).returncode != 0
    code = ("import json, sys; from scripts import abi, kernel_api\n"
            "grid = json.load(open('envs/abi-grid.json'))\n"
            "print(abi.download('tensorflow-metal==0.8.0', grid, print).name)\n"
            "print(max(kernel_api.published_versions(), key=len))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    name = "tensorflow_metal-0.8.0-cp311-cp311-macosx_12_0_arm64.whl"
    assert name in done.stdout
    wheel = tmp_path / "tfmetal-abi" / "wheels" / name
    # the sha256 PyPI lists for this wheel
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == (
        "2a6a11a2f702153bb0b6bf44288ba7095b8e0999aba5c9aad219931a15ecf860")
