"""The run loop's pure pieces against numbers worked out by hand (the loop itself:
test_training.py, test_resume.py, test_train_cli.py)."""

import types

import numpy as np
import pytest

from playground import config, runner


def _chunk(**extra):
    """Three iterations of one chunk; the third was skipped (past the run's end)."""
    return {"active": np.array([1.0, 1.0, 0.0]), "bad_update": np.zeros(3),
            "episodes": np.array([2.0, 3.0, 9.0]),
            "episode_return_sum": np.array([10.0, 20.0, 99.0]),
            "episode_length_sum": np.array([8.0, 12.0, 99.0]),
            "terminations": np.array([1.0, 0.0, 9.0]), "nan_resets": np.zeros(3),
            "reward/alive": np.array([0.5, 1.0, 9.0]), **extra}


def test_a_chunk_row_counts_successes_over_the_episodes_that_ended():
    # 5 episodes in the two active iterations, 1 + 3 of them successful: 4 / 5 = 0.8
    row = runner.aggregate_chunk(_chunk(episode_success_sum=np.array([1.0, 3.0, 9.0])))
    assert row["train/success_rate"] == 0.8
    assert row["train/episode_reward"] == 6.0 and row["train/episode_length"] == 4.0  # 30/5, 20/5
    assert row["train/termination_rate"] == 0.2 and row["reward/alive"] == 0.75
    assert "train/episode_success_sum" not in row  # a count, turned into the rate


def test_a_chunk_row_of_a_task_without_success_has_no_success_rate():
    assert "train/success_rate" not in runner.aggregate_chunk(_chunk())


def test_ranking_kept_checkpoints_by_success_rate_needs_a_task_that_defines_success():
    """Run checks this right after building the env (train.py: one line, exit 2); an env
    here is what the check reads of one, its success_mode."""
    cfg = config.resolve(None, [("run.keep_best_by", "success_rate")])  # the humanoid
    with pytest.raises(config.ConfigError) as error:
        runner.check_keep_best_by(cfg, types.SimpleNamespace(success_mode=None))
    assert str(error.value) == (
        "run.keep_best_by=success_rate: task 'humanoid_walk' defines no success (no "
        "eval/success_rate to rank by); use run.keep_best_by=return")
    runner.check_keep_best_by(cfg, types.SimpleNamespace(success_mode="last"))
    runner.check_keep_best_by(config.resolve(None, []), types.SimpleNamespace(success_mode=None))
