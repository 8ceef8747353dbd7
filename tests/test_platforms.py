"""JAX_PLATFORMS naming an accelerator this jax lacks: one stderr line and exit 2 from every CLI."""

import os
import pathlib
import subprocess
import sys

import pytest

from playground.platforms import PlatformError, check_jax_platforms, jax_plugins, select_platform

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


# --------------------------------------------------------------------------- --device (run.device)

TRAINER_JSON = PROJECT_ROOT / "tests" / "data" / "trainer_layout.json"
HAS_CUDA = any("cuda" in p for p in jax_plugins())


def _without_jax_platforms() -> dict:
    return {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}


def test_run_device_picks_the_platform_and_refuses_a_disagreeing_jax_platforms(monkeypatch):
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    assert select_platform("cpu") == "cpu"
    assert select_platform("auto") is None  # jax's own choice
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert select_platform("cpu") == "cpu" and select_platform("auto") is None
    with pytest.raises(PlatformError) as e:
        select_platform("gpu")
    assert str(e.value) == ("--device gpu (run.device) and JAX_PLATFORMS=cpu ask for different "
                            "platforms: unset JAX_PLATFORMS or pass --device auto")


def test_gpu_asks_jax_for_cuda_when_a_cuda_plugin_is_installed(tmp_path, monkeypatch):
    (tmp_path / "jax_plugins" / "xla_cuda13").mkdir(parents=True)
    (tmp_path / "jax_plugins" / "xla_cuda13" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    assert select_platform("gpu") == "cuda"
    monkeypatch.setenv("JAX_PLATFORMS", "gpu")  # jax's other name for it agrees
    assert select_platform("gpu") == "cuda"


@pytest.mark.skipif(HAS_CUDA, reason="this jax has CUDA")
def test_train_device_gpu_without_cuda_is_one_line_before_any_work(tmp_path):
    proc = subprocess.run(
        [sys.executable, "playground/train.py", "--config", str(TRAINER_JSON), "--device", "gpu",
         "--checkpoint-dir", str(tmp_path / "runs")], cwd=PROJECT_ROOT,
        env=_without_jax_platforms(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error: --device gpu (run.device): this jax (") and \
        lines[0].endswith("or pass --device cpu to run on the CPU"), lines[0]
    assert proc.stdout == "" and not (tmp_path / "runs").exists()  # nothing compiled or written


def test_train_names_platform_and_device_count_first(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "playground/train.py", "--config", str(TRAINER_JSON), "--device", "cpu",
         "--checkpoint-dir", str(tmp_path)], cwd=PROJECT_ROOT, env=_without_jax_platforms(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # the console's first line, before anything compiles
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=60)
    assert first == "device: cpu x1\n", (first, err[-2000:])
