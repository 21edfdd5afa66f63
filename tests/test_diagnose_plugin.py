"""The community plugin's own messages and its build failures get their diagnoses (texts from its sdist).

Texts are the format strings of tensorflow_metal_plugin-0.4.1.tar.gz (sha256 7ce3f583d679...2bd7) with the
version placeholders filled, as the plugin prints them; file and line in each comment.
"""

from __future__ import annotations

import subprocess

import pytest

from checks import knowledge

diagnose = knowledge.load({}).diagnose  # the signatures of envs/diagnoses.json, read by the knowledge core

PLUGIN_TEXTS = {
    "metal-plugin-other-tensorflow": (  # src/plugin_init.cc:103-111, printed with fprintf(stderr, "%s\n")
        "Metal: this plugin was built against TensorFlow 2.21.0 and is loaded into TensorFlow 2.22.0, so no GPU "
        "device is offered. The PluggableDevice C API matches its structs by size and the two do not "
        "interoperate. Rebuild the plugin against this TensorFlow (pip install --force-reinstall "
        "--no-build-isolation tensorflow-metal-plugin), or set TF_METAL_SKIP_VERSION_CHECK=1 to load it anyway."),
    "metal-plugin-disabled": (  # src/plugin_init.cc:79-84
        "Metal: backend disabled by TF_DISABLE_METAL, so no GPU device is offered. Unset it to re-enable."),
    "metal-plugin-synchronous": (  # metal_kernel_util.mm:219-226, LOG(WARNING) adds TensorFlow's log prefix
        "W0000 00:00:1760000000.000000  1234 metal_kernel_util.mm:220] Metal: this TensorFlow does not export the "
        "kernel C API for resource variables, so its own kernels update variables from the host. Every Metal "
        "kernel now waits for the GPU before returning, which is slower and is the only way those updates cannot "
        "race. See https://github.com/tensorflow/tensorflow/issues/126374."),
    "metal-plugin-build-no-tensorflow": (  # setup.py:63-66, SystemExit text
        "TensorFlow was not found. Install it before this plugin: a PluggableDevice is compiled against the "
        "TensorFlow it will be loaded into, so there is nothing to build against until it is there."),
    "xcode-tools-missing": (  # dwyl/dev-setup#51
        "xcrun: error: invalid active developer path (/Library/Developer/CommandLineTools), missing xcrun at: "
        "/Library/Developer/CommandLineTools/usr/bin/xcrun"),
}

MAKEFILE_TEXT = (  # Makefile:17-22, as GNU make prints $(error ...)
    "Makefile:18: *** TensorFlow was not found by /Users/me/.venv-tf/bin/python. Install it there, point PYTHON at "
    "an interpreter that has it, or pass TF_INCLUDE and TF_LIB explicitly. Note that make resolves a bare `python3` "
    "through /bin/sh, which need not be the one an interactive shell gives you.  Stop.")


@pytest.mark.parametrize("expected,text", sorted(PLUGIN_TEXTS.items()) + [
    ("metal-plugin-build-no-tensorflow", MAKEFILE_TEXT)])
def test_each_plugin_message_gets_its_diagnosis(expected, text):
    found = diagnose(text)
    assert found and found[0].id == expected, [d.id for d in found]
    assert found[0].fix and found[0].source


def test_versions_from_the_message_reach_the_cause():
    d = diagnose(PLUGIN_TEXTS["metal-plugin-other-tensorflow"])[0]
    assert "TensorFlow 2.21.0" in d.cause and "inside TensorFlow 2.22.0" in d.cause
    assert "--no-build-isolation" in d.fix and "--no-cache-dir" in d.fix


def test_missing_make_as_python_really_reports_it(tmp_path):
    """setup.py runs subprocess.check_call(["make", ...]); with no make on PATH Python raises this."""
    with pytest.raises(FileNotFoundError) as err:
        subprocess.check_call(["make", "PYTHON=python3"], env={"PATH": str(tmp_path)})
    assert [d.id for d in diagnose("FileNotFoundError: %s" % err.value)] == ["metal-plugin-build-no-make"]


def test_apple_plugin_errors_are_not_taken_for_the_community_plugin():
    assert not any(d.id.startswith("metal-plugin-") for d in diagnose(
        "dlopen(/x/tensorflow-plugins/libmetal_plugin.dylib, 0x0006): Library not loaded: "
        "@rpath/_pywrap_tensorflow_internal.so"))
