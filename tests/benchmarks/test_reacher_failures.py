"""benchmarks/reacher_failures.py on a hand-made Reacher recording, through its CLI."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "reacher_failures.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def test_geometry_turns_and_speeds_of_the_worst_episodes(tmp_path):
    steps = 4
    obs = np.zeros((2, steps, 6), np.float32)
    # episode 0 (return 0): arm straight along +x (finger at 0.24, 0), target at (0.10, 0):
    # radius 0.10 m needs a fold cos^-1((0.01 - 0.0288) / 0.0288) = 130.7 deg; the shoulder
    # turns 3 full turns by the end and the wrist still moves at 2 rad/s
    obs[0, :, 2:4] = [-0.14, 0.0]
    obs[0, :, 0] = np.linspace(0.0, 6 * np.pi, steps)
    obs[0, -1, 4:6] = [0.5, -2.0]
    # episode 1 (return 1000): wrist folded 90 deg at rest, finger on a target 0.1697 m out
    obs[1, :, 1] = np.pi / 2
    obs[1, :, 2:4] = [0.0, 0.0]
    rewards = np.zeros((2, steps), np.float32)
    rewards[1] = 250.0
    path = tmp_path / "rec.npz"
    np.savez(path, observations=obs, rewards=rewards)

    proc = _run(path, "--worst", 1)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "2 episodes, mean return 500.0, 1 below 500, 1 at >= 900" in out
    assert "| 0 | 0.100 | 131 | 0 | 0 | 0.140 | 0.140 | 3.0 | 2.00 |" in out
    assert "episodes >= 900: shoulder turns at most 0.0, end max abs qvel median 0.00" in out
    assert "target radius [0.08, 0.11): 1 episodes, 1 below 500, mean 0" in out
    assert "target radius [0.17, 0.20)" not in out  # 0.1697 falls in [0.14, 0.17)
    assert "target radius [0.14, 0.17): 1 episodes, 0 below 500, mean 1000" in out


def test_a_missing_or_foreign_recording_is_one_line_and_exit_2(tmp_path):
    proc = _run(tmp_path / "none.npz")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "error:" in proc.stderr
    path = tmp_path / "humanoid.npz"
    np.savez(path, observations=np.zeros((1, 3, 40), np.float32), rewards=np.zeros((1, 3)))
    proc = _run(path)
    assert proc.returncode == 2 and "not a Reacher recording" in proc.stderr
    assert proc.stderr.count("\n") == 1
