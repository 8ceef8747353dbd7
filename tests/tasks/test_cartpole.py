"""Cart-pole balance: the env contract (shapes, dtypes, done/truncation) and the task.

Compiles are the cost here, so reset and step are jitted once per batch shape
(single env and 4 envs) in module-scoped fixtures and reused by every test.
"""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from playground.tasks.cartpole import MAX_POLE_ANGLE, OBSERVATION_NAMES, make_cartpole_env

EPISODE_LENGTH = 20
SUCCESS_THRESHOLD = 0.2  # rad
NUM_ENVS = 4
# u = K . obs from an LQR of the linearized cart-pole (2 substeps of 0.01 s, gear 10):
# the task is solvable by a linear policy on [cart_pos, ., pole_sin, cart_vel, pole_ang_vel].
LQR_GAINS = np.array([0.86, 0.0, 7.0, 1.05, 1.69], np.float32)


def _config(**reward_weights):
    values = {
        "env": {
            "episode_length": EPISODE_LENGTH,
            "ctrl_dt": 0.02,
            "sim_dt": 0.01,
            "action_scale": 1.0,
            "success_threshold": SUCCESS_THRESHOLD,
        }
    }
    if reward_weights:
        values["reward_weights"] = reward_weights
    return ml_collections.ConfigDict(values)


@pytest.fixture(scope="module")
def env():
    return make_cartpole_env(_config())  # no reward_weights section: balance weight 1.0


@pytest.fixture(scope="module")
def single(env):
    return jax.jit(env.reset), jax.jit(env.step)


@pytest.fixture(scope="module")
def batched(env):
    return jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))


def _assert_finite_float32(tree):
    for leaf in jax.tree_util.tree_leaves(tree):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == jnp.float32
            assert np.all(np.isfinite(np.asarray(leaf)))


def _check_state(state, env, batch=()):
    obs_dim = len(OBSERVATION_NAMES)
    assert env.observation_size == {"state": obs_dim, "privileged_state": obs_dim}
    assert set(state.obs) == {"state", "privileged_state"}
    assert state.obs["state"].shape == batch + (obs_dim,)
    assert state.obs["privileged_state"].shape == batch + (obs_dim,)
    assert state.obs["state"].dtype == jnp.float32
    assert state.reward.shape == batch and state.reward.dtype == jnp.float32
    assert state.done.shape == batch and state.done.dtype == jnp.float32
    assert set(state.metrics) == {"reward/balance", "success"}
    assert state.metrics["reward/balance"].shape == batch
    assert state.metrics["success"].shape == batch
    assert set(state.info) == {"rng", "step", "truncation", "sys"}
    assert state.info["sys"] == {}
    assert state.info["step"].shape == batch and state.info["step"].dtype == jnp.int32
    assert state.info["truncation"].shape == batch
    assert state.info["truncation"].dtype == jnp.float32
    _assert_finite_float32((state.obs, state.reward, state.done, state.metrics, state.info))
    _assert_finite_float32((state.data.qpos, state.data.qvel))


def test_single_env_reset_and_step(env, single):
    reset, step = single
    state = reset(jax.random.PRNGKey(0))
    _check_state(state, env)
    assert float(state.done) == 0.0 and int(state.info["step"]) == 0
    # Near upright: |cart_pos| <= 0.05, |pole angle| <= 0.05, |velocities| <= 0.01.
    cart_pos, pole_cos, pole_sin, cart_vel, pole_ang_vel = np.asarray(state.obs["state"])
    assert abs(cart_pos) <= 0.05 and abs(np.arctan2(pole_sin, pole_cos)) <= 0.05 + 1e-6
    assert abs(cart_vel) <= 0.01 and abs(pole_ang_vel) <= 0.01
    np.testing.assert_array_equal(state.obs["state"], state.obs["privileged_state"])

    next_state = step(state, jnp.zeros(env.action_size, jnp.float32))
    _check_state(next_state, env)
    assert int(next_state.info["step"]) == 1
    assert 0.0 < float(next_state.reward) <= 1.0
    assert float(next_state.reward) == float(next_state.metrics["reward/balance"])


