"""Data parallel on two (forced) CPU devices: the classic task still learns, and its
checkpoint restores and evaluates on one device (not bitwise: reductions split differently)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(ROOT / "playground" / "train.py")]
LEARNED = 300.0  # of 500, as in tests/algorithms/ppo/test_trainer.py


def test_two_devices_learn_and_the_checkpoint_restores_on_one(tmp_path):
    two_devices = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    args = ["--task", "cartpole_balance", "--num-iterations", "30", "--set", "run.devices=2",
            "--checkpoint-dir", str(tmp_path), "--set", "run.name=dp", "--no-wandb",
            "--set", "run.progress=false"]
    proc = subprocess.run(TRAIN + args, cwd=tmp_path, env=two_devices, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "dp"
    assert json.loads((run_dir / "provenance.json").read_text())["devices"] == 2
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["eval/episode_reward"] > LEARNED, last

    from playground.runner import load_checkpoint  # this process has one CPU device

    loaded = load_checkpoint(run_dir, log=lambda *_: None)
    assert loaded.run.num_devices == 1
    assert loaded.run.evaluate(loaded.carry)["eval/episode_reward"] > LEARNED

    # resuming on another device count would not be exact: refused
    proc = subprocess.run(TRAIN + ["--resume", str(run_dir), "--num-iterations", "40"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "devices" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
