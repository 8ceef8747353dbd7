"""benchmarks/gpu_check.py --dry-run: the GPU check's whole path on the CPU at --verify sizes.

The dry run trains the humanoid config under its `quick_verify` section, the program
`train.py --verify` compiles, so it shares that compile through the persistent XLA cache.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gpu_check  # noqa: E402


def test_the_runs_are_the_production_recipe_at_2048_and_8192_envs():
    sizes = {(r.config.name, r.num_envs) for r in gpu_check.RUNS}
    assert {("humanoid_walk.yaml", 2048), ("humanoid_walk.yaml", 8192)} <= sizes
    cfg = gpu_check.run_config(gpu_check.RUNS[0], False, "/tmp/unused", None)
    assert (cfg.ppo.num_envs, list(cfg.network.policy_hidden)) == (2048, [512, 256, 128])
    assert cfg.run.log_every == 2048 * 20 * gpu_check.RUNS[0].iterations_per_chunk


@pytest.mark.slow
def test_dry_run_trains_and_writes_its_figures(tmp_path):
    name = gpu_check.RUNS[0].name
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--dry-run",
                           "--only", name, "--out", str(tmp_path), "--timeout", "900"],
                          capture_output=True, text=True, timeout=960)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    (run,) = result["runs"]
    assert result["dry_run"] and run["name"] == name and "error" not in run
    assert run["num_envs"] == 4 and run["env_steps"] == 640 and run["env_steps_per_s"] > 0
    assert run["compile_s"] >= 0 and run["peak_bytes"] is None  # no memory stats on the CPU
    assert run["plan_bytes"] > 0
    md = (tmp_path / "gpu_check.md").read_text()
    assert f"| {name} | 4 |" in md and "DRY RUN" in md and "DRY RUN" in proc.stdout


def test_an_unknown_run_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--only", "nope",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no such run" in proc.stderr
