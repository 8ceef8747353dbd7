"""JAX_PLATFORMS naming an accelerator this jax lacks: one stderr line and exit 2 from every CLI."""

import os
import pathlib
import subprocess
import sys

import pytest

from playground.platforms import PlatformError, check_jax_platforms, jax_plugins

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_cpu_unset_and_unknown_platforms_pass():
    for value in ("", "cpu", " CPU ", "interpreter", "METAL"):
        check_jax_platforms(value)


@pytest.mark.skipif(any("cuda" in p for p in jax_plugins()), reason="this jax has CUDA")
def test_cuda_without_a_cuda_plugin_is_one_line():
    for value in ("cuda", "gpu", "cuda,cpu"):
        with pytest.raises(PlatformError) as e:
            check_jax_platforms(value)
        assert f"JAX_PLATFORMS={value}:" in str(e.value) and "\n" not in str(e.value)
        assert "install a CUDA jax" in str(e.value)


def test_an_installed_plugin_is_found_without_importing_jax(tmp_path, monkeypatch):
    (tmp_path / "jax_plugins" / "xla_cuda13").mkdir(parents=True)
    (tmp_path / "jax_plugins" / "xla_cuda13" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "xla_cuda13" in jax_plugins()
    check_jax_platforms("cuda")
    check_jax_platforms("gpu,cpu")


@pytest.mark.skipif(any("cuda" in p for p in jax_plugins()), reason="this jax has CUDA")
@pytest.mark.parametrize("argv", [
    ["playground/train.py", "--verify"],
    ["playground/play.py", "humanoid_walk", "--agent", "zero", "--episodes", "1"],
])
def test_clis_say_it_in_one_line_and_exit_2(argv):
    env = {**os.environ, "JAX_PLATFORMS": "cuda"}
    proc = subprocess.run([sys.executable, *argv], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: JAX_PLATFORMS=cuda:"), proc.stderr
    assert "Traceback" not in proc.stderr
