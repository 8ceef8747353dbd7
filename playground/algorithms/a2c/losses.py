"""A2C's loss as a pure function: the policy gradient weighted by the advantage, plus the
value regression and the entropy bonus every actor-critic loss shares (PPO's pieces).

Inputs are [N], one flat batch (the whole unroll); unit-tested against numbers worked out
by hand (tests/algorithms/a2c/test_losses.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from playground.algorithms.ppo.losses import compute_value_and_entropy_losses, constant_advantages


def compute_a2c_loss(
    log_prob: jax.Array,
    advantages: jax.Array,
    values: jax.Array,
    returns: jax.Array,
    entropy: jax.Array,
    *,
    value_loss_coef: float,
    entropy_coef: float,
    normalize_advantages: bool,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The advantage actor-critic loss; all inputs [N]:

        policy_loss  = -mean(log_prob * A)
        value_loss   = value_loss_coef * 0.5 * mean((returns - values)^2)
        entropy_loss = -entropy_coef * mean(entropy)
        total_loss   = policy_loss + value_loss + entropy_loss

    log_prob: of the actions taken, under the params being differentiated (the same params
    that acted: one step per unroll, so no importance ratio). normalize_advantages:
    A <- (A - mean(A)) / (std(A) + 1e-8) over the batch. Advantages and returns are
    constants (stop-gradiented).

    Returns (total_loss [], metrics) with policy_loss, value_loss, entropy_loss,
    total_loss and entropy (the mean), all [].
    """
    advantages = constant_advantages(advantages, normalize_advantages)
    policy_loss = -jnp.mean(log_prob * advantages)
    critic = compute_value_and_entropy_losses(values, returns, entropy,
                                              value_loss_coef=value_loss_coef,
                                              entropy_coef=entropy_coef)
    total_loss = policy_loss + critic["value_loss"] + critic["entropy_loss"]
    return total_loss, {"policy_loss": policy_loss, **critic, "total_loss": total_loss}
