"""playground.episodes: the summary math by hand, episode lengths, the command argument."""

from __future__ import annotations

import numpy as np
import pytest

from playground import episodes

#: As a locomotion task declares them (summary key -> env metric).
METRICS = {"vx_error": "vx_error", "yaw_rate_error": "yaw_rate_error"}


def _rollout(reward, done, truncation, vx_error, actions):
    T, N = reward.shape
    return episodes.Rollout(
        obs=np.zeros((T, N, 2), np.float32), actions=actions,
        joint_targets=np.zeros((T, N, 1)), qpos=np.zeros((T, N, 3)),
        reward=reward, done=done, truncation=truncation,
        metrics={"vx_error": vx_error, "reward/alive": np.full((T, N), 0.5)},
    )


def test_summary_counts_only_alive_steps():
    # episode 0 falls at step 2 (index 1); episode 1 runs all 4 steps and is truncated at the end
    reward = np.array([[1.0, 2.0], [3.0, 2.0], [9.0, 2.0], [9.0, 2.0]])
    done = np.array([[0, 0], [1, 0], [0, 0], [0, 1]], float)
    truncation = np.array([[0, 0], [0, 0], [0, 0], [0, 1]], float)
    vx_error = np.array([[0.1, 0.2], [0.3, 0.2], [5.0, 0.4], [5.0, 0.4]])
    actions = np.array([[[1.0], [0.0]], [[0.0], [1.0]], [[7.0], [1.0]], [[7.0], [0.0]]])
    rows, s = episodes.summarize(
        _rollout(reward, done, truncation, vx_error, actions), METRICS)
    assert [r["length"] for r in rows] == [2, 4]
    assert [r["survived"] for r in rows] == [False, True]
    assert [r["return"] for r in rows] == [4.0, 8.0]  # 1+3; 2*4 (steps after the fall ignored)
    assert s["survival_rate"] == 0.5 and s["mean_episode_length"] == 3.0 and s["mean_return"] == 6.0
    # per-episode means over alive steps, then over episodes: (0.2 + 0.3) / 2
    assert s["vx_error"] == pytest.approx(0.25)
    # action change from zeros: ep0 (1^2 + 1^2) / 2 = 1; ep1 (0 + 1 + 0 + 1) / 4 = 0.5
    assert s["action_rate"] == pytest.approx(0.75)
    assert s["reward_terms"] == {"alive": 0.5}
    assert s["yaw_rate_error"] is None  # the rollout has no such metric


def test_episode_lengths_without_done_is_the_horizon():
    done = np.zeros((5, 3))
    done[2, 1] = 1.0
    assert episodes.episode_lengths(done).tolist() == [5, 3, 5]


def test_parse_command():
    assert episodes.parse_command("0.3,0,-0.5") == (0.3, 0.0, -0.5)
    for bad in ("0.3,0", "a,b,c", "0.3,0,nan", ""):
        with pytest.raises(ValueError):
            episodes.parse_command(bad)




def test_rows_and_lines_hold_the_declared_metrics_only():
    done = np.array([[0.0], [1.0]])
    roll = _rollout(np.ones((2, 1)), done, done, np.full((2, 1), 0.5), np.zeros((2, 1, 1)))
    rows, s = episodes.summarize(roll)  # a task without summary metrics
    assert "vx_error" not in s and "vx_error" not in rows[0]
    rows, s = episodes.summarize(roll, {"speed_error": "vx_error"})
    assert s["speed_error"] == 0.5 and rows[0]["vx_error"] == 0.5
    assert episodes.episode_line(rows[0]) == "episode 0: return 2.00  length 2  survived  vx_error 0.500"


def test_success_is_read_as_each_episode_ended():
    """Three episodes of up to 4 steps, the success signal per step:
    ep 0: 1, 0 then terminated at step 2 (succeeds, then fails): "last" no, "ever" yes;
    ep 1: 0, 0, 0, 1 and truncated at step 4: yes under both;
    ep 2: 0, 1 then terminated at step 2 with the signal (reached the goal and stopped),
          the signal 1 again at step 3 after its end, which must not count: yes under both
          ("ever" would say yes anyway; "last" reads step 2, not the later steps).
    "last": 2 / 3; "ever": 3 / 3; without a mode (a task without success) no key at all."""
    signal = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1]], float)
    done = np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0], [0, 1, 0]], float)
    truncation = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 1, 0]], float)
    roll = _rollout(np.ones((4, 3)), done, truncation, np.zeros((4, 3)), np.zeros((4, 3, 1)))
    roll.metrics["success"] = signal
    expected = {"last": [False, True, True], "ever": [True, True, True]}
    for mode, rate in (("last", 2 / 3), ("ever", 1.0)):
        rows, s = episodes.summarize(roll, success=mode)
        assert [r["success"] for r in rows] == expected[mode], mode
        assert s["success_rate"] == pytest.approx(rate), mode
    assert [r["survived"] for r in rows] == [False, True, False]
    rows, s = episodes.summarize(roll)
    assert "success_rate" not in s and "success" not in rows[0]
    last_rows, _ = episodes.summarize(roll, success="last")
    assert episodes.episode_line(last_rows[0]) == ("episode 0: return 2.00  length 2  fell  "
                                                   "no success")
    assert episodes.episode_line(last_rows[1]).endswith("length 4  survived  success")
