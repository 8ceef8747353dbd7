"""PPO math as small pure functions: generalized advantage estimation and the clipped loss,
and the pieces of it every actor-critic loss shares (A2C's too).

Shapes use T for the unroll length and B for the batch of envs; N is a flat minibatch.
Nothing here knows about networks or the training carry, so each piece is unit-testable
against numbers worked out by hand (tests/algorithms/ppo/test_losses.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminations: jax.Array,
    truncations: jax.Array,
    discount: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """Generalized advantage estimation over an unroll.

    rewards, values, next_values, terminations, truncations: [T, B] float32.
    values[t] = V(s_t); next_values[t] = V(s'_t), the value of the TRUE (pre-reset) next
    observation of step t (so a truncated step can bootstrap even though the env reset).

    termination[t] = 1: s'_t is terminal, no bootstrap (delta uses 0 instead of V(s'_t)).
    truncation[t] = 1: the time limit cut the episode: bootstrap from V(s'_t), but the
    trace stops there. Either kind of episode boundary cuts the trace:

        delta_t = r_t + discount * (1 - termination_t) * V(s'_t) - V(s_t)
        A_t     = delta_t + discount * gae_lambda * (1 - done_t) * A_{t+1}
        done_t  = max(termination_t, truncation_t)

    Returns (advantages [T, B], returns [T, B] = advantages + values), both
    stop-gradiented (they are regression/weighting targets, not differentiable paths).
    """
    dtype = rewards.dtype
    discount = jnp.asarray(discount, dtype)
    gae_lambda = jnp.asarray(gae_lambda, dtype)
    not_terminal = 1.0 - terminations
    # The trace continues only inside an episode: either boundary kind cuts it.
    not_done = 1.0 - jnp.maximum(terminations, truncations)

    deltas = rewards + discount * not_terminal * next_values - values  # [T, B]

    def backward(next_advantage, step_inputs):
        delta, continues = step_inputs  # [B] each
        advantage = delta + discount * gae_lambda * continues * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True
    )
    returns = advantages + values
    return jax.lax.stop_gradient(advantages), jax.lax.stop_gradient(returns)


def compute_ppo_loss(
    new_log_prob: jax.Array,
    old_log_prob: jax.Array,
    advantages: jax.Array,
    new_values: jax.Array,
    returns: jax.Array,
    entropy: jax.Array,
    *,
    clip_epsilon: float,
    value_loss_coef: float,
    entropy_coef: float,
    normalize_advantages: bool,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The PPO clipped-surrogate loss plus value regression and entropy bonus.

    All inputs are [N] (a flat minibatch). With r = exp(new_log_prob - old_log_prob):

        policy_loss  = -mean(min(r * A, clip(r, 1 - eps, 1 + eps) * A))
        value_loss   = value_loss_coef * 0.5 * mean((returns - new_values)^2)
        entropy_loss = -entropy_coef * mean(entropy)
        total_loss   = policy_loss + value_loss + entropy_loss

    normalize_advantages: A <- (A - mean(A)) / (std(A) + 1e-8) over the minibatch.
    Advantages, returns and old_log_prob are treated as constants (stop-gradiented).

    Returns (total_loss [], metrics) with metrics policy_loss, value_loss, entropy_loss,
    total_loss, approx_kl (mean((r - 1) - log r), the k3 estimator of KL(old || new)),
    clip_fraction (share of samples with |r - 1| > eps) and entropy (mean), all [].
    """
    advantages = constant_advantages(advantages, normalize_advantages)
    old_log_prob = jax.lax.stop_gradient(old_log_prob)

    log_ratio = new_log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    clipped_ratio = jnp.clip(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon)
    policy_loss = -jnp.mean(jnp.minimum(ratio * advantages, clipped_ratio * advantages))

    critic = compute_value_and_entropy_losses(new_values, returns, entropy,
                                              value_loss_coef=value_loss_coef,
                                              entropy_coef=entropy_coef)
    total_loss = policy_loss + critic["value_loss"] + critic["entropy_loss"]

    metrics = {
        "policy_loss": policy_loss,
        **critic,
        "total_loss": total_loss,
        "approx_kl": jax.lax.stop_gradient(jnp.mean((ratio - 1.0) - log_ratio)),
        "clip_fraction": jax.lax.stop_gradient(
            jnp.mean((jnp.abs(ratio - 1.0) > clip_epsilon).astype(ratio.dtype))
        ),
    }
    return total_loss, metrics


def constant_advantages(advantages: jax.Array, normalize: bool) -> jax.Array:
    """[N] advantages as a weighting constant (stop-gradiented); with `normalize`,
    whitened over the batch: (A - mean(A)) / (std(A) + 1e-8)."""
    advantages = jax.lax.stop_gradient(advantages)
    if normalize:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    return advantages


def compute_value_and_entropy_losses(
    new_values: jax.Array,
    returns: jax.Array,
    entropy: jax.Array,
    *,
    value_loss_coef: float,
    entropy_coef: float,
) -> dict[str, jax.Array]:
    """The critic's regression and the entropy bonus of an actor-critic loss, [N] inputs:

        value_loss   = value_loss_coef * 0.5 * mean((returns - new_values)^2)
        entropy_loss = -entropy_coef * mean(entropy)

    returns are a constant target (stop-gradiented). Returns {value_loss, entropy_loss,
    entropy (the mean)}, all [].
    """
    returns = jax.lax.stop_gradient(returns)
    value_loss = value_loss_coef * 0.5 * jnp.mean(jnp.square(returns - new_values))
    mean_entropy = jnp.mean(entropy)
    return {"value_loss": value_loss, "entropy_loss": -entropy_coef * mean_entropy,
            "entropy": mean_entropy}