def test_reset_and_step_keep_the_same_types(env):
    # Same shapes, dtypes and weak types in and out of step: a lax.scan carry of State
    # neither errors nor retraces. (Traces only; nothing compiles.)
    state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    next_state = jax.eval_shape(env.step, state, jax.ShapeDtypeStruct((1,), jnp.float32))
    assert jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(next_state)
    for before, after in zip(
        jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(next_state), strict=True
    ):
        assert (before.shape, before.dtype, before.weak_type) == (
            after.shape,
            after.dtype,
            after.weak_type,
        )


def test_batched_envs_differ_and_keep_shapes(env, batched):
    reset, step = batched
    state = reset(jax.random.split(jax.random.PRNGKey(1), NUM_ENVS))
    _check_state(state, env, batch=(NUM_ENVS,))
    assert len(np.unique(np.asarray(state.obs["state"][:, 0]))) == NUM_ENVS  # own noise each
    next_state = step(state, jnp.zeros((NUM_ENVS, env.action_size), jnp.float32))
    _check_state(next_state, env, batch=(NUM_ENVS,))


def test_episodes_end_by_termination_or_truncation(env, batched):
    # env 0: zero action (the pole falls, but not within 20 steps of 0.02 s);
    # env 1 / 2: full push right / left (the pole falls over backwards in ~15 steps);
    # env 3: the LQR controller (balances).
    reset, step = batched
    state = reset(jax.random.split(jax.random.PRNGKey(2), NUM_ENVS))
    push = np.array([0.0, 1.0, -1.0, 0.0], np.float32)
    first_done = np.zeros(NUM_ENVS, np.int32)
    truncation_at_done = np.zeros(NUM_ENVS, np.float32)
    success_at_done = np.zeros(NUM_ENVS, np.float32)
    for t in range(1, EPISODE_LENGTH + 1):
        obs = np.asarray(state.obs["state"])
        action = push + np.array([0.0, 0.0, 0.0, 1.0], np.float32) * (obs @ LQR_GAINS)
        state = step(state, jnp.asarray(action[:, None]))
        np.testing.assert_array_equal(state.info["step"], np.full(NUM_ENVS, t))
        done = np.asarray(state.done)
        truncation = np.asarray(state.info["truncation"])
        assert np.all(truncation <= done)  # truncation implies done
        newly_done = (done > 0.5) & (first_done == 0)
        first_done[newly_done] = t
        truncation_at_done[newly_done] = truncation[newly_done]
        success_at_done[newly_done] = np.asarray(state.metrics["success"])[newly_done]
        # the signal by hand: pole within the threshold and the episode not terminated
        obs = np.asarray(state.obs["state"])
        within = np.abs(np.arctan2(obs[:, 2], obs[:, 1])) <= SUCCESS_THRESHOLD
        terminated = (done > 0.5) & (truncation < 0.5)
        np.testing.assert_array_equal(state.metrics["success"], within & ~terminated)
        alive = first_done == 0
        assert np.all(np.asarray(state.reward)[alive] > 0.0)

    # Pushed envs terminate early: done without truncation, pole past the limit.
    assert np.all((first_done[1:3] > 0) & (first_done[1:3] < EPISODE_LENGTH))
    np.testing.assert_array_equal(truncation_at_done[1:3], [0.0, 0.0])
    pole_angle = np.arctan2(
        np.asarray(state.obs["state"][1:3, 2]), np.asarray(state.obs["state"][1:3, 1])
    )
    assert np.all(np.abs(pole_angle) > MAX_POLE_ANGLE)
    # Surviving envs are truncated exactly at the time limit, and only there.
    np.testing.assert_array_equal(first_done[[0, 3]], [EPISODE_LENGTH, EPISODE_LENGTH])
    np.testing.assert_array_equal(truncation_at_done[[0, 3]], [1.0, 1.0])
    # success ("last"): the signal as the episode ended; the pushed envs fell, the LQR held
    np.testing.assert_array_equal(success_at_done[1:], [0.0, 0.0, 1.0])


