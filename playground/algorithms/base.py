"""What the run loop asks of an algorithm (the plug-in protocol), and small shared math.

The registry's factory builds an algorithm for one run:
`factory(env, cfg, derived, plugins) -> Algorithm`, where `plugins` are the run's
reward plug-ins (`playground.rewards.base`) for the algorithm to host. The run loop
(`playground.runner`) jits `init` and a `lax.scan` of `train_step`, evaluates `act`,
and saves the carry; it reads nothing else of the algorithm's internals.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp
from brax.training.acme import running_statistics


class Algorithm(Protocol):
    #: carry fields whose leaves are per env ([num_envs, ...]): split across devices
    batched_fields: tuple[str, ...]
    #: carry path prefixes a warm start (`run.init_from`) copies from another run
    warm_start_parts: tuple[str, ...]
    #: optional: carry fields checkpoints leave out (e.g. a large replay buffer); a restore
    #: gives them as `init` makes them, so a resume is exact except for those fields
    unsaved_fields: tuple[str, ...] = ()

    def init(self, key: jax.Array) -> Any:
        """The carry: a flax struct with an int32 `iteration` field (iterations done)."""

    def train_step(self, carry) -> tuple[Any, dict]:
        """One iteration, pure and jittable: (carry, {metric: scalar}). The metrics hold
        the unroll's (`playground.rollout.unroll`) and a float `bad_update` (1.0 when the
        update was discarded as non-finite)."""

    def act(self, carry, obs: dict) -> jax.Array:
        """The deterministic action in [-1, 1] for [B] observations (evaluation)."""

    def learner_state(self, carry) -> Any:
        """The part of the carry that must be finite for a checkpoint to be written."""

    def policy_spec(self, carry, config_dict: dict, provenance: dict) -> dict:
        """The deploy contract of the carry's policy (`playground.policy_spec`)."""

    def stop_reason(self, carry) -> str | None:
        """Host side, after a chunk: why the run cannot go on (None: it can)."""


def tree_all_finite(tree) -> jax.Array:
    """bool scalar: every floating leaf of `tree` is finite."""
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def tree_select(pred, on_true, on_false):
    """`on_true` where the scalar `pred` holds, else `on_false`, leaf by leaf."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def update_normalizer(normalizer, obs, valid: jax.Array, std_min_value: float):
    """The running observation statistics after absorbing `obs` ([T, B, ...] per key) where
    `valid` ([T, B]) holds. Weight 0 alone is not enough (0 * NaN is NaN), so non-finite
    values are zeroed too."""
    finite_obs = jax.tree_util.tree_map(lambda x: jnp.where(jnp.isfinite(x), x, 0.0), obs)
    return running_statistics.update(normalizer, finite_obs, weights=valid,
                                     std_min_value=std_min_value)


def count_bad_update(ok: jax.Array, bad_updates: jax.Array, total_bad_updates: jax.Array):
    """(bad_updates, total_bad_updates, bad) after an update whose finiteness is `ok`:
    the count in a row (reset by a good update), the total, and this one (int32 0 or 1)."""
    bad = (~ok).astype(jnp.int32)
    return (bad_updates + bad) * bad, total_bad_updates + bad, bad


def bad_updates_stop_reason(carry, max_bad_updates: int, key: str) -> str | None:
    """Host side: the run stops after `max_bad_updates` discarded updates in a row (the
    carry's `bad_updates`); `key` names the setting in the message."""
    bad = int(carry.bad_updates)
    if bad < max_bad_updates:
        return None
    return (f"{bad} non-finite updates in a row at iteration {int(carry.iteration)} "
            f"({key}={max_bad_updates})")
