"""The shared unroll and evaluator against numbers worked out by hand.

A counter env: x starts at 0, each step adds the action to x and pays reward x; episodes
are truncated after 3 steps. With action 1 an episode pays 1 + 2 + 3 = 6.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
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
    # acting with 2 per step: 2 + 4 + 6
    assert float(jax.jit(evaluate)(F32(2.0), jax.random.PRNGKey(0))["eval/episode_reward"]) == 12.0
