"""Each error quoted in shared/facts/metal-compat.md gets the right diagnosis, also when varied."""

from __future__ import annotations

import subprocess
import sys

import pytest

from checks.diagnose import diagnose, load_signatures
from tests.conftest import ROOT

SIGNATURES = load_signatures()

# Verbatim from metal-compat.md (section in the comment).
QUOTES = {
    "metal-symbol-not-found": (  # §3a, tensorflow/tensorflow#81987
        "tensorflow.python.framework.errors_impl.NotFoundError: dlopen(/opt/miniconda3/envs/metal/lib/python3.10/"
        "site-packages/tensorflow-plugins/libmetal_plugin.dylib, 0x0006): Symbol not found: "
        "__ZN3tsl8internal10LogMessageC1EPKcii\n  Referenced from: <D2EF42E3-3A7F-39DD-9982-FB6BCDC2853C> "
        "/opt/miniconda3/envs/metal/lib/python3.10/site-packages/tensorflow-plugins/libmetal_plugin.dylib\n"
        "  Expected in:     <300F849B-E9A8-3BDA-B8D9-C6617800789D> /opt/miniconda3/envs/metal/lib/python3.10/"
        "site-packages/tensorflow/python/_pywrap_tensorflow_internal.so"),
    "metal-library-not-loaded": (  # §3a, public sample 66371296698
        "NotFoundError: dlopen(/Users/yhlee/work/ai/ml_study/l-regen/.venv/lib/python3.11/site-packages/"
        "tensorflow-plugins/libmetal_plugin.dylib, 0x0006): Library not loaded: @rpath/_pywrap_tensorflow_internal.so\n"
        "  Referenced from: <8B62586B-B082-3113-93AB-FD766A9960AE> /Users/yhlee/work/ai/ml_study/l-regen/.venv/lib/"
        "python3.11/site-packages/tensorflow-plugins/libmetal_plugin.dylib"),
    "metal-flat-namespace": (  # §3a blog, TF 2.10 + metal 0.7.0
        "tensorflow.python.framework.errors_impl.NotFoundError: dlopen(/opt/miniconda3/envs/metal/lib/python3.10/"
        "site-packages/tensorflow-plugins/libmetal_plugin.dylib, 0x0006): symbol not found in flat namespace "
        "'__ZN3tsl8internal10LogMessage16VmoduleActivatedEPKci'"),
    "no-matching-distribution": (  # §3b
        "ERROR: Could not find a version that satisfies the requirement tensorflow-metal (from versions: none)\n"
        "ERROR: No matching distribution found for tensorflow-metal"),
    "avx-under-rosetta": (  # §3c
        "The TensorFlow library was compiled to use AVX instructions, but these aren't available on your machine."),
    "illegal-instruction": "zsh: illegal hardware instruction  python3",  # §3c
    "keras3-legacy-optimizer": (  # §2b
        "ImportError: `keras.optimizers.legacy` is not supported in Keras 3. When using `tf.keras`, to continue "
        "using a `tf.keras.optimizers.legacy` optimizer, you can install the `tf_keras` package (Keras 2) and set "
        "the environment variable `TF_USE_LEGACY_KERAS=True` to configure TensorFlow to use `tf_keras` when "
        "accessing `tf.keras`."),
    "keras2-m1-slow-optimizer": (  # §3e
        "WARNING:absl:At this time, the v2.11+ optimizer `tf.keras.optimizers.Adam` runs slowly on M1/M2 Macs, "
        "please use the legacy Keras optimizer instead, located at `tf.keras.optimizers.legacy.Adam`."),
    "xla-registered-platform": (  # §3e
        "W tensorflow/core/framework/op_kernel.cc:1830] OP_REQUIRES failed at xla_ops.cc:418 : NOT_FOUND: "
        "could not find registered platform with id: 0x13f441e40"),
    "jit-compile-metal": (  # §3e
        "UNIMPLEMENTED: Could not find compiler for platform METAL: NOT_FOUND: could not find registered compiler "
        "for platform METAL -- check target linkage"),
    "no-gpu-kernel": (  # §3g
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: Could not satisfy device specification "
        "'/job:localhost/replica:0/task:0/device:GPU:0'. enable_soft_placement=0. Supported device types [CPU]. "
        "All available devices [/job:localhost/replica:0/task:0/device:GPU:0, "
        "/job:localhost/replica:0/task:0/device:CPU:0]. [Op:StatelessRandomGetKeyCounter]"),
    "protobuf-fatal": (  # §3h
        "[libprotobuf FATAL google/protobuf/message_lite.cc:353] CHECK failed: target + size == res: \n"
        "libc++abi: terminating due to uncaught exception of type google::protobuf::FatalException: CHECK failed: "
        "target + size == res: "),
    "abseil-mutex": (  # §3h
        "libc++abi: terminating due to uncaught exception of type std::__1::system_error: mutex lock failed: "
        "Invalid argument\nzsh: abort      python"),
    "mps-oom-runner": (  # §3h
        "RuntimeError: MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, max allowed: "
        "7.93 GB). Tried to allocate 256 bytes on private pool."),
}

VARIANTS = {  # other paths, versions, symbols, packages, ids
    "metal-symbol-not-found": ("NotFoundError: dlopen(/home/ü ser/.venv-tf/lib/python3.12/site-packages/tensorflow-"
                               "plugins/libmetal_plugin.dylib, 0x0006): Symbol not found: "
                               "__ZN3tsl8internal15LogMessageFatalC1EPKci"),
    "metal-library-not-loaded": ("dlopen(/opt/homebrew/envs/x/lib/python3.9/site-packages/tensorflow-plugins/"
                                 "libmetal_plugin.dylib, 0x0006): Library not loaded: "
                                 "@rpath/_pywrap_tensorflow_internal.so\n  Reason: tried: '/opt/x' (no such file)"),
    "no-matching-distribution": "ERROR: No matching distribution found for tensorflow==2.17.0",
    "xla-registered-platform": "could not find registered platform with id: 0x106170d30",
    "no-gpu-kernel": "No registered 'RngReadAndSkip' OpKernel for 'GPU' devices compatible with node",
}


@pytest.mark.parametrize("expected,text", sorted(QUOTES.items()) + sorted(VARIANTS.items()))
def test_each_known_error_gets_its_diagnosis(expected, text):
    found = diagnose(text, SIGNATURES)
    assert found and found[0].id == expected, [d.id for d in found]
    assert found[0].fix and found[0].source


def test_placeholders_carry_the_symbol_from_the_message():
    d = diagnose(VARIANTS["metal-symbol-not-found"], SIGNATURES)[0]
    assert "__ZN3tsl8internal15LogMessageFatalC1EPKci" in d.cause
    assert "tensorflow==2.17.0" in diagnose(VARIANTS["no-matching-distribution"], SIGNATURES)[0].cause


def test_plugin_patterns_need_the_plugin_in_the_message():
    assert [d.id for d in diagnose("Symbol not found: _foo in libbar.dylib", SIGNATURES)] == []


def test_cli_reads_stdin_and_says_so_when_unknown():
    cmd = [sys.executable, "-m", "checks", "diagnose", "-"]
    done = subprocess.run(cmd, input=QUOTES["metal-library-not-loaded"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "[metal-library-not-loaded]" in done.stdout
    done = subprocess.run(cmd, input="Segmentation fault in foo", capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and "no known diagnosis" in done.stdout and "report" in done.stdout
    done = subprocess.run(cmd[:-1] + ["/nonexistent"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
