"""benchmarks/sac_playground.py: which runs it trains, resumes or skips, and its per-step
wall-clock figures (no training here)."""

from __future__ import annotations

import pathlib
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import sac_playground  # noqa: E402  (benchmarks/ on sys.path first)


def _complete_step(run_dir: pathlib.Path, step: int) -> None:
    step_dir = run_dir / "checkpoints" / str(step)
    step_dir.mkdir(parents=True)
    (step_dir / "_CHECKPOINT_METADATA").write_text("{}")


def test_a_run_is_trained_fresh_resumed_or_skipped(tmp_path):
    run_dir = tmp_path / "PointMass-s1"
    assert sac_playground.run_state(run_dir) == "fresh"
    fresh = sac_playground.train_command("PointMass", 1, ["sac.n_step=3"], tmp_path)
    assert fresh[1:7] == ["playground/train.py", "--task", "playground:PointMass",
                          "--algorithm", "sac", "--seed"]
    assert fresh[-2:] == ["--set", "sac.n_step=3"] and "run.name=PointMass-s1" in fresh
    _complete_step(run_dir, 78)
    assert sac_playground.run_state(run_dir) == "resume"
    resume = sac_playground.train_command("PointMass", 1, ["sac.n_step=3"], tmp_path)
    # a resume takes the saved config: no training setting is passed again
    assert resume[1:4] == ["playground/train.py", "--resume", str(run_dir)]
    assert "sac.n_step=3" not in resume
    (run_dir / sac_playground.RESULT_FILE).write_text("{}")
    assert sac_playground.run_state(run_dir) == "done"


def test_wall_clock_per_env_step():
    # first eval at 20,000 env steps and 100 s, last at 220,000 and 600 s:
    # (600 - 100) s / 200,000 steps = 2.5e-3 s = 2500 us per env step
    curve = [(20_000, 100.0, 10.0), (120_000, 300.0, 500.0), (220_000, 600.0, 900.0)]
    assert abs(sac_playground.steady_us_per_env_step(curve) - 2500.0) < 1e-9
    assert sac_playground.steady_us_per_env_step(curve[:1]) is None
    # 650 s over 220,000 env steps = 2954.5... us
    run = {"run_wall_s": 650.0, "total_env_steps": 220_000}
    assert abs(sac_playground.per_env_step_us(run) - 650.0 / 220_000 * 1e6) < 1e-9


def test_compile_seconds_of_each_session(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("compiled in 214.6s\nit 78 ...\ncompiled in 12.0s\n")
    assert sac_playground.compile_seconds(log) == [214.6, 12.0]
