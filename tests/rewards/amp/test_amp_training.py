"""AMP inside the jitted iteration, through the real CLI: `--verify --enable-amp` with
episodes forced to end every 3 steps; the checkpoint's replay buffer holds no
post-reset s'."""

from __future__ import annotations

import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
AMP_METRICS = ("amp/disc_loss", "amp/grad_penalty", "amp/reference_score", "amp/policy_score",
               "amp/style_reward", "amp/disc_accuracy", "reward/style")


@pytest.mark.slow
def test_verify_enable_amp_and_no_post_reset_next_state_in_the_replay(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "playground" / "train.py"), "--verify", "--enable-amp",
         "--set", "env.episode_length=3", "--set", "run.name=amp",
         "--checkpoint-dir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("VERIFY PASS")
    run_dir = tmp_path / "amp"
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        for name in AMP_METRICS:
            assert math.isfinite(row[name]), (name, row[name])
    assert 0.0 <= rows[-1]["amp/style_reward"] <= 1.0

    from playground.runner import load_checkpoint

    loaded = load_checkpoint(run_dir)
    assert loaded.cfg.amp.enabled and loaded.cfg.env.episode_length == 3
    replay = loaded.carry.rewards["amp"].replay
    steps = 10 * 4 * 16  # quick_verify: iterations x envs x unroll, all finite
    assert int(replay.size) == steps
    s, s_next = np.asarray(replay.s)[:steps], np.asarray(replay.s_next)[:steps]
    # A fresh episode starts at rest (qvel = 0), so its root and joint velocity features
    # are exactly 0; a state the physics stepped to never is. Every 3rd s is such a start,
    # and no s' may be one (it would be the post-reset state, not the step's result).
    layout, start, columns = loaded.run.fns.plugins[0].learner.spec.layout, 0, []
    for name, size in layout:
        if name in ("linvel", "angvel", "joint_vel"):
            columns += range(start, start + size)
        start += size
    at_rest = lambda x: np.all(x[:, columns] == 0.0, axis=1)  # noqa: E731
    assert at_rest(s).mean() == pytest.approx(1 / 3, abs=0.05)
    assert not at_rest(s_next).any()
