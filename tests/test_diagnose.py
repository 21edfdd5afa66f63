"""Each real error message gets the right diagnosis, also when varied; harmless log lines are classed
harmless; a whole log leads with the real error; a diagnosis claims only what the text shows and its fix
fits the machine when the caller knows it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from checks.diagnose import Machine, diagnose, errors, load_signatures, render
from tests import corpus
from tests.conftest import ROOT

SIGNATURES = load_signatures()

# Verbatim from the research notes on tensorflow-metal (section and public source in the comment).
QUOTES = {
    "metal-symbol-not-found": (  # docs/facts/errors.md "Plugin ABI", tensorflow/tensorflow#81987
        "tensorflow.python.framework.errors_impl.NotFoundError: dlopen(/opt/miniconda3/envs/metal/lib/python3.10/"
        "site-packages/tensorflow-plugins/libmetal_plugin.dylib, 0x0006): Symbol not found: "
        "__ZN3tsl8internal10LogMessageC1EPKcii\n  Referenced from: <D2EF42E3-3A7F-39DD-9982-FB6BCDC2853C> "
        "/opt/miniconda3/envs/metal/lib/python3.10/site-packages/tensorflow-plugins/libmetal_plugin.dylib\n"
        "  Expected in:     <300F849B-E9A8-3BDA-B8D9-C6617800789D> /opt/miniconda3/envs/metal/lib/python3.10/"
        "site-packages/tensorflow/python/_pywrap_tensorflow_internal.so"),
    "metal-library-not-loaded": (  # docs/facts/errors.md "Plugin ABI", public sample 66371296698
        "NotFoundError: dlopen(/Users/yhlee/work/ai/ml_study/l-regen/.venv/lib/python3.11/site-packages/"
        "tensorflow-plugins/libmetal_plugin.dylib, 0x0006): Library not loaded: @rpath/_pywrap_tensorflow_internal.so\n"
        "  Referenced from: <8B62586B-B082-3113-93AB-FD766A9960AE> /Users/yhlee/work/ai/ml_study/l-regen/.venv/lib/"
        "python3.11/site-packages/tensorflow-plugins/libmetal_plugin.dylib"),
    "metal-flat-namespace": (  # docs/facts/errors.md "Plugin ABI" (a blog), TF 2.10 + metal 0.7.0
        "tensorflow.python.framework.errors_impl.NotFoundError: dlopen(/opt/miniconda3/envs/metal/lib/python3.10/"
        "site-packages/tensorflow-plugins/libmetal_plugin.dylib, 0x0006): symbol not found in flat namespace "
        "'__ZN3tsl8internal10LogMessage16VmoduleActivatedEPKci'"),
    "no-matching-distribution": (  # docs/facts/errors.md "No wheel"
        "ERROR: Could not find a version that satisfies the requirement tensorflow-metal (from versions: none)\n"
        "ERROR: No matching distribution found for tensorflow-metal"),
    "avx-under-rosetta": (  # docs/facts/errors.md "Rosetta"
        "The TensorFlow library was compiled to use AVX instructions, but these aren't available on your machine."),
    "illegal-instruction": "zsh: illegal hardware instruction  python3",  # docs/facts/errors.md "Rosetta"
    "keras3-legacy-optimizer": (  # docs/facts/errors.md "Optimizers and XLA"
        "ImportError: `keras.optimizers.legacy` is not supported in Keras 3. When using `tf.keras`, to continue "
        "using a `tf.keras.optimizers.legacy` optimizer, you can install the `tf_keras` package (Keras 2) and set "
        "the environment variable `TF_USE_LEGACY_KERAS=True` to configure TensorFlow to use `tf_keras` when "
        "accessing `tf.keras`."),
    "keras2-m1-slow-optimizer": (  # docs/facts/errors.md "Optimizers and XLA"
        "WARNING:absl:At this time, the v2.11+ optimizer `tf.keras.optimizers.Adam` runs slowly on M1/M2 Macs, "
        "please use the legacy Keras optimizer instead, located at `tf.keras.optimizers.legacy.Adam`."),
    "xla-registered-platform": (  # docs/facts/errors.md "Optimizers and XLA"
        "W tensorflow/core/framework/op_kernel.cc:1830] OP_REQUIRES failed at xla_ops.cc:418 : NOT_FOUND: "
        "could not find registered platform with id: 0x13f441e40"),
    "jit-compile-metal": (  # docs/facts/errors.md "Optimizers and XLA"
        "UNIMPLEMENTED: Could not find compiler for platform METAL: NOT_FOUND: could not find registered compiler "
        "for platform METAL -- check target linkage"),
    "no-gpu-kernel": (  # docs/facts/errors.md "Ops without a GPU kernel"
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: Could not satisfy device specification "
        "'/job:localhost/replica:0/task:0/device:GPU:0'. enable_soft_placement=0. Supported device types [CPU]. "
        "All available devices [/job:localhost/replica:0/task:0/device:GPU:0, "
        "/job:localhost/replica:0/task:0/device:CPU:0]. [Op:StatelessRandomGetKeyCounter]"),
    "protobuf-fatal": (  # docs/facts/errors.md "Import crashes"
        "[libprotobuf FATAL google/protobuf/message_lite.cc:353] CHECK failed: target + size == res: \n"
        "libc++abi: terminating due to uncaught exception of type google::protobuf::FatalException: CHECK failed: "
        "target + size == res: "),
    "abseil-mutex": (  # docs/facts/errors.md "Import crashes"
        "libc++abi: terminating due to uncaught exception of type std::__1::system_error: mutex lock failed: "
        "Invalid argument\nzsh: abort      python"),
    "mps-oom-runner": (  # docs/facts/errors.md "Import crashes"
        "RuntimeError: MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, max allowed: "
        "7.93 GB). Tried to allocate 256 bytes on private pool."),
}

# Verbatim from public issues (source in the comment); the same sources are in envs/diagnoses.json.
REAL = {
    "no-gpu-kernel": (  # tensorflow/tensorflow#53026 (TF 2.6 + tensorflow-metal): the wording TF 2.19 still has
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: Cannot assign a device for operation "
        "loader/GeneratorDataset: Could not satisfy explicit device specification '/device:GPU:0' because no "
        "supported kernel for GPU devices is available."),
    "keras3-legacy-optimizer": (  # mrosol/Nonlincausality#11: copied from a rendered page, no backticks
        "ImportError: keras.optimizers.legacy is not supported in Keras 3. When using tf.keras, to continue using a "
        "tf.keras.optimizers.legacy optimizer, you can install the tf_keras package (Keras 2) and set the "
        "environment variable TF_USE_LEGACY_KERAS=True to configure TensorFlow to use tf_keras when accessing "
        "tf.keras."),
    "numpy2-abi": (  # tensorflow/tensorflow#102743 (TF 2.14 with NumPy 2.3.4)
        "A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.3.4 as it may crash. To support both "
        "1.x and 2.x\nversions of NumPy, modules must be compiled with NumPy 2.0.\nSome module may need to rebuild "
        "instead e.g. with 'pybind11>=2.12'.\n\nIf you are a user of the module, the easiest solution will be to\n"
        "downgrade to 'numpy<2' or try to upgrade the affected module.\nWe expect that some modules will need time "
        "to support"),
    "unsupported-wheel": (  # tensorflow/tensorflow#50108
        "ERROR: tensorflow-2.6.0-cp38-cp38-macosx_11_0_x86_64.whl is not a supported wheel on this platform."),
    "segmentation-fault": (  # apple/tensorflow_macos#19
        "5000/5000 [==============================] - ETA: 0s - loss: 2.3416 - accuracy: 0.3065zsh: segmentation "
        "fault  python cifar10_cnn.py"),
    "tls-certificate": (  # tensorflow/tensorflow#70901: the certificate, then "No matching distribution"
        "Collecting tensorflow-1.12.0\n  Could not fetch URL https://pypi.python.org/simple/tensorflow-1-12-0/: "
        "There was a problem confirming the ssl certificate: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
        "failed (_ssl.c:728) - skipping\n  Could not find a version that satisfies the requirement "
        "tensorflow-1.12.0 (from versions: )\nNo matching distribution found for tensorflow-1.12.0"),
    "wrong-architecture": (  # tensorflow/tensorflow#57483
        "tried: '/Library/Frameworks/Python.framework/Versions/3.10/lib/python3.10/site-packages/tensorflow/python/"
        "_pywrap_tensorflow.so' (mach-o file, but is an incompatible architecture (have (x86_64), need (arm64e)))"),
    "gpu-plugin-loaded-twice": (  # pleonard212/pix-plot#268 (M1 Max, Python 3.10)
        "F tensorflow/c/experimental/stream_executor/stream_executor.cc:808] Non-OK-status: "
        "stream_executor::MultiPlatformManager::RegisterPlatform( std::move(cplatform)) status: INTERNAL: platform is "
        "already registered with name: \"METAL\"\nAbort trap: 6"),
    "metal-command-buffer": (  # tensorflow/tensorflow#57058 (TF 2.8, M1 Max)
        "Error: command buffer exited with error status.\n\tThe Metal Performance Shaders operations encoded on it "
        "may not have completed.\n\tError: \n\t(null)\n\tInternal Error (0000000e:Internal Error)\n"
        "\t<AGXG13XFamilyCommandBuffer: 0x1665c64e0>"),
}

HARMLESS = {
    "harmless-numa-metal": (  # tensorflow/tensorflow#60081
        "2023-03-23 17:29:40.4: I tensorflow/core/common_runtime/pluggable_device/pluggable_device_factory.cc:306] "
        "Could not identify NUMA node of platform GPU ID 0, defaulting to 0. Your kernel may not have been built "
        "with NUMA support."),
    "harmless-numa-sysfs": (  # tensorflow/tensorflow#56456
        "2022-06-14 21:22:40.505725: I tensorflow/stream_executor/cuda/cuda_gpu_executor.cc:975] successful NUMA "
        "node read from SysFS had negative value (-1), but there must be at least one NUMA node, so returning NUMA "
        "node zero"),
    "harmless-cpu-frequency": (  # apple/tensorflow_macos#251
        "2021-05-04 11:49:31.463530: W tensorflow/core/platform/profile_utils/cpu_utils.cc:126] Failed to get CPU "
        "frequency: 0 Hz"),
    "harmless-metal-device": "Metal device set to: Apple M1\n\nsystemMemory: 16.00 GB\nmaxCacheSize: 5.33 GB",  # #60395
    "harmless-pluggable-device": (  # tensorflow/tensorflow#53026
        "I tensorflow/core/common_runtime/pluggable_device/pluggable_device_factory.cc:271] Created TensorFlow "
        "device (/device:GPU:0 with 0 MB memory) -> physical PluggableDevice (device: 0, name: METAL, pci bus id: "
        "<undefined>)"),
    "harmless-plugin-optimizer": (  # Kamlesh364/Mask-RCNN-TF2.7.0-keras2.7.0#16
        "2022-09-23 14:43:46.705818: I tensorflow/core/grappler/optimizers/custom_graph_optimizer_registry.cc:114] "
        "Plugin optimizer for device_type GPU is enabled."),
    "harmless-cpu-instructions": (  # tensorflow/tensorflow#56456
        "I tensorflow/core/platform/cpu_feature_guard.cc:193] This TensorFlow binary is optimized with oneAPI Deep "
        "Neural Network Library (oneDNN) to use the following CPU instructions in performance-critical operations:"
        "  AVX2 FMA"),
    "harmless-no-cuda": (  # remigenet/TKAT#5
        "W tensorflow/core/common_runtime/gpu/gpu_device.cc:2256] Cannot dlopen some GPU libraries. Please make sure "
        "the missing libraries mentioned above are installed properly if you would like to use GPU."),
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
    "segmentation-fault": ("1.1 - inference | batch=50, size=224x224: 804 ± 35 ms\n"  # apple/tensorflow_macos#95
                           "[1]    4458 segmentation fault  python"),
    "numpy2-abi": ("    from tensorflow.python.client._pywrap_tf_session import *\n"  # nv-tlabs/vipe#42
                   "AttributeError: _ARRAY_API not found"),
}


@pytest.mark.parametrize("expected,text", sorted(QUOTES.items()) + sorted(REAL.items()) + sorted(VARIANTS.items()))
def test_each_known_error_gets_its_diagnosis(expected, text):
    found = diagnose(text, SIGNATURES)
    assert found and found[0].id == expected, [d.id for d in found]
    assert found[0].fix and found[0].source and not found[0].harmless


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
    unknown = next(e.text for e in corpus.load() if e.slug == "unknown-libgomp-not-loaded")  # a real, unknown error
    done = subprocess.run(cmd, input=unknown, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and "no known diagnosis" in done.stdout and "report" in done.stdout
    done = subprocess.run(cmd[:-1] + ["/nonexistent"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2


@pytest.mark.parametrize("expected,text", sorted(HARMLESS.items()))
def test_harmless_log_lines_are_classed_harmless(expected, text):
    found = diagnose(text, SIGNATURES)
    assert [(d.id, d.harmless) for d in found] == [(expected, True)]
    assert errors(found) == [] and "no known diagnosis" not in render(found) and "harmless" in render(found)


def test_a_whole_log_leads_with_the_real_error_and_ends_with_the_harmless_lines():
    log = "\n".join([HARMLESS["harmless-metal-device"], HARMLESS["harmless-numa-metal"],
                     HARMLESS["harmless-pluggable-device"], REAL["no-gpu-kernel"], HARMLESS["harmless-cpu-frequency"]])
    found = diagnose(log, SIGNATURES)
    assert found[0].id == "no-gpu-kernel" and [d.harmless for d in found] == [False, True, True, True, True]
    text = render(found)
    assert text.index("[no-gpu-kernel]") < text.index("[harmless-")


def test_a_certificate_failure_is_not_explained_as_a_wrong_python():
    found = diagnose(REAL["tls-certificate"], SIGNATURES)
    assert [d.id for d in found] == ["tls-certificate"]  # "No matching distribution" is its consequence
    assert "SSL_CERT_FILE" in found[0].fix and "wrong Python" in found[0].cause
    alone = diagnose("ERROR: No matching distribution found for tensorflow", SIGNATURES)
    assert alone[0].id == "no-matching-distribution"


def test_uv_behind_a_proxy_is_a_certificate_problem_not_a_network_one():
    # uv 0.13.9 on this project's Linux test machine, SSL_CERT_FILE unset, behind a TLS-inspecting proxy
    uv = ("error: Failed to fetch: https://pypi.org/simple/six/\n  cause: error sending request for url "
          "(https://pypi.org/simple/six/)\n  cause: client error (Connect)\n  cause: invalid peer certificate: "
          "UnknownIssuer\n\nhint: Consider enabling use of system TLS certificates with the `--system-certs` "
          "command-line flag")
    assert [d.id for d in diagnose(uv, SIGNATURES)] == ["tls-certificate"]


def test_symbol_not_found_claims_only_what_the_symbol_shows():
    known = diagnose(QUOTES["metal-symbol-not-found"], SIGNATURES)[0]
    assert "tensorflow-metal 1.1.0" in known.cause and "2.18 and 2.19" in known.cause
    other = diagnose(VARIANTS["metal-symbol-not-found"], SIGNATURES)[0]  # a symbol the table does not map to a pair
    assert "1.1.0" not in other.cause and "2.18" not in other.cause and "pip list" in other.cause


@pytest.mark.parametrize("machine,pin", [
    (Machine("macos", "arm64", False, "metal"), True),
    (Machine("macos", "x86_64", True, "metal"), False),  # Rosetta
    (Machine("macos", "x86_64", False, "cpu"), False),  # Intel Mac
])
def test_the_fix_fits_the_machine(machine, pin):
    for quote in (QUOTES["metal-symbol-not-found"], QUOTES["metal-flat-namespace"]):
        fix = diagnose(quote, SIGNATURES, machine)[0].fix
        assert ("tensorflow-metal==1.2.0" in fix) == pin, fix
    generic = diagnose(QUOTES["metal-symbol-not-found"], SIGNATURES)[0].fix
    assert "arm64" in generic and "x86_64" in generic  # unknown machine: the condition is said


def test_verify_fits_the_fix_to_the_recorded_machine():
    from tests import machines
    from tests.test_rules import facts_for, run

    stderr = QUOTES["metal-symbol-not-found"] + "\n" + HARMLESS["harmless-cpu-frequency"]
    tf = {"stage": "import", "process": {"returncode": 1, "signal": None, "timed_out": False, "stderr": stderr}}
    native = run(facts_for(machines.M1_NATIVE, tf=tf))[0]["devices.import"]
    rosetta = run(facts_for(machines.ROSETTA, tf=tf))[0]["devices.import"]
    helps = [next(d for d in r.details if d.startswith("what helps: ")) for r in (native, rosetta)]
    assert "[metal-symbol-not-found]" in native.summary and "tensorflow-metal==1.2.0" in helps[0]
    assert "tensorflow-metal==1.2.0" not in helps[1] and "arm64" in helps[1]
    assert native.fix.startswith(".tools/bin/invoke setup --env /x --force")  # the fix line is a command
    assert "harmless" not in " ".join(native.details)


def test_cli_says_harmless_lines_are_harmless():
    cmd = [sys.executable, "-m", "checks", "diagnose", "-"]
    done = subprocess.run(cmd, input=HARMLESS["harmless-numa-metal"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "harmless" in done.stdout and "no known diagnosis" not in done.stdout


def test_every_pattern_compiles():
    """The signatures' patterns are compiled when first searched (every command loads them, few diagnose), so a
    malformed one is caught here rather than at load."""
    import re

    from checks.diagnose import FLAGS

    for sig in SIGNATURES:
        for pattern in sig.patterns + sig.needs + sig.extract:
            re.compile(pattern, FLAGS)


def test_advice_names_the_suites_commands_as_they_run_from_the_repository_root():
    """'what helps' is advice, not a fix line, but a command it names works pasted: `.tools/bin/invoke …` naming the
    environment the text is about ({env}, filled in), never a bare `invoke` (not on PATH) nor a literal ENV."""
    import re

    for sig in load_signatures():
        for advice in (sig.fix, *(fix for _, fix in sig.fixes)):
            assert not re.search(r"\bENV\b", advice), (sig.id, advice)
            for use in re.findall(r"(\S*invoke (?:setup|verify)[^`]*)", advice):
                assert use.lstrip("`(").startswith(".tools/bin/invoke") and "--env {env}" in use, (sig.id, use)


def test_advice_names_the_environment_the_text_is_about():
    from checks import knowledge
    from checks.diagnose import diagnose

    k = knowledge.load()
    text = "Illegal instruction (core dumped)"
    assert "--env .venv-tf " in diagnose(text, k.signatures)[0].fix + " "  # invoke diagnose: the default one
    found = diagnose(text, k.signatures, env="/tmp/my env")[0]
    assert "--env '/tmp/my env'" in found.fix and "{env}" not in found.fix, found.fix


def test_plugin_version_advice_is_the_suites_command_not_a_bare_pip():
    """Setup's environments have no pip: the Apple plugin's load failures advise `.tools/bin/invoke setup`, and an
    uninstall goes through the tools' uv with the environment's interpreter."""
    for sig in load_signatures():
        if sig.id in ("metal-symbol-not-found", "metal-flat-namespace", "metal-library-not-loaded"):
            for advice in (sig.fix, *(fix for _, fix in sig.fixes)):
                assert "pip install" not in advice.replace(".tools/bin/uv pip", ""), (sig.id, advice)
                assert advice.startswith((".tools/bin/", "a native arm64 Python")), (sig.id, advice)


def test_details_are_extracted_where_the_message_has_them():
    timeout = ("Error: command buffer exited with error status.\n\tThe Metal Performance Shaders operations encoded on "
               "it may not have completed.\n\tError: \n\t(null)\n\tCaused GPU Timeout Error "
               "(00000002:kIOAccelCommandBufferCallbackErrorTimeout)")  # pytorch/pytorch#125954
    assert "(Caused GPU Timeout Error)" in diagnose(timeout, SIGNATURES)[0].cause
    assert "[Op:StatelessRandomGetKeyCounter]" in QUOTES["no-gpu-kernel"]
    assert "(StatelessRandomGetKeyCounter)" in diagnose(QUOTES["no-gpu-kernel"], SIGNATURES)[0].cause
