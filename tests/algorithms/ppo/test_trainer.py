"""The jitted PPO iteration end to end on the cheap classic task.

The cart-pole balance task must learn within 30 iterations (a CPU-minute on a quiet
machine): from a random policy's ~40-step episodes to a deterministic eval return above
300 (of 500).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import config, runner
from playground.runner import make_train_fns
from playground.tasks.cartpole import CartpoleBalance

pytestmark = pytest.mark.slow  # a real (short) training run

EVAL_RETURN_THRESHOLD = 300.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"),
        ("ppo.num_iterations", 30),
        ("run.checkpoint_dir", str(tmp_path_factory.mktemp("ckpt"))),
        ("run.name", "learn"),
        ("run.progress", False),
    ])
    return runner.Run(cfg, ["test"], log=lambda *_: None)


@pytest.fixture(scope="module")
def result(run):
    return run.train()


def test_cartpole_learns_within_30_iterations(run, result):
    """The budget is in iterations (122,880 env steps), not wall time: CI shares its CPU."""
    random_policy_eval = run.evaluate(jax.jit(run.fns.init)(run.key_init))
    assert int(result.carry.iteration) == 30
    assert result.final_eval["eval/episode_reward"] > EVAL_RETURN_THRESHOLD
    assert result.final_eval["eval/episode_reward"] > 3 * random_policy_eval["eval/episode_reward"]


def test_run_directory_holds_config_metrics_checkpoint(result):
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "provenance.json", "learning_curve.png",
            "checkpoints"} <= names
    assert (result.steps_dir / "30").is_dir()


def test_a_non_finite_update_is_discarded(run, result):
    """NaN params in the carry: the update is thrown away and counted, params stay."""
    carry = jax.device_get(result.carry)
    poisoned = jax.tree_util.tree_map(lambda x: np.full_like(x, np.nan), carry.params.value)
    carry = carry.replace(params=carry.params.replace(value=poisoned),
                          iteration=jnp.zeros((), jnp.int32))
    before = jax.device_get(carry.params)
    out, metrics = run._chunk(carry)
    assert int(out.bad_updates) == int(out.total_bad_updates) == run.derived.iterations_per_chunk
    leaves_before = jax.tree_util.tree_leaves(before.policy)
    leaves_after = jax.tree_util.tree_leaves(jax.device_get(out.params.policy))
    assert all(np.array_equal(a, b) for a, b in zip(leaves_before, leaves_after, strict=False))
    assert np.asarray(metrics["bad_update"]).tolist() == [1.0] * run.derived.iterations_per_chunk


class ExplodingCartpole(CartpoleBalance):
    """Physics blows up (NaN velocities and observation) at step 5 of every episode whose
    cart sits right of the centre: about half the envs, at a known moment."""

    def step(self, state, action):
        nxt = super().step(state, action)
        blow_up = (nxt.info["step"] == 5) & (nxt.data.qpos[0] > 0)
        obs = jnp.where(blow_up, jnp.nan, nxt.obs["state"])
        return nxt.replace(data=nxt.data.replace(qvel=jnp.where(blow_up, jnp.nan, nxt.data.qvel)),
                           obs={"state": obs, "privileged_state": obs})


def test_env_nans_end_only_their_envs_and_never_reach_the_normalizer():
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"), ("ppo.num_envs", 16), ("ppo.unroll_length", 16),
        ("ppo.num_minibatches", 4), ("ppo.num_epochs", 2), ("ppo.num_iterations", 4),
        ("run.log_every", 1024), ("run.eval_envs", 8),
    ])
    derived = config.derive(cfg)
    fns = make_train_fns(ExplodingCartpole(cfg), cfg, derived)
    carry = jax.jit(fns.init)(jax.random.PRNGKey(0))
    carry, metrics = jax.jit(fns.train_chunk)(carry, jnp.int32(derived.total_iterations))
    assert float(np.sum(metrics["nan_resets"])) > 0  # the env guard caught them ...
    assert float(np.sum(metrics["bad_update"])) == 0  # ... so every update went through
    normalizer = jax.device_get(carry.normalizer)
    for leaf in jax.tree_util.tree_leaves(normalizer):
        assert np.isfinite(np.asarray(leaf)).all()
    assert np.any(np.asarray(normalizer.mean) != 0)  # it did learn from the finite samples
    for leaf in jax.tree_util.tree_leaves(jax.device_get(carry.params)):
        assert np.isfinite(leaf).all()
    assert np.isfinite(np.asarray(carry.env_state.data.qvel)).all()  # blown-up envs were reset


def test_train_episode_length_cuts_training_episodes_as_time_limits():
    """Episodes of 5 steps in a 16-step rollout: every env ends episodes at its steps 5,
    10 and 15 (48 episodes of 5 steps in 16 envs), none of them a termination."""
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"), ("ppo.num_envs", 16), ("ppo.unroll_length", 16),
        ("ppo.num_minibatches", 4), ("ppo.num_epochs", 2), ("ppo.num_iterations", 1),
        ("run.log_every", 256), ("run.eval_envs", 8), ("ppo.train_episode_length", 5),
    ])
    fns = make_train_fns(CartpoleBalance(cfg), cfg, config.derive(cfg))
    carry = jax.jit(fns.init)(jax.random.PRNGKey(0))
    carry, metrics = jax.jit(fns.train_chunk)(carry, jnp.int32(1))
    assert float(metrics["episodes"][0]) == 48.0
    assert float(metrics["episode_length_sum"][0]) == 48.0 * 5
    assert float(metrics["terminations"][0]) == 0.0
    assert np.asarray(carry.episode.lengths).tolist() == [1.0] * 16  # step 16 opens episode 4
    # evaluation keeps the env's length (500 steps of cart-pole balance)
    assert float(jax.jit(fns.evaluate)(carry, jax.random.PRNGKey(1))["eval/episode_length"]) > 5
