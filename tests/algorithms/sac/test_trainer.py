"""The jitted SAC iteration end to end on the cheap classic task.

configs/cartpole_balance.yaml with `--set algorithm.name=sac` (its `sac` section) must
learn within its iterations (30,720 env steps): from a random policy's ~45-step episodes
to a deterministic eval return above 400 (of 500); three seeds tried here were at
497-500 by then. The run keeps its replay ring out of the checkpoint
(`sac.checkpoint_replay=false`, which leaves the program unchanged), so the same run also
shows what such a checkpoint restores.
"""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import checkpoint, config, policy, runner

pytestmark = pytest.mark.slow  # a real (short) training run

EVAL_RETURN_THRESHOLD = 400.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"),
        ("algorithm.name", "sac"),
        ("run.checkpoint_dir", str(tmp_path_factory.mktemp("ckpt"))),
        ("run.name", "learn"),
        ("run.progress", False),
        ("sac.checkpoint_replay", False),
    ])
    return runner.Run(cfg, ["test"], log=lambda *_: None)


@pytest.fixture(scope="module")
def result(run):
    return run.train()


def test_cartpole_learns(run, result):
    """The budget is the recipe's iterations (env steps), not wall time: CI shares its CPU."""
    random_policy_eval = run.evaluate(jax.jit(run.fns.init)(run.key_init))
    assert int(result.carry.iteration) == run.derived.total_iterations
    assert result.final_eval["eval/episode_reward"] > EVAL_RETURN_THRESHOLD
    assert result.final_eval["eval/episode_reward"] > 3 * random_policy_eval["eval/episode_reward"]
    # the temperature was tuned (it started at sac.init_alpha = 1)
    assert float(jnp.exp(result.carry.log_alpha)) < 0.5
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["train/bad_updates"] == 0.0 and rows[-1]["train/learning"] == 1.0


def _last_iterations(run, carry, count: int):
    """`carry` set `count` iterations before the run's end: a chunk then runs only those."""
    return run.place(carry.replace(iteration=np.asarray(run.derived.total_iterations - count,
                                                        np.int32)))


def test_a_non_finite_update_is_discarded(run, result):
    """NaN critic params in the carry: the update is thrown away and counted, the actor,
    targets and temperature stay, the ring still takes the new transitions, and after
    sac.max_bad_updates in a row the run stops."""
    carry = jax.device_get(result.carry)
    poisoned = jax.tree_util.tree_map(lambda x: np.full_like(x, np.nan), carry.params.q)
    carry = carry.replace(params=carry.params.replace(q=poisoned))
    bad = run.cfg.sac.max_bad_updates
    out, metrics = run._chunk(_last_iterations(run, carry, bad))
    assert int(out.bad_updates) == int(out.total_bad_updates) == bad
    active = np.asarray(metrics["active"]) > 0
    assert np.asarray(metrics["bad_update"])[active].tolist() == [1.0] * bad
    kept = (carry.params.policy, carry.target_q, carry.log_alpha)
    after = jax.device_get((out.params.policy, out.target_q, out.log_alpha))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(kept),
                                                    jax.tree_util.tree_leaves(after), strict=True))
    rows = bad * run.derived.env_steps_per_iteration // run.derived.num_envs
    assert int(out.replay.count) == int(carry.replay.count) + rows
    assert run.algorithm.stop_reason(jax.device_get(out)).startswith(f"{bad} non-finite")


def test_a_checkpoint_without_the_ring_restores_all_else_exactly(run, result):
    assert run.unsaved_fields == ("replay",)
    step = int(result.carry.iteration)
    saved = checkpoint.saved_shapes(result.steps_dir, step)
    assert saved and not [key for key in saved if key.startswith(".replay")]
    carry = jax.device_get(result.carry)
    restored = run.restore(result.steps_dir, step)["carry"]
    assert int(restored.replay.count) == 0 and not np.asarray(restored.replay.reward).any()
    a = jax.tree_util.tree_leaves(restored.replace(replay=None))
    b = jax.tree_util.tree_leaves(carry.replace(replay=None))
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    # training on from the empty ring: updates wait until it holds the warm-up again
    # (sac.warmup_steps 2048 = the transitions of 8 iterations of 32 envs x 8 steps)
    refill = run.cfg.sac.warmup_steps // run.derived.env_steps_per_iteration
    _, metrics = run._chunk(_last_iterations(run, restored, refill + 2))
    learning = np.asarray(metrics["learning"])[np.asarray(metrics["active"]) > 0]
    assert learning.tolist() == [0.0] * (refill - 1) + [1.0] * 3


def test_play_and_export_take_the_actor_from_the_spec_alone(run, result, tmp_path):
    """In a fresh process the policy loader and export read the SAC checkpoint with SAC's
    config sections alone (the saved config's schema), no learner, network or replay code;
    the bundle acts as the trainer's deterministic policy."""
    out = tmp_path / "bundle"
    code = (
        "import json, pathlib, sys\n"
        "from playground import policy\nfrom playground.deploy import export\n"
        f"loaded = policy.load({str(result.run_dir)!r})\n"
        f"report = export.export_checkpoint(loaded, pathlib.Path({str(out)!r}), "
        "with_onnx=False, check_count=64)\n"
        "print(json.dumps({'errors': report['errors'], 'sac': sorted(m for m in sys.modules "
        "if m.startswith('playground.algorithms.sac'))}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["sac"] == ["playground.algorithms.sac", "playground.algorithms.sac.config"]
    assert report["errors"]["numpy"] < 1e-5
    bundle = policy.load(out)
    assert bundle.spec["network"]["squash"] == "tanh"
    obs = np.random.default_rng(0).normal(0.0, 1.0, (32, 5)).astype(np.float32)
    trainer = jax.jit(run.algorithm.act)(result.carry, {"state": obs})
    np.testing.assert_allclose(bundle.act()(obs), np.asarray(trainer), atol=1e-5)
