"""verify knows the community pair: packages.metal judges it, its "declines" lines fail the device check with the
rebuild, its synchronous-mode line is an expected warning, two plugins fail packages.consistency; and what the
packages probe records (settings that change behaviour, every installed distribution)."""

from __future__ import annotations

import os

from checks import knowledge
from checks.model import Options, Status
from checks.probes import packages as packages_probe
from checks.registry import CHECKS
from tests import machines
from tests.test_diagnose_plugin import PLUGIN_TEXTS
from tests.test_rules import facts_for, packages, tf_facts

K = knowledge.load({})
RULES = {c.id: c.rule for c in CHECKS}
OPTIONS = Options(profile="metal")


def community(tf="2.21.0", plugin="0.4.1", apple=None, stderr="", gpus=("/physical_device:GPU:0",), marker=True):
    pk = packages(tf=tf, metal=apple, marker=marker)
    pk["versions"]["tensorflow-metal-plugin"] = plugin
    pk["metal_plugin"] = "/x/site-packages/tensorflow-plugins/libmetal_plugin.dylib"
    pk["environment"]["prefix"] = str(knowledge.ROOT / ".venv-tf")
    tf_side = tf_facts(gpus=gpus)
    tf_side["tensorflow"]["version"] = tf
    tf_side["process"]["stderr"] = stderr
    return facts_for(machines.M1_NATIVE, pkgs=pk, tf=tf_side)


def check(name, facts):
    return RULES[name](facts, OPTIONS, K)


def test_packages_judge_the_community_pair_as_unconfirmed_with_the_optimizer_limit_explained():
    r = check("packages.metal", community())
    assert r.status == Status.WARN
    assert "TensorFlow 2.21.0 + tensorflow-metal-plugin 0.4.1" in r.summary and "unconfirmed" in r.summary
    assert any(d.startswith("expected: TensorFlow 2.21.0 exports 0 of the 14") for d in r.details)
    assert check("packages.tensorflow", community()).status == Status.PASS  # 2.21.0 is a pin (the community pair)


def test_another_plugin_version_with_tensorflow_2_21_is_unknown_not_verified():
    assert check("packages.metal", community(plugin="0.2.0")).status == Status.WARN


def test_both_plugins_installed_fail_consistency_naming_both_with_the_setup_that_keeps_one():
    r = check("packages.consistency", community(tf="2.19.1", apple="1.2.0"))
    assert r.status == Status.FAIL
    assert "tensorflow-metal 1.2.0 and tensorflow-metal-plugin 0.4.1 are both installed" in r.summary
    assert r.fix.startswith(".tools/bin/invoke setup --env .venv-tf --force --tensorflow 2.19.1  # keeps only "
                            "tensorflow 2.19.1 + tensorflow-metal 1.2.0; or --tensorflow 2.21.0")
    assert check("packages.consistency", community()).status == Status.PASS


def test_built_against_another_tensorflow_fails_the_device_check_with_the_rebuild():
    stderr = "2026-11-27 03:00:00.000000: I tensorflow/core/util/port.cc:153] oneDNN\n" + \
        PLUGIN_TEXTS["metal-plugin-other-tensorflow"] + "\n"
    r = check("devices.gpu", community(stderr=stderr, gpus=()))
    assert r.status == Status.FAIL and "[metal-plugin-other-tensorflow]" in r.summary
    assert "built against TensorFlow 2.21.0 and is loaded into TensorFlow 2.22.0" in r.summary
    assert r.fix == (".tools/bin/invoke setup --env .venv-tf --force --tensorflow 2.21.0  # rebuilds "
                     "tensorflow-metal-plugin against TensorFlow 2.21.0")
    # without a marker: still setup's rebuild; the plugin's own pip rebuild is what helps elsewhere
    r = check("devices.gpu", community(stderr=stderr, gpus=(), marker=False))
    assert r.fix.startswith(".tools/bin/invoke setup --env .venv-tf")
    helps = next(d for d in r.details if d.startswith("what helps: "))
    assert "--no-build-isolation" in helps and "tensorflow==2.21.*" in helps


def test_disabled_by_tf_disable_metal_fails_with_unset():
    r = check("devices.gpu", community(stderr=PLUGIN_TEXTS["metal-plugin-disabled"] + "\n", gpus=()))
    # the user's own setting: no setup command helps, so no fix line; the advice says what does
    assert r.status == Status.FAIL and "[metal-plugin-disabled]" in r.summary and r.fix is None
    assert "what helps: unset TF_DISABLE_METAL" in r.details


def test_the_synchronous_mode_line_is_an_expected_warning_not_a_failure():
    r = check("devices.gpu", community(stderr=PLUGIN_TEXTS["metal-plugin-synchronous"] + "\n"))
    assert r.status == Status.WARN and "expected limit of this pair" in r.summary
    assert "[metal-plugin-synchronous]" in r.summary and r.fix is None
    assert "invoke abi --tensorflow 2.21.0" in " ".join(r.details)
    assert check("devices.gpu", community()).status == Status.PASS  # no line, no warning


def test_no_gpu_without_a_known_line_keeps_the_generic_failure():
    r = check("devices.gpu", community(gpus=()))
    assert r.status == Status.FAIL and "did not register a device" in r.summary


def test_probe_records_the_settings_that_change_behaviour():
    env = {"TF_DISABLE_METAL": "1", "TF_METAL_SYNCHRONOUS": "0", "TF_METAL_SKIP_VERSION_CHECK": "1",
           "TF_USE_LEGACY_KERAS": "1", "SYSTEM_VERSION_COMPAT": "1", "CONDA_PREFIX": "/opt/conda", "HOME": "/h",
           "PYTHONPATH": os.pathsep.join([packages_probe.SUITE_ROOT, "/mine"])}
    got = packages_probe.settings_env(env)
    assert got == {**{k: v for k, v in env.items() if k not in ("HOME", "PYTHONPATH")}, "PYTHONPATH": "/mine"}
    assert "PYTHONPATH" not in packages_probe.settings_env({"PYTHONPATH": packages_probe.SUITE_ROOT})


def test_probe_lists_every_installed_distribution():
    from importlib import metadata

    from packaging.utils import canonicalize_name

    found = packages_probe.installed_distributions()
    assert found["packaging"] == metadata.version("packaging") and found["pytest"] == metadata.version("pytest")
    assert list(found) == sorted(found) and all(name == canonicalize_name(name) for name in found)
    assert len(found) == len({canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()})
