"""A2C through the real run loop on the cart-pole: `--verify --algorithm a2c` through the
CLI, and a resume from its mid-run checkpoint is bit for bit the run that never stopped.

Both are the cart-pole's quick_verify for A2C (16 envs x 8 steps, 2 iterations per chunk),
so they share one compiled chunk and one evaluation program (the persistent XLA cache
serves the CLI process and the in-process resume alike).
"""

import json
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from playground import config, runner

pytestmark = pytest.mark.slow  # compiles a (tiny) chunk and evaluation

ROOT = pathlib.Path(__file__).resolve().parents[3]
SMALL = ["--task", "cartpole_balance", "--algorithm", "a2c", "--set", "run.log_every=256",
         "--set", "run.checkpoint_every=2", "--set", "run.progress=false"]  # chunks of 2
ITERATIONS = 4  # configs/cartpole_balance.yaml's quick_verify for a2c
STEPS_PER_ITERATION = 16 * 8  # quick_verify's 16 envs x the task's a2c.unroll_length


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("a2c_runs")


@pytest.fixture(scope="module")
def verified(runs_dir):
    """The straight run: `train.py --verify --algorithm a2c` in a subprocess, saving
    iterations 2 and 4."""
    return subprocess.run(
        [sys.executable, str(ROOT / "playground" / "train.py"), "--verify", *SMALL,
         "--checkpoint-dir", str(runs_dir), "--set", "run.name=straight"],
        cwd=runs_dir, capture_output=True, text=True, timeout=600)


def _leaves(tree):
    return jax.tree_util.tree_leaves(jax.device_get(tree))


def test_verify_with_a2c_passes_through_the_cli(verified, runs_dir):
    assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]
    assert verified.stdout.strip().splitlines()[-1].startswith("VERIFY PASS")
    saved = (runs_dir / "straight" / "config.yaml").read_text()
    assert "\na2c:" in saved and "\nppo:" not in saved  # the recipe's ppo section is skipped
    rows = [json.loads(x) for x in (runs_dir / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [2, 4]
    assert rows[-1]["env_steps"] == ITERATIONS * STEPS_PER_ITERATION
    for key in ("train/policy_loss", "train/value_loss", "train/entropy", "train/grad_norm",
                "eval/episode_reward"):
        assert np.isfinite(rows[-1][key]), key
    assert "train/approx_kl" not in rows[-1]  # no ratio, no clipping: PPO's metrics are not faked


def test_a2c_resumed_mid_run_is_bit_for_bit_the_straight_run(verified, runs_dir):
    assert verified.returncode == 0, verified.stderr[-2000:]
    shutil.copytree(runs_dir / "straight", runs_dir / "resumed")
    cfg = config.resolve(None, [("run.resume", str(runs_dir / "resumed" / "checkpoints" / "2")),
                                ("run.discard_later_steps", True),  # step 4 is set aside
                                ("run.checkpoint_dir", str(runs_dir))])
    resumed = runner.Run(cfg, ["test"], log=lambda *_: None).train()
    assert int(resumed.carry.iteration) == ITERATIONS

    straight = runner.load_checkpoint(runs_dir / "straight", log=lambda *_: None)
    assert straight.step == ITERATIONS
    a, b = _leaves(straight.carry), _leaves(resumed.carry)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    # and those two iterations changed the policy
    before = straight.run.restore(straight.steps_dir, 2)["carry"]
    assert not all(np.array_equal(x, y) for x, y in zip(
        _leaves(before.params.policy), _leaves(straight.carry.params.policy), strict=True))
