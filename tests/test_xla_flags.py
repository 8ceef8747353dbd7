"""playground/xla_flags.py: the XLA:CPU options go into XLA_FLAGS, a user's own choice wins."""

import os
import subprocess
import sys

from playground import xla_flags


def test_apply_appends_to_empty_and_to_other_flags():
    env = {}
    assert xla_flags.apply(env) == "--xla_cpu_use_fusion_emitters=false"
    assert env["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=false"
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    xla_flags.apply(env)
    assert env["XLA_FLAGS"] == ("--xla_force_host_platform_device_count=2 "
                                "--xla_cpu_use_fusion_emitters=false")


def test_apply_keeps_the_users_setting_and_is_idempotent():
    env = {"XLA_FLAGS": "--xla_cpu_use_fusion_emitters=true"}
    xla_flags.apply(env)
    assert env["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"
    env = {}
    xla_flags.apply(env)
    xla_flags.apply(env)
    assert env["XLA_FLAGS"].count("xla_cpu_use_fusion_emitters") == 1


def test_importing_the_package_sets_it_and_jax_accepts_it():
    """In a fresh process: `import playground` sets the flag, and jax's CPU backend starts with
    it (an unknown XLA flag would abort the process here)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    code = ("import playground, os, jax, jax.numpy as jnp; "
            "print(os.environ['XLA_FLAGS']); print(float(jax.jit(lambda x: x * 2)(jnp.ones(()))))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["--xla_cpu_use_fusion_emitters=false", "2.0"]
