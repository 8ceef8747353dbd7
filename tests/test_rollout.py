"""The shared unroll and evaluator against numbers worked out by hand.

A counter env: x starts at 0, each step adds the action to x and pays reward x; episodes
are truncated after 3 steps. With action 1 an episode pays 1 + 2 + 3 = 6.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from playground import rollout
from playground.tasks import wrappers
from playground.tasks.base import Env, State

F32 = jnp.float32


@struct.dataclass
class CounterData:
    qpos: jax.Array  # [1] x
    qvel: jax.Array  # [1] unused (the NaN guard reads it)


class Counter(Env):
    observation_size = {"state": 1, "privileged_state": 1}
    action_size = 1
    reward_terms = ()
    ctrl_dt = sim_dt = 1.0
    episode_length = 3

    def _state(self, x, reward, step):
        truncation = (step >= self.episode_length).astype(F32)
        return State(data=CounterData(qpos=x, qvel=jnp.zeros_like(x)),
                     obs={"state": x, "privileged_state": x}, reward=reward, done=truncation,
                     metrics={}, info={"step": step, "truncation": truncation})

    def reset(self, key):
        return self._state(jnp.zeros((1,), F32), F32(0.0), jnp.zeros((), jnp.int32))

    def step(self, state, action):
        x = state.data.qpos + action
        return self._state(x, x[0], state.info["step"] + 1)


def ones_policy(obs, key):
    action = jnp.ones((obs["state"].shape[0], 1), F32)
    return action, action, {"marker": jnp.full((obs["state"].shape[0],), 7.0, F32)}


def _unroll(length, **kwargs):
    env = Counter()
    state = wrappers.reset_batch(env, jax.random.PRNGKey(0), 2)
    return jax.jit(lambda s, e, k: rollout.unroll(env, ones_policy, s, e, k, length, **kwargs))(
        state, rollout.init_episode_stats(2), jax.random.PRNGKey(1))


def test_unroll_counts_episodes_scales_rewards_and_keeps_the_pre_reset_next_state():
    _, episode, data, metrics, observed = _unroll(
        7, reward_scaling=F32(0.5),
        observers=(lambda before, after: (before.data.qpos[:, 0], after.data.qpos[:, 0]),))
    # two 3-step episodes per env end at steps 3 and 6; step 7 opens a third
    assert float(metrics["episodes"]) == 4.0
    assert float(metrics["episode_return_sum"]) == 4 * 6.0
    assert float(metrics["episode_length_sum"]) == 4 * 3.0
    assert float(metrics["terminations"]) == 0.0  # time limits, not terminations
    assert "episode_success_sum" not in metrics  # the counter defines no success
    assert rollout.init_episode_stats(2, Counter()).successes is None
    np.testing.assert_array_equal(np.asarray(data.reward[:, 0]), [0.5, 1, 1.5, 0.5, 1, 1.5, 0.5])
    np.testing.assert_array_equal(np.asarray(data.truncation[:, 0]), [0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(np.asarray(data.next_obs["state"][:, 0, 0]), [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(np.asarray(data.extras["marker"]), np.full((7, 2), 7.0))
    before, after = observed[0]
    np.testing.assert_array_equal(np.asarray(before[:, 0]), [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(np.asarray(after[:, 0]), [1, 2, 3, 1, 2, 3, 1])  # no reset inside
    np.testing.assert_array_equal(np.asarray(episode.returns), [1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(episode.lengths), [1.0, 1.0])


def test_train_episode_length_cuts_episodes_as_time_limits():
    _, _, data, metrics, _ = _unroll(6, reward_scaling=F32(1.0), train_episode_length=2)
    # cut after 2 steps: episodes end at steps 2, 4, 6 (returns 1 + 2 = 3 each)
    assert float(metrics["episodes"]) == 6.0 and float(metrics["episode_return_sum"]) == 6 * 3.0
    np.testing.assert_array_equal(np.asarray(data.truncation[:, 0]), [0, 1, 0, 1, 0, 1])
    assert float(metrics["terminations"]) == 0.0


def test_the_evaluator_plays_fresh_episodes_to_their_end():
    evaluate = rollout.make_evaluator(Counter(), 4, lambda carry, obs: carry * jnp.ones((4, 1)))
    out = jax.jit(evaluate)(F32(1.0), jax.random.PRNGKey(0))
    assert float(out["eval/episode_reward"]) == 6.0
    assert float(out["eval/episode_length"]) == 3.0
    assert float(out["eval/survival_rate"]) == 1.0
    assert "eval/success_rate" not in out  # the counter defines no success: no fake 0.0
    # acting with 2 per step: 2 + 4 + 6
    assert float(jax.jit(evaluate)(F32(2.0), jax.random.PRNGKey(0))["eval/episode_reward"]) == 12.0


# --------------------------------------------------------------------------- success

# The scripted env's action is (success signal, terminate); each env row follows its own
# script, indexed by the step in the episode (obs), so every row repeats one kind of episode:
#   row 0: succeeds at step 1, terminated at step 2 with the signal 0 (succeeds, then fails)
#   row 1: the signal only at step 3, where the time limit truncates it
#   row 2: terminated at step 2 with the signal 1 (reaches the goal and stops)
#   row 3: never the signal; truncated at step 3
# (steps counted from 1; row 0 has a third script entry for an evaluator that steps an
# episode past its end: it must not count.)
SCRIPT = np.array([
    [[1, 0], [0, 1], [1, 0]],
    [[0, 0], [0, 0], [1, 0]],
    [[0, 0], [1, 1], [0, 0]],
    [[0, 0], [0, 0], [0, 0]],
], np.float32)  # [row, step in episode - 1, (success, terminate)]


class Scripted(Counter):
    """The counter's clock (x = steps into the episode); the action scripts the rest."""

    action_size = 2

    def __init__(self, mode):
        self.success_mode = mode

    def _scripted(self, step, success, terminated):
        state = self._state(step.astype(F32)[None], F32(1.0), step)
        truncation = state.info["truncation"] * (1.0 - terminated.astype(F32))
        return state.replace(done=jnp.maximum(terminated.astype(F32), truncation),
                             metrics={"success": success},
                             info={**state.info, "truncation": truncation})

    def reset(self, key):
        return self._scripted(jnp.zeros((), jnp.int32), F32(0.0), jnp.zeros((), bool))

    def step(self, state, action):
        return self._scripted(state.info["step"] + 1, action[0], action[1] > 0.5)


