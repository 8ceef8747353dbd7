"""SAC's replay: one ring of transitions per env, on the device, in the carry.

A row is one env step as `playground.rollout.unroll` records it: the observation the
action was taken from (both keys: the actor's `state`, the critic's `privileged_state`),
the action in [-1, 1] the env received, the reward (times `sac.reward_scaling`), the
termination and truncation flags, and the true next observation from before any reset.
So a row never pairs an observation with the next episode's, and the rows of one env
are in time order: an n-step window reads forward from a sampled row and stops at the
first row that ended an episode (`losses.compute_nstep_return`).

Layout: every leaf is [num_envs, rows_per_env, ...] (env axis first), and `count` (the
rows each env has written, all envs alike) is a scalar. All envs write one row per env
step, so row j of every env is the same moment; logical row j lives at slot j %
rows_per_env, and the valid rows are the newest min(count, rows_per_env).

Devices: the ring is listed in the learner's `batched_fields`, so the run loop splits
its env axis across devices with the envs that write it. A write is per env; a sample
draws `samples_per_env` rows from every env's own ring (a stratified batch of
num_envs * samples_per_env rows), so each device gathers only from the rows it holds,
and the mean gradient over the batch becomes one cross-device reduction (XLA's
partitioner inserts it: params are replicated, the batch is split).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from playground.algorithms.sac.losses import compute_nstep_return
from playground.rollout import Transition


@struct.dataclass
class Replay:
    """The rings of all envs. Leaves [E, C, ...] (E envs, C rows per env) but `count`."""

    obs: dict[str, jax.Array]  # [E, C, n_key] each
    action: jax.Array  # [E, C, A] in [-1, 1]
    reward: jax.Array  # [E, C]
    termination: jax.Array  # [E, C] 1.0: the episode ended here, no bootstrap
    truncation: jax.Array  # [E, C] 1.0: a time limit ended it here, bootstrap
    next_obs: dict[str, jax.Array]  # [E, C, n_key] each, before any reset
    valid: jax.Array  # [E, C] 1.0: obs and next_obs were finite (else stored as zeros)
    count: jax.Array  # int32 [], rows written per env since the ring was created


def init_replay(num_envs: int, rows_per_env: int, observation_size: dict[str, int],
                action_size: int) -> Replay:
    """An empty ring (zeros, count 0)."""
    def rows(*shape):
        return jnp.zeros((num_envs, rows_per_env, *shape), jnp.float32)

    return Replay(
        obs={k: rows(n) for k, n in observation_size.items()},
        action=rows(action_size), reward=rows(), termination=rows(), truncation=rows(),
        next_obs={k: rows(n) for k, n in observation_size.items()}, valid=rows(),
        count=jnp.zeros((), jnp.int32))


def _finite_rows(tree) -> jax.Array:
    """[...] 1.0 where every leaf of the row ([..., n] leaves) is finite."""
    flags = [jnp.all(jnp.isfinite(x), axis=-1) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(flags), axis=0).astype(jnp.float32)


def _zero_non_finite(tree):
    return jax.tree_util.tree_map(lambda x: jnp.where(jnp.isfinite(x), x, 0.0), tree)


def insert(replay: Replay, data: Transition) -> Replay:
    """The ring with the [T, E] transitions of one unroll written at the next T slots of
    each env (wrapping around, over the oldest rows)."""
    length = data.reward.shape[0]
    rows_per_env = replay.reward.shape[1]
    slots = (replay.count + jnp.arange(length, dtype=jnp.int32)) % rows_per_env  # [T]

    def write(ring, new):  # ring [E, C, ...], new [T, E, ...]
        return ring.at[:, slots].set(jnp.swapaxes(new, 0, 1).astype(ring.dtype))

    valid = _finite_rows(data.obs) * _finite_rows(data.next_obs)
    new = Replay(obs=_zero_non_finite(data.obs), action=data.action, reward=data.reward,
                 termination=data.termination, truncation=data.truncation,
                 next_obs=_zero_non_finite(data.next_obs), valid=valid, count=replay.count)
    written = jax.tree_util.tree_map(write, replay.replace(count=None), new.replace(count=None))
    return written.replace(count=replay.count + length)


def size(replay: Replay) -> jax.Array:
    """int32 []: valid rows per env, min(count, rows_per_env)."""
    return jnp.minimum(replay.count, replay.reward.shape[1])


def sample(replay: Replay, key: jax.Array, samples_per_env: int, n_step: int,
           discount: float) -> dict:
    """A batch of B = E * samples_per_env rows, drawn uniformly from each env's valid rows.

    Returns {"obs": {key: [B, n]}, "action": [B, A], "returns": [B], "bootstrap": [B],
    "next_obs": {key: [B, n]}, "weight": [B]}: the n-step return from the sampled row,
    the weight of the soft value of `next_obs` (the next observation of the window's last
    summed row; `losses.compute_nstep_return`) and 1.0 for a row whose observations were
    finite. The ring must hold at least one row (count >= 1).
    """
    num_envs, rows_per_env = replay.reward.shape
    valid_rows = size(replay)
    oldest = replay.count - valid_rows
    logical = oldest + jax.random.randint(key, (num_envs, samples_per_env), 0, valid_rows)
    window = logical[..., None] + jnp.arange(n_step, dtype=jnp.int32)  # [E, k, n]
    available = (window < replay.count).astype(jnp.float32)
    slots = window % rows_per_env

    def take(leaf, index):  # leaf [E, C, ...], index [E, ...] -> [E, ..., ...], per env
        return jax.vmap(lambda ring, i: ring[i])(leaf, index)

    def flat(x):  # [E, k, ...] -> [E * k, ...]
        return x.reshape((-1,) + x.shape[2:])

    returns, bootstrap, last = compute_nstep_return(
        flat(take(replay.reward, slots)), flat(take(replay.termination, slots)),
        flat(take(replay.truncation, slots)), flat(available), discount)
    first = slots[..., 0]  # [E, k]
    last_slot = jnp.take_along_axis(slots, last.reshape(first.shape)[..., None], axis=-1)[..., 0]
    weight = flat(take(replay.valid, first)) * flat(take(replay.valid, last_slot))
    return {
        "obs": jax.tree_util.tree_map(lambda x: flat(take(x, first)), replay.obs),
        "action": flat(take(replay.action, first)),
        "returns": returns,
        "bootstrap": bootstrap,
        "next_obs": jax.tree_util.tree_map(lambda x: flat(take(x, last_slot)), replay.next_obs),
        "weight": weight,
    }
