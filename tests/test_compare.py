"""`train.py --compare`: the summary math on hand-written runs, and the real CLI."""

import json
import pathlib
import subprocess
import sys

import pytest

from playground import compare

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(ROOT / "playground" / "train.py")]


def _write_run(run_dir: pathlib.Path, evals: list[tuple[int, float, float, float | None]]):
    """A run directory whose metrics.jsonl holds a train row and the given
    (env_steps, wall_time, return, success) evaluations."""
    run_dir.mkdir(parents=True)
    rows = []
    for steps, wall, ret, success in evals:
        rows.append({"iteration": steps // 10, "env_steps": steps, "wall_time": wall,
                     "train/episode_reward": ret - 1.0})
        row = {"iteration": steps // 10, "env_steps": steps, "wall_time": wall, compare.RETURN: ret}
        if success is not None:
            row[compare.SUCCESS] = success
        rows.append(row)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def two_algorithms(tmp_path):
    plan = compare.Plan(("fast", "slow"), (0, 1), ("--task", "x"))
    _write_run(tmp_path / "fast-seed0", [(100, 10.0, 0.0, 0.0), (200, 20.0, 80.0, 0.5), (300, 30.0, 100.0, 1.0)])
    _write_run(tmp_path / "fast-seed1", [(100, 12.0, 20.0, 0.0), (200, 24.0, 100.0, 1.0), (300, 36.0, 90.0, 0.5)])
    _write_run(tmp_path / "slow-seed0", [(100, 5.0, 10.0, 0.0), (200, 10.0, 30.0, 0.0), (300, 15.0, 50.0, 0.0)])
    _write_run(tmp_path / "slow-seed1", [(100, 5.0, 10.0, 0.0), (200, 10.0, 40.0, 0.0), (300, 15.0, 96.0, 1.0)])
    return plan, tmp_path


def test_summary_by_hand(two_algorithms):
    plan, root = two_algorithms
    s = compare.summarize(plan, root)
    # lowest first eval 0.0; best mean final: fast (100 + 90) / 2 = 95 -> 0 + 0.9 * 95 = 85.5
    assert s["threshold"] == pytest.approx(85.5)
    fast, slow = s["table"]["fast"], s["table"]["slow"]
    assert fast["final_return"] == [100.0, 90.0] and fast["best_return"] == [100.0, 100.0]
    # seed 0 first reaches 85.5 at its third eval (100 @ 300 steps, 30 s), seed 1 at its second
    assert fast["steps_to_threshold"] == [300, 200] and fast["wall_to_threshold"] == [30.0, 24.0]
    assert slow["steps_to_threshold"] == [None, 300]
    assert fast["final_success"] == [1.0, 0.5] and fast["best_success"] == [1.0, 1.0]
    md = compare.markdown(plan, s, "t")
    fast_row = next(line for line in md.splitlines() if line.startswith("| fast"))
    # mean 95, population std 5; median of (300, 200) = 250; of (30, 24) s = 27 s
    assert "95.0 ± 5.0" in fast_row and "| 250 |" in fast_row and "| 27 s |" in fast_row
    assert "0.75 ± 0.25" in fast_row  # final success (1.0, 0.5)
    slow_row = next(line for line in md.splitlines() if line.startswith("| slow"))
    assert "300 (1/2 seeds)" in slow_row and "73.0 ± 23.0" in slow_row
    assert "final success" in next(x for x in md.splitlines() if x.startswith("| algorithm"))


def test_no_success_column_without_success_and_explicit_threshold(tmp_path):
    plan = compare.Plan(("a",), (0,), ())
    _write_run(tmp_path / "a-seed0", [(100, 1.0, 5.0, None), (200, 2.0, 7.0, None)])
    s = compare.summarize(plan, tmp_path, threshold=10.0)
    md = compare.markdown(plan, s, "t")
    assert "success" not in next(x for x in md.splitlines() if x.startswith("| algorithm")) and "not reached (0/1)" in md
    compare.plot(s, tmp_path / "c.png", "t")
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_member_states(tmp_path):
    assert compare.member_state(tmp_path / "none", 4) == "new"
    (tmp_path / "empty").mkdir()
    assert compare.member_state(tmp_path / "empty", 4) == "empty"
    moved = compare.set_aside(tmp_path / "empty")
    assert moved.name == "empty.unfinished-1" and moved.is_dir() and not (tmp_path / "empty").exists()


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0,1"], "--seeds and --threshold go with --compare"),
    (["--compare", "ppo,ppo"], "appears twice"),
    (["--compare", "ppo", "--seeds", "0,x"], "'x' is not an integer"),
    (["--compare", ","], "comma-separated"),
    (["--compare", "ppo", "--resume", "somewhere"], "--resume continues one"),
    (["--compare", "ppo", "--task", "cartpole_balance", "--set", "ppo.nope=1"], "ppo.nope"),
    (["--compare", "ppo,sac", "--task", "cartpole_balance"], "budgets differ (ppo 245,760, sac 30,720)"),
])
def test_bad_compare_input_is_one_line_exit_2(tmp_path, args, message):
    proc = subprocess.run(TRAIN + args + ["--checkpoint-dir", str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_compare_writes_both_files_and_resumes(tmp_path):
    args = ["--compare", "ppo,a2c", "--seeds", "0", "--steps", "2048", "--task", "cartpole_balance", "--verify",
            "--no-wandb", "--checkpoint-dir", str(tmp_path), "--set", "run.progress=false"]
    proc = subprocess.run(TRAIN + args, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (compare_dir,) = tmp_path.glob("compare-cartpole_balance-*")
    md = (compare_dir / "compare.md").read_text()
    assert "| ppo | 1 | 2,048 |" in md and "| a2c | 1 | 2,048 |" in md, md
    assert "final success" in md  # the cart-pole defines success
    assert (compare_dir / "compare.png").stat().st_size > 1000
    # a comparison killed before its second run: that run is trained again, the first kept
    (compare_dir / "compare.md").unlink()
    seed1 = compare_dir / "a2c-seed0"
    for path in sorted(seed1.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    seed1.rmdir()
    proc = subprocess.run(TRAIN + ["--resume", str(compare_dir)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "ppo-seed0: finished earlier, kept" in proc.stdout
    assert "a2c-seed0: training" in proc.stdout
    assert "| a2c | 1 | 2,048 |" in (compare_dir / "compare.md").read_text()
