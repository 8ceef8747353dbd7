"""Runs that survive: a run SIGKILLed and resumed is bit-for-bit the run never stopped,
and kills at random moments (one during a save) never cost more than a resume.

Everything goes through the real CLI in subprocesses, on the cheap cart-pole task
(16 envs, 4 iterations per chunk) so each process spends its time starting, not training.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from playground import runs

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(ROOT / "playground" / "train.py")]
ITERATIONS = 240
SMALL = [
    "--task", "cartpole_balance", "--num-envs", "16", "--num-iterations", str(ITERATIONS),
    "--set", "ppo.unroll_length=16", "--set", "ppo.num_minibatches=4", "--set", "ppo.num_epochs=2",
    "--set", "run.log_every=1024",  # 4 iterations per chunk
    "--set", "run.eval_every=40", "--set", "run.eval_envs=8", "--set", "run.progress=false",
    "--no-wandb",
]


def _start(args: list[str], cwd: pathlib.Path) -> subprocess.Popen:
    return subprocess.Popen(TRAIN + args, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def _logged_iterations(run_dir: pathlib.Path) -> list[int]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line)["iteration"])
        except (json.JSONDecodeError, KeyError):
            pass  # a line being written
    return rows


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 600, poll: float = 0.02):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"training ended early: {proc.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(poll)


def _tmp_leftovers(run_dir: pathlib.Path) -> list[str]:
    steps_dir = run_dir / runs.STEPS_DIRNAME
    return [p.name for p in steps_dir.iterdir() if "tmp" in p.name] if steps_dir.is_dir() else []


def _load_carry(run_dir: pathlib.Path):
    from playground.runner import load_checkpoint

    loaded = load_checkpoint(run_dir, log=lambda *_: None)
    return loaded.step, loaded.carry


def _assert_trees_bitwise_equal(a, b, what: str):
    la = jax.tree_util.tree_flatten_with_path(a)[0]
    lb = jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb), what
    for (path, x), y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}{jax.tree_util.keystr(path)}"
        assert x.tobytes() == y.tobytes(), f"{what}{jax.tree_util.keystr(path)} differs"


@pytest.mark.slow
def test_killed_then_resumed_run_is_bitwise_the_run_that_never_stopped(tmp_path, logged_scalars):
    # the reference saves nothing until the end: no save can have touched its episodes
    straight = _start(SMALL + ["--checkpoint-dir", str(tmp_path), "--set", "run.name=straight",
                               "--set", "run.checkpoint_every=0"], tmp_path)
    _finish(straight)

    killed_dir = tmp_path / "killed"
    args = SMALL + ["--checkpoint-dir", str(tmp_path), "--set", "run.checkpoint_every=40",
                    "--set", "run.keep_checkpoints=100"]  # keep the step resumed from, to look at
    proc = _start(args + ["--set", "run.name=killed"], tmp_path)
    # kill mid-run, past a checkpoint at about half way and some iterations beyond it
    _wait_for(lambda: max(_logged_iterations(killed_dir), default=0) >= ITERATIONS // 2 + 8, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(_logged_iterations(killed_dir))
    steps = runs.complete_steps(killed_dir / runs.STEPS_DIRNAME)
    assert killed_at < ITERATIONS and steps and steps[-1] < killed_at, (killed_at, steps)
    resumed_from = steps[-1]
    # as a run from before run.device recorded its platform: provenance's "platform" is the OS
    provenance = json.loads((killed_dir / "provenance.json").read_text())
    assert provenance.pop("device_platform") == "cpu" and provenance["platform"].startswith("Linux")
    (killed_dir / "provenance.json").write_text(json.dumps(provenance))

    out = _finish(_start(["--resume", str(killed_dir), "--checkpoint-dir", str(tmp_path)],
                         tmp_path))
    assert f"resuming {killed_dir.resolve()} from iteration {resumed_from}" in out

    step_a, carry_a = _load_carry(tmp_path / "straight")
    step_b, carry_b = _load_carry(killed_dir)
    assert step_a == step_b == ITERATIONS
    _assert_trees_bitwise_equal(carry_a.params, carry_b.params, "params")
    _assert_trees_bitwise_equal(carry_a.opt_state, carry_b.opt_state, "opt_state")
    _assert_trees_bitwise_equal(carry_a.normalizer, carry_b.normalizer, "normalizer")
    _assert_trees_bitwise_equal(carry_a.env_state, carry_b.env_state, "env_state")
    _assert_trees_bitwise_equal(carry_a, carry_b, "carry")  # keys, counters, episode sums too

    # episodes ran on across the checkpoint the run resumed from (no reset at a save)
    from playground.runner import load_checkpoint

    at_resume = load_checkpoint(killed_dir / runs.STEPS_DIRNAME / str(resumed_from),
                                log=lambda *_: None).carry
    assert int(np.max(at_resume.env_state.info["step"])) > 0
    # the log has every chunk once, in order, up to the end
    iterations = _logged_iterations(killed_dir)
    assert iterations == sorted(set(iterations)) and iterations[-1] == ITERATIONS
    # wall time runs on across the resume (it does not restart from the resumed process's 0)
    rows = [json.loads(line) for line in (killed_dir / "metrics.jsonl").read_text().splitlines()]
    walls = [row["wall_time"] for row in rows]
    assert walls == sorted(walls), walls
    # TensorBoard shows those rows, each once: the killed session's steps past the
    # checkpoint were cut from its event file at the resume
    tensorboard, jsonl = logged_scalars(killed_dir)
    assert tensorboard == jsonl


@pytest.mark.slow
def test_kills_at_random_moments_including_one_during_a_save_cost_only_a_resume(tmp_path):
    rng = random.Random(0)
    run_dir = tmp_path / "k"
    base = SMALL + ["--checkpoint-dir", str(tmp_path), "--set", "run.checkpoint_every=4"]
    proc = _start(base + ["--set", "run.name=k"], tmp_path)
    _wait_for(lambda: runs.complete_steps(run_dir / runs.STEPS_DIRNAME), proc)
    killed_during_save = 0
    for kill in range(3):  # the third lands during a save if neither random one did
        if kill >= 2 and not killed_during_save:  # land one while orbax writes a step
            _wait_for(lambda: _tmp_leftovers(run_dir), proc, poll=0.001)
        else:
            time.sleep(rng.uniform(0.0, 4.0))
        if proc.poll() is not None:  # finished before the kill: resume below has nothing to do
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        leftovers = _tmp_leftovers(run_dir)
        killed_during_save += bool(leftovers)
        steps = runs.complete_steps(run_dir / runs.STEPS_DIRNAME)
        assert steps, "a kill damaged the last complete checkpoint"
        proc = _start(["--resume", "latest", "--checkpoint-dir", str(tmp_path),
                       "--set", "run.progress=false"], tmp_path)
        if leftovers:  # the resumed run removes what the killed save left behind
            _wait_for(lambda leftovers=leftovers: not set(leftovers) & set(_tmp_leftovers(run_dir)),
                      proc)
    _finish(proc)
    assert killed_during_save >= 1
    iterations = _logged_iterations(run_dir)
    assert iterations == sorted(set(iterations)) and iterations[-1] == ITERATIONS
    assert runs.complete_steps(run_dir / runs.STEPS_DIRNAME)[-1] == ITERATIONS


AMP_ITERATIONS = 72
#: The AMP smoke run of tests/rewards/amp/test_amp_training.py (`--verify --enable-amp`,
#: 3-step episodes), whose compiled programs this test loads from the cache: 4 envs x 16
#: steps = 64 policy transitions per iteration into its 4096-row replay ring, so 72
#: iterations wrap the ring and leave the cursor mid-way.
AMP_SMALL = ["--verify", "--enable-amp", "--set", "env.episode_length=3"]


@pytest.mark.slow
def test_amp_run_stopped_at_a_checkpoint_and_resumed_is_bitwise_the_straight_run(tmp_path):
    """Discriminator, its optimizer, the AMP feature normalizer and the replay ring (rows and
    cursor) travel through a checkpoint exactly, with PPO and the env state."""
    common = AMP_SMALL + ["--checkpoint-dir", str(tmp_path), "--set", "run.checkpoint_every=0"]
    _finish(_start(common + ["--num-iterations", str(AMP_ITERATIONS),
                             "--set", "run.name=straight"], tmp_path))
    # the second run stops at half way (its last checkpoint), then resumes to the end
    _finish(_start(common + ["--num-iterations", str(AMP_ITERATIONS // 2),
                             "--set", "run.name=stopped"], tmp_path))
    stopped = tmp_path / "stopped"
    out = _finish(_start(["--resume", str(stopped), "--checkpoint-dir", str(tmp_path),
                          "--num-iterations", str(AMP_ITERATIONS)], tmp_path))
    assert f"resuming {stopped.resolve()} from iteration {AMP_ITERATIONS // 2}" in out

    step_a, carry_a = _load_carry(tmp_path / "straight")
    step_b, carry_b = _load_carry(stopped)
    assert step_a == step_b == AMP_ITERATIONS
    amp_a, amp_b = carry_a.rewards["amp"], carry_b.rewards["amp"]
    transitions = AMP_ITERATIONS * 4 * 16
    # the ring wrapped and its cursor is mid-way: a lost cursor or a reset buffer would show
    assert int(amp_a.replay.size) == 4096
    assert int(amp_a.replay.position) == transitions % 4096 != 0
    _assert_trees_bitwise_equal(amp_a.params, amp_b.params, "amp.params")
    _assert_trees_bitwise_equal(amp_a.opt_state, amp_b.opt_state, "amp.opt_state")
    _assert_trees_bitwise_equal(amp_a.normalizer, amp_b.normalizer, "amp.normalizer")
    _assert_trees_bitwise_equal(amp_a.replay, amp_b.replay, "amp.replay")
    _assert_trees_bitwise_equal(carry_a.params, carry_b.params, "params")
    _assert_trees_bitwise_equal(carry_a.env_state, carry_b.env_state, "env_state")
    _assert_trees_bitwise_equal(carry_a, carry_b, "carry")
    # the discriminator did learn between the two halves (the comparison is not of inits)
    at_half = _load_carry(stopped / runs.STEPS_DIRNAME / str(AMP_ITERATIONS // 2))[1].rewards["amp"]
    assert not np.array_equal(np.asarray(jax.tree_util.tree_leaves(at_half.params)[0]),
                              np.asarray(jax.tree_util.tree_leaves(amp_b.params)[0]))


def _tree_bytes(root: pathlib.Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


@pytest.mark.slow
def test_an_older_step_resumes_only_by_moving_the_later_steps_aside(tmp_path, logged_scalars):
    """`--resume <run>/checkpoints/<older step>` would overwrite (or collide with) the later
    steps and cut their rows: refused before any work, unless --discard-later-steps, which
    moves them into <run>/discarded-<time>/ and then recomputes the same steps exactly."""
    run_dir = tmp_path / "r"
    _finish(_start(SMALL + ["--num-iterations", "16", "--checkpoint-dir", str(tmp_path),
                            "--set", "run.name=r", "--set", "run.checkpoint_every=4",
                            "--set", "run.keep_checkpoints=100"], tmp_path))
    assert runs.complete_steps(run_dir / runs.STEPS_DIRNAME) == [4, 8, 12, 16]
    before = _tree_bytes(tmp_path)
    rows_before = (run_dir / "metrics.jsonl").read_text().splitlines()
    older = run_dir / runs.STEPS_DIRNAME / "8"

    refused = subprocess.run(TRAIN + ["--resume", str(older)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    err = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(err) == 1 and "Traceback" not in refused.stderr, err
    assert "not the run's newest step (later: 12, 16)" in err[0] and "--init-from" in err[0]
    assert refused.stdout == "" and _tree_bytes(tmp_path) == before  # nothing ran or changed

    out = _finish(_start(["--resume", str(older), "--discard-later-steps"], tmp_path))
    (discarded,) = run_dir.glob("discarded-*")
    assert f"moved step(s) 12, 16 and 2 metrics row(s) past iteration 8 into {discarded}" in out
    assert runs.complete_steps(discarded / runs.STEPS_DIRNAME) == [12, 16]
    moved = (discarded / "metrics.jsonl").read_text().splitlines()
    assert moved == rows_before[2:]
    rows = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert rows[:2] == rows_before[:2] and [json.loads(r)["iteration"] for r in rows] == [4, 8, 12, 16]
    # the same iterations recomputed exactly: rows (less timings) and the final carry
    timing = ("wall_time", "train/sps", "eta_seconds")
    for new, old in zip(rows[2:], moved, strict=True):
        new, old = json.loads(new), json.loads(old)
        assert {k: v for k, v in new.items() if k not in timing} == \
            {k: v for k, v in old.items() if k not in timing}
    _, carry_new = _load_carry(run_dir)
    _, carry_old = _load_carry(discarded / runs.STEPS_DIRNAME / "16")  # still loads there
    _assert_trees_bitwise_equal(carry_new, carry_old, "carry")
    assert "config.yaml" in os.listdir(discarded) and "provenance.json" in os.listdir(discarded)
    saved = json.loads((run_dir / runs.STEPS_DIRNAME / "16" / "config" / "metadata").read_text())
    assert saved["run"]["discard_later_steps"] is False  # an action of that resume, not the run's
    tensorboard, jsonl = logged_scalars(run_dir)  # the event files were cut at step 8 too
    assert tensorboard == jsonl
