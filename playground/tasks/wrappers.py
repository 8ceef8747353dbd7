"""Batch-level helpers around an `Env`: vmapped reset/step, NaN guard, auto-reset.

The trainer steps a batch of envs with `step_batch`, which returns the true
(pre-reset) next state for the transition, then `autoreset` swaps finished envs
for fresh episodes. Keeping the two apart is what lets a truncated episode
bootstrap from V(s_T) and what keeps an AMP (s, s') pair from ever spanning a reset.
"""

from __future__ import annotations

import weakref

import jax
import jax.numpy as jnp
from jax.extend import core as jax_core

from playground.tasks.base import Env, State


def _all_finite(tree) -> jax.Array:
    """[B] bool: every floating leaf of each env is finite. Leaves are [B, ...]."""
    flags = [
        jnp.all(jnp.isfinite(leaf.reshape(leaf.shape[0], -1)), axis=-1)
        for leaf in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    return jnp.all(jnp.stack(flags), axis=0)


def finite_rows(tree) -> jax.Array:
    """[B] float32: 1.0 where every floating leaf of that env is finite."""
    return _all_finite(tree).astype(jnp.float32)


def guard_non_finite(state: State) -> State:
    """End (as a termination) and zero out envs whose physics or obs went non-finite.

    Such an env gets done=1, truncation=0, reward=0, zeroed obs, and
    `metrics["nan_resets"]=1`, so only that env resets and the event is counted.
    Input and output are batched ([B] leading axis).
    """
    ok = _all_finite((state.data.qpos, state.data.qvel, state.obs, state.reward))

    def mask(x):
        keep = ok.reshape(ok.shape + (1,) * (x.ndim - 1))
        return jnp.where(keep, x, jnp.zeros_like(x))

    bad = (~ok).astype(jnp.float32)
    info = dict(state.info)
    info["truncation"] = state.info["truncation"] * (1.0 - bad)
    metrics = {k: mask(v) for k, v in state.metrics.items()}
    metrics["nan_resets"] = bad
    return state.replace(
        obs=jax.tree_util.tree_map(mask, state.obs),
        reward=mask(state.reward),
        done=jnp.maximum(state.done, bad),
        metrics=metrics,
        info=info,
    )


def _with_nan_metric(state: State) -> State:
    """A fresh batch has the `nan_resets` metric that stepped batches carry."""
    return state.replace(metrics={**state.metrics, "nan_resets": jnp.zeros_like(state.done)})


def reset_batch(env: Env, key: jax.Array, num_envs: int) -> State:
    """[B] fresh episodes, each with its own key."""
    return _with_nan_metric(jax.vmap(env.reset)(jax.random.split(key, num_envs)))


_STEP_JAXPRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _traced_step(env: Env, state: State, action: jax.Array):
    """`env.step` for one env as a function replaying its jaxpr, traced once per env and
    input signature: tracing MJX's Python dominates start-up, and the training unroll and
    the evaluator step the same env (the replay emits the same operations)."""
    leaves, treedef = jax.tree_util.tree_flatten((state, action))
    one = tuple(jax.ShapeDtypeStruct(x.shape[1:], x.dtype, weak_type=getattr(x, "weak_type", False))
                for x in leaves)
    signature = (treedef, tuple((x.shape, x.dtype, x.weak_type) for x in one))
    cache = _STEP_JAXPRS.setdefault(env, {})
    if signature not in cache:
        closed, out_shape = jax.make_jaxpr(lambda *xs: env.step(*jax.tree_util.tree_unflatten(treedef, xs)),
                                           return_shape=True)(*one)
        cache[signature] = (jax_core.jaxpr_as_fun(closed), jax.tree_util.tree_structure(out_shape))
    replay, out_tree = cache[signature]
    return lambda s, a: jax.tree_util.tree_unflatten(out_tree, replay(*jax.tree_util.tree_leaves((s, a))))


def step_batch(env: Env, state: State, action: jax.Array) -> State:
    """Step every env once (no reset); non-finite envs are ended by `guard_non_finite`."""
    return guard_non_finite(jax.vmap(_traced_step(env, state, action))(state, action))


def autoreset(state: State, fresh: State) -> State:
    """Replace envs with done=1 by their episode from `fresh`; others pass through.

    `fresh` is a batch of new episodes drawn once per rollout (`reset_batch`), so a
    step pays for a select, not for a reset of the whole batch whenever any env
    finishes. Each fresh episode has its own rng, command and randomized model; an
    env that finishes twice within one rollout restarts from the same draw. The
    select runs only when some env is done (a batch-level `lax.cond`).
    """

    def do_reset(s: State) -> State:
        done = s.done > 0.5

        def pick(new, old):
            sel = done.reshape(done.shape + (1,) * (old.ndim - 1))
            return jnp.where(sel, new, old)

        return jax.tree_util.tree_map(pick, fresh, s)

    return jax.lax.cond(jnp.any(state.done > 0.5), do_reset, lambda s: s, state)
