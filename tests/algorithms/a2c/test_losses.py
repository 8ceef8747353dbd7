"""The A2C loss against numbers worked out by hand (in the comments)."""

import jax
import jax.numpy as jnp
import numpy as np

from playground.algorithms.a2c.losses import compute_a2c_loss

# A flat batch of four samples.
LOG_PROB = np.array([-1.0, -0.5, -2.0, -0.25], np.float32)
VALUES = np.array([0.0, 1.0, 2.0, -1.0], np.float32)
RETURNS = np.array([1.0, 0.0, 2.5, 1.0], np.float32)
ENTROPY = np.array([1.2, 0.8, 1.0, 1.0], np.float32)
COEFS = {"value_loss_coef": 0.5, "entropy_coef": 0.01}


def _loss(advantages, normalize):
    return jax.jit(lambda *args: compute_a2c_loss(*args, **COEFS, normalize_advantages=normalize))(
        *(jnp.asarray(x) for x in (LOG_PROB, advantages, VALUES, RETURNS, ENTROPY)))


def test_a2c_loss_terms():
    # A = [1, -2, 0.5, 2], not whitened:
    #   log_prob * A = [-1, 1, -1, -0.5], sum -1.5 -> policy_loss = -(-1.5 / 4) = 0.375
    #   returns - values = [1, -1, 0.5, 2], squares [1, 1, 0.25, 4], mean 6.25 / 4 = 1.5625
    #     value_loss = 0.5 * 0.5 * 1.5625 = 0.390625
    #   mean entropy = (1.2 + 0.8 + 1 + 1) / 4 = 1.0 -> entropy_loss = -0.01 * 1.0 = -0.01
    #   total = 0.375 + 0.390625 - 0.01 = 0.755625
    total, metrics = _loss(np.array([1.0, -2.0, 0.5, 2.0], np.float32), normalize=False)
    expected = {"policy_loss": 0.375, "value_loss": 0.390625, "entropy_loss": -0.01,
                "entropy": 1.0, "total_loss": 0.755625}
    assert set(metrics) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(float(metrics[name]), value, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(float(total), 0.755625, rtol=1e-6)


def test_a2c_loss_whitens_advantages_over_the_batch():
    # A = [3, -1, 1, 1]: mean 1, deviations [2, -2, 0, 0], variance 8 / 4 = 2, std sqrt(2)
    #   whitened = [sqrt 2, -sqrt 2, 0, 0] (the 1e-8 is below float32 resolution here)
    #   log_prob * A = [-sqrt 2, 0.5 sqrt 2, 0, 0], sum -0.5 sqrt 2
    #   policy_loss = 0.5 sqrt(2) / 4 = 0.125 sqrt(2) = 0.1767767
    _, metrics = _loss(np.array([3.0, -1.0, 1.0, 1.0], np.float32), normalize=True)
    np.testing.assert_allclose(float(metrics["policy_loss"]), 0.125 * np.sqrt(2.0), rtol=1e-6)
    np.testing.assert_allclose(float(metrics["value_loss"]), 0.390625, rtol=1e-6)  # unchanged


def test_a2c_loss_gradients_flow_only_through_log_prob_values_and_entropy():
    # total = -mean(lp * A) + 0.25 mean((R - V)^2) - 0.01 mean(H), N = 4:
    #   d/d lp_i = -A_i / 4           = [-0.25, 0.5, -0.125, -0.5]     (A = [1, -2, 0.5, 2])
    #   d/d V_i  = 0.25 * 2 (V_i - R_i) / 4 = 0.125 (V - R) = [-0.125, 0.125, -0.0625, -0.25]
    #   d/d H_i  = -0.01 / 4          = -0.0025
    #   A and R are constants: zero gradient
    advantages = np.array([1.0, -2.0, 0.5, 2.0], np.float32)

    def total(log_prob, adv, values, returns, entropy):
        return compute_a2c_loss(log_prob, adv, values, returns, entropy, **COEFS,
                                normalize_advantages=False)[0]

    grads = jax.grad(total, argnums=(0, 1, 2, 3, 4))(
        *(jnp.asarray(x) for x in (LOG_PROB, advantages, VALUES, RETURNS, ENTROPY)))
    d_log_prob, d_adv, d_values, d_returns, d_entropy = (np.asarray(g) for g in grads)
    np.testing.assert_allclose(d_log_prob, [-0.25, 0.5, -0.125, -0.5], rtol=1e-6)
    np.testing.assert_allclose(d_values, [-0.125, 0.125, -0.0625, -0.25], rtol=1e-6)
    np.testing.assert_allclose(d_entropy, [-0.0025] * 4, rtol=1e-6)
    assert not d_adv.any() and not d_returns.any()
