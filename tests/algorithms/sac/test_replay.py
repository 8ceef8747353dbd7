"""The replay ring: writes wrap around, samples come only from written rows, a row never
pairs an observation with the next episode's, and n-step returns stop at episode ends."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from playground import rollout
from playground.algorithms.sac import replay as replay_lib
from playground.rollout import Transition
from playground.tasks import wrappers
from playground.tasks.base import Env, State

F32 = jnp.float32


def _transitions(reward, obs=None, next_obs=None, termination=None, truncation=None):
    """[T, E] transitions with the given rewards (obs: [T, E, 1] each, zeros if None)."""
    reward = jnp.asarray(reward, F32)
    zeros = jnp.zeros_like(reward)
    obs = jnp.zeros(reward.shape + (1,), F32) if obs is None else jnp.asarray(obs, F32)
    next_obs = obs + 0.5 if next_obs is None else jnp.asarray(next_obs, F32)
    return Transition(
        obs={"state": obs, "privileged_state": obs}, action=jnp.zeros(reward.shape + (1,), F32),
        reward=reward, termination=zeros if termination is None else jnp.asarray(termination, F32),
        truncation=zeros if truncation is None else jnp.asarray(truncation, F32),
        next_obs={"state": next_obs, "privileged_state": next_obs}, valid=jnp.ones_like(reward),
        extras={})


def _ring(num_envs, rows_per_env, obs_size=1):
    return replay_lib.init_replay(num_envs, rows_per_env,
                                  {"state": obs_size, "privileged_state": obs_size}, 1)


def _label(first_row: int, length: int = 3):
    """[T, 2] rewards naming their row: 1 + 10 * env + logical row (0 never appears)."""
    rows = np.arange(first_row, first_row + length, dtype=np.float32)[:, None]
    return 1.0 + 10.0 * np.arange(2, dtype=np.float32)[None, :] + rows


def _sampled_rewards(ring):
    """The set of rewards in 64 batches of 16 rows per env (n = 1: the return is the reward)."""
    keys = jax.random.split(jax.random.PRNGKey(0), 64)
    returns = jax.vmap(lambda key: replay_lib.sample(ring, key, 16, 1, 0.5)["returns"])(keys)
    return set(np.asarray(returns).ravel().tolist())


def test_writes_wrap_around_and_samples_come_only_from_written_rows():
    insert = jax.jit(replay_lib.insert)
    ring = insert(_ring(2, 4), _transitions(_label(0)))  # rows 0, 1, 2 of 4 slots
    assert int(ring.count) == 3 and int(replay_lib.size(ring)) == 3
    # slot 3 is still empty (reward 0): never drawn; every written row is
    assert _sampled_rewards(ring) == {1.0, 2.0, 3.0, 11.0, 12.0, 13.0}

    ring = insert(insert(ring, _transitions(_label(3))), _transitions(_label(6)))
    # rows 0..8 written into 4 slots: the newest four, 5..8, sit at slots 1, 2, 3, 0
    assert int(ring.count) == 9 and int(replay_lib.size(ring)) == 4
    np.testing.assert_array_equal(np.asarray(ring.reward),
                                  [[9.0, 6.0, 7.0, 8.0], [19.0, 16.0, 17.0, 18.0]])
    assert _sampled_rewards(ring) == {6.0, 7.0, 8.0, 9.0, 16.0, 17.0, 18.0, 19.0}


def test_nstep_returns_stop_at_episode_ends_and_at_the_newest_row():
    # One env, rows 0..5, rewards 1, 2, 4, 8, 16, 32; episode A = rows 0-1 (time limit at
    # row 1), B = rows 2-4 (terminates at row 4), C = row 5 (the newest row). n = 3, g = 0.5.
    #   row 0: 1 + 0.5*2 = 2              bootstrap 0.25  from row 1's next obs (1.5)
    #   row 1: 2                          bootstrap 0.5   from 1.5
    #   row 2: 4 + 0.5*8 + 0.25*16 = 12   bootstrap 0     (terminal; next obs 4.5)
    #   row 3: 8 + 0.5*16 = 16            bootstrap 0     (4.5)
    #   row 4: 16                         bootstrap 0     (4.5)
    #   row 5: 32                         bootstrap 0.5   from 5.5 (nothing newer yet)
    rows = np.arange(6, dtype=np.float32)
    data = _transitions(
        (2.0 ** rows)[:, None], obs=rows[:, None, None],
        truncation=(rows == 1)[:, None], termination=(rows == 4)[:, None])
    ring = replay_lib.insert(_ring(1, 8), data)
    expected = {0: (2.0, 0.25, 1.5), 1: (2.0, 0.5, 1.5), 2: (12.0, 0.0, 4.5),
                3: (16.0, 0.0, 4.5), 4: (16.0, 0.0, 4.5), 5: (32.0, 0.5, 5.5)}
    batch = jax.jit(replay_lib.sample, static_argnums=(2, 3, 4))(
        ring, jax.random.PRNGKey(1), 256, 3, 0.5)
    seen = set()
    for obs, ret, boot, nxt in zip(np.asarray(batch["obs"]["state"][:, 0]),
                                   np.asarray(batch["returns"]), np.asarray(batch["bootstrap"]),
                                   np.asarray(batch["next_obs"]["state"][:, 0]), strict=True):
        assert (float(ret), float(boot), float(nxt)) == expected[int(obs)], int(obs)
        seen.add(int(obs))
    assert seen == set(expected)
    np.testing.assert_array_equal(np.asarray(batch["weight"]), np.ones(256))


@struct.dataclass
class CounterData:
    qpos: jax.Array  # [2] (episode id, step in the episode)
    qvel: jax.Array  # [1] unused


class Counter(Env):
    """Observes (episode id, step); ends by a time limit after 3 steps, or terminates when
    the action is above 0.5. Each reset draws a new episode id."""

    observation_size = {"state": 2, "privileged_state": 2}
    action_size = 1
    reward_terms = ()
    episode_length = 3

    def _state(self, data, reward, done, info):
        return State(data=data, obs={"state": data.qpos, "privileged_state": data.qpos},
                     reward=reward, done=done, metrics={}, info=info)

    def reset(self, key):
        episode = jax.random.uniform(key, (), F32, 1.0, 1e6)
        data = CounterData(qpos=jnp.stack([episode, F32(0.0)]), qvel=jnp.zeros((1,), F32))
        return self._state(data, F32(0.0), F32(0.0), {"truncation": F32(0.0)})

    def step(self, state, action):
        qpos = state.data.qpos + jnp.array([0.0, 1.0], F32)
        truncation = (qpos[1] >= self.episode_length).astype(F32)
        done = jnp.maximum(truncation, (action[0] > 0.5).astype(F32))
        return self._state(state.data.replace(qpos=qpos), F32(1.0), done,
                           {"truncation": truncation * done})


def test_a_row_never_pairs_an_observation_with_the_next_episodes():
    """Through the real unroll and auto-reset: each stored (obs, next_obs) is one step of
    one episode, episode ends included (their next obs is the final one, before the reset)."""
    env, num_envs = Counter(), 4

    def policy(obs, key):
        action = jax.random.uniform(key, (num_envs, 1), F32, -1.0, 1.0)
        return action, action, {}

    @jax.jit
    def collect(key):
        key_reset, key_unroll = jax.random.split(key)
        state = wrappers.reset_batch(env, key_reset, num_envs)
        _, _, data, _, _ = rollout.unroll(env, policy, state, rollout.init_episode_stats(num_envs),
                                          key_unroll, 24, reward_scaling=F32(1.0))
        return replay_lib.insert(_ring(num_envs, 32, obs_size=2), data)

    ring = collect(jax.random.PRNGKey(0))
    obs, nxt = np.asarray(ring.obs["state"][:, :24]), np.asarray(ring.next_obs["state"][:, :24])
    np.testing.assert_array_equal(nxt[..., 0], obs[..., 0])  # the same episode
    np.testing.assert_array_equal(nxt[..., 1], obs[..., 1] + 1.0)  # one step later
    # the test sees both kinds of episode end, and the row after one starts an episode
    # (a reset obs, step 0: had a row paired it as next_obs, "one step later" would fail)
    assert np.asarray(ring.termination).sum() > 0 and np.asarray(ring.truncation).sum() > 0
    ended = np.asarray(np.maximum(ring.termination, ring.truncation)[:, :23]) > 0
    assert np.all(obs[:, 1:, 1][ended] == 0.0)