def test_the_evaluator_reports_the_success_rate(env):
    """eval/success_rate through the shared evaluator: the LQR controller holds the pole
    within the threshold until the time limit in all 4 episodes (1.0); with env 0 to 2
    pushed right, left, right at full force their poles fall (terminated, signal 0) and only
    the LQR env 3 succeeds: 1 / 4."""
    from playground import rollout

    def act(carry, obs):  # carry [2, 4]: the push and the weight of the LQR term per env
        return (carry[0] + carry[1] * (obs["state"] @ jnp.asarray(LQR_GAINS)))[:, None]

    evaluate = jax.jit(rollout.make_evaluator(env, NUM_ENVS, act))
    lqr = jnp.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    out = evaluate(lqr, jax.random.PRNGKey(5))
    assert float(out["eval/success_rate"]) == 1.0 and float(out["eval/survival_rate"]) == 1.0
    pushed = jnp.array([[1.0, -1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    out = evaluate(pushed, jax.random.PRNGKey(5))
    assert float(out["eval/success_rate"]) == 0.25 and float(out["eval/survival_rate"]) == 0.25
    assert "eval/task/success" not in out  # the signal is folded per episode, not averaged


def test_zero_action_falls_before_a_long_time_limit(env, single):
    # Without control the pole falls within ~2 s (100 steps); the episode terminates
    # (truncation 0) even though step keeps running past the env's short time limit.
    reset, step = single
    state = reset(jax.random.PRNGKey(3))
    zero = jnp.zeros(env.action_size, jnp.float32)
    for _ in range(100):
        state = step(state, zero)
        pole_angle = np.arctan2(float(state.obs["state"][2]), float(state.obs["state"][1]))
        if abs(pole_angle) > MAX_POLE_ANGLE:
            break
    assert abs(pole_angle) > MAX_POLE_ANGLE
    assert float(state.done) == 1.0 and float(state.info["truncation"]) == 0.0


def test_reward_weight_scales_the_term(env, single):
    reset, step = single
    state = reset(jax.random.PRNGKey(4))
    action = jnp.full((env.action_size,), 0.5, jnp.float32)
    heavy = make_cartpole_env(_config(balance=2.0))
    reward = float(step(state, action).reward)
    heavy_reward = float(jax.jit(heavy.step)(state, action).reward)
    np.testing.assert_allclose(heavy_reward, 2.0 * reward, rtol=1e-6)
    # Near upright and centred, only the control factor (4 + 1 - 0.25) / 5 = 0.95 bites.
    np.testing.assert_allclose(reward, 0.95, atol=5e-3)


def test_policy_spec(env):
    spec = env.policy_spec()
    json.dumps(spec)  # plain Python values only: it travels with the checkpoint
    assert [entry["name"] for entry in spec["observation_layout"]] == list(OBSERVATION_NAMES)
    assert (
        sum(entry["size"] for entry in spec["observation_layout"]) == env.observation_size["state"]
    )
    assert spec["action_size"] == env.action_size == 1
    assert spec["joint_names"] == ["slider", "hinge"]
    assert spec["actuator_names"] == ["slide"]
    assert spec["ctrl_dt"] == pytest.approx(0.02) and spec["sim_dt"] == pytest.approx(0.01)
    assert spec["n_substeps"] == 2


def test_ctrl_dt_must_be_a_multiple_of_sim_dt():
    cfg = _config()
    cfg.env.ctrl_dt = 0.025
    with pytest.raises(ValueError, match="ctrl_dt"):
        make_cartpole_env(cfg)
