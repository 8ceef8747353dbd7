"""A run stops cleanly on repeated non-finite updates and keeps its last good checkpoint."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import config, runner, runs

pytestmark = pytest.mark.slow  # compiles a (small) training chunk

POISON_AT_CHUNK = 3


class PoisonedRun(runner.Run):
    """Replaces the value network's parameters with NaN before the 3rd chunk."""

    def _compile(self, carry):
        super()._compile(carry)
        compiled, calls = self._chunk, []

        def chunk(carry):
            calls.append(None)
            if len(calls) == POISON_AT_CHUNK:
                nan = jax.tree_util.tree_map(lambda x: jnp.full_like(x, jnp.nan),
                                             carry.params.value)
                carry = carry.replace(params=carry.params.replace(value=nan))
            return compiled(carry)

        self._chunk = chunk


def test_max_bad_updates_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"), ("ppo.num_envs", 16), ("ppo.unroll_length", 16),
        ("ppo.num_minibatches", 4), ("ppo.num_epochs", 2), ("ppo.num_iterations", 40),
        ("ppo.max_bad_updates", 4), ("run.log_every", 1024),  # 4 iterations per chunk
        ("run.checkpoint_every", 4), ("run.eval_every", 0), ("run.eval_envs", 8),
        ("run.checkpoint_dir", str(tmp_path)), ("run.name", "nan"), ("run.progress", False),
        ("run.wandb.enabled", False),
    ])
    lines = []
    run = PoisonedRun(cfg, ["test"], log=lines.append)
    with pytest.raises(runner.TrainingError) as error:
        run.train()
    message = str(error.value)
    assert "4 non-finite updates in a row at iteration 12" in message
    assert str(tmp_path / "nan" / "checkpoints") in message and "\n" not in message
    # the poisoned chunk's carry was not saved: the newest checkpoint is the last good one
    steps_dir = tmp_path / "nan" / runs.STEPS_DIRNAME
    assert runs.complete_steps(steps_dir) == [4, 8]
    assert any("checkpoint not written" in line for line in lines)
    rows = [json.loads(x) for x in (tmp_path / "nan" / "metrics.jsonl").read_text().splitlines()]
    assert [r["train/bad_updates"] for r in rows] == [0.0, 0.0, 4.0]
    good = run.restore(steps_dir)["carry"]
    assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(good.params))


def _small_run(iterations, *overrides, checkpoint_dir=None):
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"), ("ppo.num_envs", 8), ("ppo.unroll_length", 8),
        ("ppo.num_minibatches", 2), ("ppo.num_epochs", 1),
        ("ppo.num_iterations", iterations), ("run.log_every", 128),  # 2 per chunk
        ("run.eval_envs", 4), ("run.wandb.enabled", False), ("run.progress", False),
        *([("run.checkpoint_dir", str(checkpoint_dir)), ("run.name", "run")]
          if checkpoint_dir else []),
        *overrides,
    ])
    return runner.Run(cfg, ["test"], log=lambda *_: None)


def test_a_resumed_or_longer_run_lowers_to_the_programs_of_the_fresh_run():
    """One compiled program per config, whatever `ppo.num_iterations` and wherever the carry
    comes from: a resume, or a run extended with --num-iterations, hits the persistent
    cache instead of compiling again (the std_eps of brax's running statistics once lowered
    weak-typed when fresh and strong when restored; the total was a constant)."""

    def run_of(iterations):
        return _small_run(iterations)

    short, longer = run_of(8), run_of(40)
    fresh = jax.jit(short.fns.init, out_shardings=short.shardings)(short.key_init)
    restored = short.place(jax.device_get(fresh))  # numpy leaves, as a checkpoint gives them
    texts = [[program.as_text() for program in run.lower(carry)]
             for run, carry in ((short, fresh), (short, restored), (longer, fresh))]
    assert texts[1] == texts[0], "a restored carry lowers to another program than a fresh one"
    assert texts[2] == texts[0], "ppo.num_iterations is a constant of the compiled program"
    # (that the total still decides where a run stops: test_train_cli's verify precedence)