def script_policy(obs, key=None):
    step = jnp.minimum(obs["state"][:, 0].astype(jnp.int32), 2)  # steps taken so far
    action = jnp.asarray(SCRIPT)[jnp.arange(4), step]
    return action, action, {}


def test_unroll_counts_successful_episodes_across_auto_resets():
    """7 steps of the 4 rows. Episodes end (t counted from 0):
    row 0 at t = 1, 3, 5 (terminated; succeeded at step 1, failed at its last step),
    row 1 at t = 2, 5 (truncated with the signal), row 2 at t = 1, 3, 5 (terminated with
    the signal), row 3 at t = 2, 5 (truncated, never): 10 episodes, 6 terminations.
    "last": rows 1 and 2 succeed, 2 + 3 = 5; "ever": row 0 too, 3 + 2 + 3 = 8. At t = 6
    every row has just begun a new episode (script step 1): row 0's signal is 1 there,
    the others' 0, so only row 0 carries a success into the episode in progress; row 1's
    success at t = 5 did not leak through its reset."""
    for mode, successes in (("last", 5.0), ("ever", 8.0)):
        env = Scripted(mode)
        state = wrappers.reset_batch(env, jax.random.PRNGKey(0), 4)
        _, episode, _, metrics, _ = jax.jit(lambda s, e, k, env=env: rollout.unroll(
            env, script_policy, s, e, k, 7, reward_scaling=F32(1.0)))(
            state, rollout.init_episode_stats(4, env), jax.random.PRNGKey(1))
        assert float(metrics["episodes"]) == 10.0 and float(metrics["terminations"]) == 6.0
        assert float(metrics["episode_success_sum"]) == successes, mode
        np.testing.assert_array_equal(np.asarray(episode.successes), [1.0, 0.0, 0.0, 0.0])
        assert "task/success" not in metrics  # counted per episode, not averaged per step


def test_success_needs_episode_stats_made_for_the_env():
    env = Scripted("last")
    state = wrappers.reset_batch(env, jax.random.PRNGKey(0), 4)
    with pytest.raises(ValueError, match=r"init_episode_stats\(num_envs, env\)"):
        rollout.unroll(env, script_policy, state, rollout.init_episode_stats(4),
                       jax.random.PRNGKey(1), 1, reward_scaling=F32(1.0))


def test_the_evaluator_reports_the_success_rate_of_each_episode_as_it_ended():
    """One episode per row, stepped 3 times: row 0 ends at step 2 (terminated, signal 0)
    and is stepped once more with the signal 1, which must not count. "last": rows 1, 2
    succeed: 2 / 4; "ever": rows 0, 1, 2: 3 / 4."""
    for mode, rate in (("last", 0.5), ("ever", 0.75)):
        evaluate = rollout.make_evaluator(Scripted(mode), 4,
                                          lambda carry, obs: script_policy(obs)[0])
        out = jax.jit(evaluate)(F32(0.0), jax.random.PRNGKey(0))
        assert float(out["eval/success_rate"]) == rate, mode
        assert float(out["eval/survival_rate"]) == 0.5  # rows 0 and 2 terminated
        assert "eval/task/success" not in out
