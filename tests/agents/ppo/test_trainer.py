"""The jitted PPO iteration end to end on the cheap classic task.

The cart-pole balance task must learn within a CPU-minute: from a random
policy's ~40-step episodes to a deterministic eval return above 300 (of 500).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import config, training
from playground.agents.ppo.trainer import (
    adapt_learning_rate,
    average_policy,
    deployed_policy,
    make_train_fns,
)
from playground.envs.cartpole import CartpoleBalance

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
    return training.Run(cfg, ["test"], log=lambda *_: None)


@pytest.fixture(scope="module")
def result(run):
    return run.train()


def test_cartpole_learns_within_a_cpu_minute(run, result):
    random_policy_eval = run.evaluate(jax.jit(run.fns.init)(run.key_init))
    assert result.final_eval["eval/episode_reward"] > EVAL_RETURN_THRESHOLD
    assert result.final_eval["eval/episode_reward"] > 3 * random_policy_eval["eval/episode_reward"]
    assert result.wall_time - result.compile_time < 60.0


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


@pytest.mark.parametrize("lr, kl, expected", [
    (1e-3, 0.03, 1e-3 / 1.5),  # above 2 x 0.01: divided by 1.5
    (1e-3, 0.004, 1.5e-3),  # below 0.01 / 2: times 1.5
    (1e-3, 0.01, 1e-3),  # in [0.005, 0.02]: unchanged
    (1e-3, 0.02, 1e-3),  # the band's edges do not move it
    (1e-3, 0.005, 1e-3),
    (1e-3, 0.0, 1e-3),  # no KL measured (first minibatch of an epoch): unchanged
    (9e-3, 0.001, 1e-2),  # 1.35e-2 capped at 1e-2
    (1.2e-5, 1.0, 1e-5),  # 8e-6 floored at 1e-5
])
def test_adapt_learning_rate_by_hand(lr, kl, expected):
    out = adapt_learning_rate(jnp.float32(lr), jnp.float32(kl), 0.01)
    assert out.dtype == jnp.float32 and out.shape == ()
    np.testing.assert_allclose(float(out), expected, rtol=1e-6)


@pytest.mark.parametrize("n, expected", [
    (1, 3.0),  # the first update replaces the initial weights: w = 1
    (2, 2.0),  # w = 1/2: (1 + 3) / 2
    (4, 1.5),  # w = max(1 - 0.75, 1/4) = 1/4
    (10, 1.5),  # from 1 / (1 - d) iterations on the decay holds: w = 1/4
])
def test_average_policy_by_hand(n, expected):
    avg = {"w": jnp.ones((2,), jnp.float32)}
    out = average_policy(avg, {"w": jnp.full((2,), 3.0, jnp.float32)}, jnp.int32(n), 0.75)
    assert out["w"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out["w"]), [expected, expected], rtol=1e-6)


def test_policy_average_follows_the_iterates_and_is_what_evaluate_plays():
    """ppo.policy_average=0.5: after iterations 1, 2, 3 the average is p1, (p1 + p2) / 2,
    then (avg + p3) / 2; evaluate acts with it, not with the current policy."""
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"), ("ppo.num_envs", 16), ("ppo.unroll_length", 16),
        ("ppo.num_minibatches", 4), ("ppo.num_epochs", 2), ("ppo.num_iterations", 3),
        ("run.log_every", 256), ("run.eval_envs", 8), ("ppo.policy_average", 0.5),
    ])
    derived = config.derive(cfg)
    assert derived.iterations_per_chunk == 1
    fns = make_train_fns(CartpoleBalance(cfg), cfg, derived)
    chunk = jax.jit(fns.train_chunk)
    carry = jax.jit(fns.init)(jax.random.PRNGKey(0))
    tree = jax.tree_util.tree_map
    policies = []
    for _ in range(3):
        carry, _ = chunk(carry, jnp.int32(3))
        policies.append(jax.device_get(carry.params.policy))
    p1, p2, p3 = policies
    expected = tree(lambda a, b, c: ((a + b) / 2 + c) / 2, p1, p2, p3)
    got = jax.device_get(carry.avg_policy)
    for e, g in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(got),
                    strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    assert not all(np.array_equal(a, b) for a, b in zip(
        jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(p3), strict=True))
    assert deployed_policy(carry) is carry.avg_policy

    evaluate = jax.jit(fns.evaluate)
    key = jax.random.PRNGKey(5)
    zeros = tree(jnp.zeros_like, carry.avg_policy)  # mode tanh(0): the cart is never pushed
    ours = evaluate(carry.replace(avg_policy=zeros), key)["eval/episode_reward"]
    same = evaluate(carry.replace(avg_policy=zeros, params=carry.params.replace(policy=zeros)),
                    key)["eval/episode_reward"]
    current = evaluate(carry.replace(avg_policy=carry.params.policy), key)["eval/episode_reward"]
    assert float(ours) == float(same) != float(current)


def _small_cartpole(*overrides):
    """(initial carry, carry after one iteration, its metrics) of a small cart-pole run."""
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"), ("ppo.num_envs", 16), ("ppo.unroll_length", 16),
        ("ppo.num_minibatches", 4), ("ppo.num_epochs", 2), ("ppo.num_iterations", 1),
        ("run.log_every", 256), ("run.eval_envs", 8), *overrides,
    ])
    fns = make_train_fns(CartpoleBalance(cfg), cfg, config.derive(cfg))
    init = jax.jit(fns.init)(jax.random.PRNGKey(0))
    return (jax.device_get(init), *jax.device_get(jax.jit(fns.train_chunk)(init, jnp.int32(1))))


def test_kl_stop_skips_the_rest_of_an_iteration_once_the_kl_passes_it():
    """8 minibatch steps: the first one's KL (before any step) is exactly 0, every later
    one's is > 0. A limit of 1e-12 keeps only the first step (7 of 8 skipped): Adam's first
    step moves each weight by at most the learning rate. A limit nothing reaches changes
    nothing, bit for bit."""
    leaves = jax.tree_util.tree_leaves
    init, off, m_off = _small_cartpole()
    _, never, m_never = _small_cartpole(("ppo.kl_stop", 1e9))
    _, one, m_one = _small_cartpole(("ppo.kl_stop", 1e-12))
    assert all(np.array_equal(a, b) for a, b in zip(leaves(off.params), leaves(never.params),
                                                    strict=True))
    assert "kl_stopped" not in m_off and float(m_never["kl_stopped"][0]) == 0.0
    assert float(m_one["kl_stopped"][0]) == 7 / 8

    def largest_change(carry):
        return max(float(np.max(np.abs(a - b))) for a, b in zip(
            leaves(carry.params.policy), leaves(init.params.policy), strict=True))

    lr = float(config.resolve(None, [("env.task", "cartpole_balance")]).ppo.learning_rate)
    assert 0.5 * lr < largest_change(one) <= 1.001 * lr
    assert largest_change(off) > 1.5 * lr  # eight steps went further


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
