"""SAC through the CLI's `--verify`, and that run killed and resumed is bit for bit the run
that never stopped (replay ring included).

`train.py --verify --task cartpole_balance --set algorithm.name=sac` (the cart-pole's
`quick_verify` sizes, n-step returns on) saves steps 4 and 8; the state at step 4 is what a
kill after that checkpoint leaves, so training on from it (`--resume <run>/checkpoints/4
--discard-later-steps`) must reproduce step 8 exactly. One program for both runs.
"""

import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from playground import config, runner, runs

pytestmark = pytest.mark.slow  # the CLI compiles a (tiny) chunk and evaluation

ROOT = pathlib.Path(__file__).resolve().parents[3]
TRAIN = [sys.executable, str(ROOT / "playground" / "train.py")]
ITERATIONS = 8  # the cart-pole's quick_verify sac.num_iterations
RUN_KEYS = ["--set", "run.log_every=256", "--set", "run.eval_every=4",
            "--set", "run.checkpoint_every=4", "--set", "run.progress=false"]


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    proc = subprocess.run(
        TRAIN + ["--verify", "--task", "cartpole_balance", "--set", "algorithm.name=sac",
                 "--checkpoint-dir", str(root), "--set", "run.name=v", *RUN_KEYS],
        cwd=root, capture_output=True, text=True, timeout=900)
    return root / "v", proc


def test_verify_through_the_cli(verified):
    run_dir, proc = verified
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("VERIFY PASS")
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in rows] == [4, 8]
    assert rows[-1]["train/bad_updates"] == 0.0 and rows[-1]["train/learning"] == 1.0
    spec = json.loads((run_dir / "checkpoints" / "8" / "spec" / "metadata").read_text())
    assert spec["network"]["squash"] == "tanh" and spec["network"]["hidden"] == [32, 32]
    saved = (run_dir / "config.yaml").read_text()
    assert "sac:" in saved and "ppo:" not in saved


def test_killed_and_resumed_is_bitwise_the_straight_run(verified):
    run_dir, proc = verified
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps_dir = run_dir / runs.STEPS_DIRNAME
    cfg = config.resolve(None, [("run.resume", str(steps_dir / "4")),
                                ("run.discard_later_steps", True), ("run.progress", False)])
    run = runner.Run(cfg, ["test"], log=lambda *_: None)
    straight = run.restore(steps_dir, ITERATIONS)["carry"]
    assert int(straight.replay.count) > 0 and float(straight.log_alpha) != 0.0
    resumed = run.train()
    assert int(resumed.carry.iteration) == ITERATIONS
    again = run.restore(steps_dir, ITERATIONS)["carry"]
    a, b = jax.tree_util.tree_leaves(straight), jax.tree_util.tree_leaves(again)
    # params, targets, alpha, optimizers, normalizer, ring, env states, keys, counters
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
