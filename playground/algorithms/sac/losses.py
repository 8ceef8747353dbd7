"""SAC's math as small pure functions (shapes in the docstrings; B = batch, n = n_step).

Unit-tested against numbers worked out by hand (tests/algorithms/sac/test_losses.py).
The learner (`learner.py`) wires them to the networks; nothing here knows a network.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def compute_nstep_return(rewards: jax.Array, terminations: jax.Array, truncations: jax.Array,
                         available: jax.Array, discount: float):
    """The n-step return of each sampled row, cut at its episode's end.

    rewards, terminations, truncations, available: [B, n], the sampled row (column 0)
    and the n - 1 rows after it in its env's time; `available` is 1.0 where that row
    exists yet (a prefix: rows past the ring's newest are 0). A step with a termination
    or a truncation is the last one summed: no return crosses into the next episode.

    Returns (returns [B], bootstrap [B], last [B] int32): returns = sum_{i<m} g^i r_i
    over the m steps summed; bootstrap = g^m (1 - termination_{m-1}), the weight of the
    soft value of the next observation of row `last` = m - 1 (a time limit bootstraps,
    a termination does not).
    """
    done = jnp.maximum(terminations, truncations)
    # a step is summed when it exists and no earlier step of the window ended the episode
    alive_before = jnp.cumprod(1.0 - done, axis=-1)
    alive_before = jnp.concatenate([jnp.ones_like(alive_before[:, :1]), alive_before[:, :-1]],
                                   axis=-1)
    include = available * alive_before
    n = rewards.shape[-1]
    powers = jnp.asarray(discount, rewards.dtype) ** jnp.arange(n, dtype=rewards.dtype)
    returns = jnp.sum(include * powers * rewards, axis=-1)
    steps = jnp.sum(include, axis=-1)
    last = steps.astype(jnp.int32) - 1
    terminated = jnp.take_along_axis(terminations, last[:, None], axis=-1)[:, 0]
    bootstrap = jnp.asarray(discount, rewards.dtype) ** steps * (1.0 - terminated)
    return returns, bootstrap, last


def compute_critic_target(returns: jax.Array, bootstrap: jax.Array, next_q: jax.Array,
                          next_log_prob: jax.Array, alpha: jax.Array) -> jax.Array:
    """The soft clipped-double-Q target [B] (no gradient flows through it).

    returns, bootstrap: [B] (`compute_nstep_return`); next_q: [B, 2] the target
    networks' Q of (next observation, a' ~ pi(next observation)); next_log_prob: [B]
    log pi(a' | next observation); alpha: [] the temperature.
    target = returns + bootstrap * (min_i next_q_i - alpha * next_log_prob).
    """
    soft_value = jnp.min(next_q, axis=-1) - alpha * next_log_prob
    return jax.lax.stop_gradient(returns + bootstrap * soft_value)


def compute_critic_loss(q: jax.Array, target: jax.Array, weight: jax.Array) -> jax.Array:
    """Scalar: sum over the critics of half the weighted mean squared TD error.

    q: [B, 2] both critics' Q(s, a) of the stored action; target: [B]; weight: [B]
    (1.0 for a usable row, 0.0 for one left out).
    """
    squared = jnp.square(q - target[:, None])  # [B, 2]
    return 0.5 * jnp.sum(weight[:, None] * squared) / jnp.maximum(jnp.sum(weight), 1.0)


def compute_actor_loss(log_prob: jax.Array, q: jax.Array, alpha: jax.Array,
                       weight: jax.Array) -> jax.Array:
    """Scalar: weighted mean of alpha * log pi(a|s) - min_i Q_i(s, a), a ~ pi(s) drawn
    with the reparameterization trick. log_prob: [B]; q: [B, 2]; alpha: []; weight: [B]."""
    per_row = alpha * log_prob - jnp.min(q, axis=-1)
    return jnp.sum(weight * per_row) / jnp.maximum(jnp.sum(weight), 1.0)


def compute_alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float,
                       weight: jax.Array) -> jax.Array:
    """Scalar: weighted mean of alpha * (-log pi(a|s) - target_entropy), alpha = exp(log_alpha).

    Its gradient in log_alpha is alpha * (entropy estimate - target): the temperature
    falls while the policy's entropy exceeds the target and rises below it. log_alpha: [];
    log_prob: [B] (no gradient flows into the policy); weight: [B].
    """
    gap = jax.lax.stop_gradient(-log_prob - target_entropy)
    return jnp.exp(log_alpha) * jnp.sum(weight * gap) / jnp.maximum(jnp.sum(weight), 1.0)


def polyak_update(target, online, tau: float):
    """target <- (1 - tau) * target + tau * online, leaf by leaf (the same tree shapes)."""
    return jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)
