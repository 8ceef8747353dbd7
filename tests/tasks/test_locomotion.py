"""The humanoid task's mechanics: NaN guard, truncation vs termination, randomization,
action delay, observation history. One env config, each function compiled once."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import config
from playground.tasks import registry, wrappers

B = 3


@pytest.fixture(scope="module")
def env():
    cfg = config.resolve(None, [
        ("env.task", "humanoid_walk"),
        ("env.episode_length", 4),
        ("env.action_delay_steps", [1, 1]),
        ("env.obs_history", 3),
        ("domain_randomization.enabled", True),
        ("domain_randomization.push_velocity", 0.0),
        ("env.command.resample_seconds", 0.02),  # a new command every step
        ("reward_weights.feet_phase", 1.0),
        ("reward_weights.tracking_ang_vel_avg", 1.0),
    ])
    return registry.get_task("humanoid_walk").make_env(cfg)


@pytest.fixture(scope="module")
def fns(env):
    reset = jax.jit(functools.partial(wrappers.reset_batch, env, num_envs=B))
    step = jax.jit(functools.partial(wrappers.step_batch, env))
    autoreset = jax.jit(wrappers.autoreset)
    return reset, step, autoreset


def _actions(env, seed):
    return jax.random.uniform(jax.random.PRNGKey(seed), (B, env.action_size), minval=-0.3, maxval=0.3)


def test_non_finite_physics_ends_and_resets_only_that_env(env, fns):
    reset, step, autoreset = fns
    state = step(reset(jax.random.PRNGKey(0)), _actions(env, 1))
    qvel = state.data.qvel.at[0, 0].set(jnp.nan)
    state = state.replace(data=state.data.replace(qvel=qvel))
    nxt = step(state, _actions(env, 2))
    assert np.asarray(nxt.metrics["nan_resets"]).tolist() == [1.0, 0.0, 0.0]
    assert float(nxt.done[0]) == 1.0 and float(nxt.info["truncation"][0]) == 0.0
    assert float(nxt.reward[0]) == 0.0
    assert np.isfinite(np.asarray(nxt.obs["state"])).all()
    assert np.asarray(nxt.done[1:]).tolist() == [0.0, 0.0]
    fresh = reset(jax.random.PRNGKey(9))
    after = autoreset(nxt, fresh)
    assert int(after.info["step"][0]) == 0 and np.isfinite(np.asarray(after.data.qvel[0])).all()
    np.testing.assert_array_equal(np.asarray(after.data.qpos[0]), np.asarray(fresh.data.qpos[0]))
    assert np.asarray(after.info["step"][1:]).tolist() == [2, 2]  # the others run on


def test_truncation_at_the_time_limit_is_not_termination(env, fns):
    reset, step, _ = fns
    state = reset(jax.random.PRNGKey(3))
    for t in range(4):
        state = step(state, jnp.zeros((B, env.action_size)))
        if t < 3:
            assert np.asarray(state.done).tolist() == [0.0] * B
    assert np.asarray(state.done).tolist() == [1.0] * B
    assert np.asarray(state.info["truncation"]).tolist() == [1.0] * B
    assert np.asarray(state.metrics["reward/termination"]).tolist() == [0.0] * B


def test_a_fall_is_a_termination(env, fns):
    reset, step, _ = fns
    state = reset(jax.random.PRNGKey(4))
    qpos = state.data.qpos.at[1, 2].set(0.05)  # env 1's pelvis near the floor
    state = state.replace(data=state.data.replace(qpos=qpos))
    nxt = step(state, jnp.zeros((B, env.action_size)))
    assert float(nxt.done[1]) == 1.0 and float(nxt.info["truncation"][1]) == 0.0
    assert float(nxt.metrics["reward/termination"][1]) == pytest.approx(env.weights["termination"])
    assert float(nxt.done[0]) == 0.0


def test_randomization_scales_kp_in_gain_and_bias_together(env, fns):
    reset, _, _ = fns
    sys = reset(jax.random.PRNGKey(5)).info["sys"]
    base_gain = env.mj_model.actuator_gainprm[:, 0]
    base_bias = env.mj_model.actuator_biasprm[:, 1]
    gain_scale = np.asarray(sys["actuator_gainprm"][:, :, 0]) / base_gain
    bias_scale = np.asarray(sys["actuator_biasprm"][:, :, 1]) / base_bias
    np.testing.assert_allclose(gain_scale, bias_scale, rtol=1e-6)
    lo, hi = env.dr.actuator_gain_scale
    assert (gain_scale >= lo - 1e-6).all() and (gain_scale <= hi + 1e-6).all()
    assert not np.allclose(gain_scale[0], gain_scale[1])  # each env draws its own
    friction = np.asarray(sys["geom_friction"][:, 0, 0])
    assert len(set(friction.round(6))) == B
    # frictionloss is randomized only where the model has it (MJX needs it non-zero)
    assert (np.asarray(sys["dof_frictionloss"])[:, env.qvel_idx] > 0).all()


def test_action_delay_and_observation_history(env, fns):
    reset, step, _ = fns
    state = reset(jax.random.PRNGKey(6))
    a1, a2 = _actions(env, 7), _actions(env, 8)
    s1 = step(state, a1)
    s2 = step(s1, a2)
    # delay of one step: the targets applied during step 2 come from the first action
    expected = np.clip(env.home_joints + np.asarray(a1) * env.action_scale,
                       env.ctrl_range[:, 0], env.ctrl_range[:, 1])
    np.testing.assert_allclose(np.asarray(s2.data.ctrl), expected, rtol=1e-6, atol=1e-6)
    # history: newest frame first, older frames shift back by one
    f = env.frame_size
    np.testing.assert_array_equal(np.asarray(s2.obs["state"][:, f:2 * f]),
                                  np.asarray(s1.obs["state"][:, :f]))
    np.testing.assert_array_equal(np.asarray(s2.obs["state"][:, 2 * f:]),
                                  np.asarray(s1.obs["state"][:, f:2 * f]))
    # "last action" in the observation is the policy's previous output
    layout = {e["name"]: e for e in env.policy_spec()["observation"]["frame"]}
    la = layout["last_action"]
    np.testing.assert_allclose(np.asarray(s2.obs["state"][:, la["start"]:la["start"] + la["size"]]),
                               np.asarray(a2), atol=1e-6)


@pytest.fixture(scope="module")
def reset_held(env):
    """[B] fresh episodes that hold one command: (key, command [3]) -> State."""
    batched = jax.jit(jax.vmap(env.reset_with_command))
    return lambda key, command: batched(jax.random.split(key, B),
                                        jnp.broadcast_to(jnp.asarray(command), (B, 3)))


def test_held_command_is_never_resampled(env, fns, reset_held):
    reset, step, _ = fns
    command = jnp.array([0.3, 0.0, 0.2])
    held = reset_held(jax.random.PRNGKey(9), command)
    sampled = reset(jax.random.PRNGKey(9))
    zeros = jnp.zeros((B, env.action_size))
    for _ in range(2):
        held, sampled_next = step(held, zeros), step(sampled, zeros)
        assert not np.allclose(sampled_next.info["command"], sampled.info["command"])
        sampled = sampled_next
    np.testing.assert_allclose(np.asarray(held.info["command"]), np.tile(command, (B, 1)))


def test_feet_phase_reward_asks_the_swing_foot_to_lift(env, fns, reset_held):
    """Feet on the floor while the clock says the left foot is at the top of its swing:
    error ~ h^2 on one foot, so the term is about exp(-0.035^2 / 5e-4) = exp(-2.45) = 0.086."""
    from playground.tasks.locomotion.rewards import FEET_PHASE_SIGMA

    _, step, _ = fns
    state = reset_held(jax.random.PRNGKey(10), jnp.array([0.3, 0.0, 0.0]))  # moving: term on
    advance = 2 * np.pi * env.gait_frequency * env.ctrl_dt  # phase moves this much per step
    info = dict(state.info)
    info["phase"] = jnp.array([np.pi / 2, 3 * np.pi / 2, np.pi / 2]) - advance
    nxt = step(state.replace(info=info), jnp.zeros((B, env.action_size)))
    lift = np.asarray(nxt.data.xpos[:, env.feet, 2]) - env.home_feet_z  # [B, 2]
    h = env.swing_height
    target = np.array([[h, 0.0], [0.0, h], [h, 0.0]])  # left up, right up, left up
    expected = np.exp(-np.sum((lift - target) ** 2, axis=1) / FEET_PHASE_SIGMA)
    got = np.asarray(nxt.metrics["reward/feet_phase"])
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert np.all(np.abs(lift) < 0.01) and np.all((got > 0.05) & (got < 0.13))


def test_averaged_yaw_rate_reward_tracks_the_turn_not_the_wobble(env, fns, reset_held):
    """avg' = avg + a (yaw - avg) with a = ctrl_dt / yaw_average_seconds = 0.02 / 0.5 = 0.04;
    the term is exp(-(command - avg')^2 / 0.05): at avg' = 0.5 = the command it is 1."""
    _, step, _ = fns
    assert env.yaw_average_alpha == pytest.approx(0.04)
    state = reset_held(jax.random.PRNGKey(11), jnp.array([0.0, 0.0, 0.5]))
    info = dict(state.info)
    info["yaw_rate_avg"] = jnp.array([0.0, 0.3, 0.5])
    nxt = step(state.replace(info=info), jnp.zeros((B, env.action_size)))
    yaw = np.asarray(nxt.metrics["yaw_rate"])
    avg = np.array([0.0, 0.3, 0.5]) + 0.04 * (yaw - np.array([0.0, 0.3, 0.5]))
    np.testing.assert_allclose(np.asarray(nxt.info["yaw_rate_avg"]), avg, atol=1e-6)
    np.testing.assert_allclose(np.asarray(nxt.metrics["reward/tracking_ang_vel_avg"]),
                               np.exp(-(0.5 - avg) ** 2 / 0.05), rtol=1e-5)
    assert np.ptp(yaw) > 0.05  # the envs' rates differ, so each env's own average is used


def test_turn_in_place_commands_keep_the_yaw_and_leave_other_draws_alone(env):
    """With turn_in_place_probability p a command is (0, 0, yaw) with chance p; at p = 0
    every command equals the sampler's draw before the option existed."""
    keys = jax.random.split(jax.random.PRNGKey(12), 400)
    lo, hi = env.command_ranges[:, 0], env.command_ranges[:, 1]

    def before(key):  # the sampler as it was: uniform in the ranges, zeroed with zero_probability
        key_cmd, key_zero = jax.random.split(key)
        cmd = jax.random.uniform(key_cmd, (3,), jnp.float32, lo, hi)
        zero = jax.random.uniform(key_zero, (), jnp.float32) < env.zero_command_prob
        return jnp.where(zero, jnp.zeros_like(cmd), cmd)

    assert env.turn_in_place_prob == 0.0
    np.testing.assert_array_equal(np.asarray(jax.vmap(env._sample_command)(keys)),
                                  np.asarray(jax.vmap(before)(keys)))
    cfg = config.resolve(None, [("env.task", "humanoid_walk"),
                                ("env.command.turn_in_place_probability", 0.5)])
    turning = registry.get_task("humanoid_walk").make_env(cfg)
    got, old = np.asarray(jax.vmap(turning._sample_command)(keys)), np.asarray(jax.vmap(before)(keys))
    in_place = (got[:, 0] == 0) & (got[:, 1] == 0) & (got[:, 2] != 0)
    assert 0.35 < in_place.mean() < 0.55  # 0.5 of the 0.9 not zeroed: 0.45
    np.testing.assert_array_equal(got[:, 2], old[:, 2])  # the yaw rate is the same draw
    np.testing.assert_array_equal(got[~in_place], old[~in_place])
