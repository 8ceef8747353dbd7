"""GAE and PPO loss against numbers worked out by hand (in the comments)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground.algorithms.ppo.losses import compute_gae, compute_ppo_loss

GAMMA = 0.9
LAMBDA = 0.5
# gamma * lambda = 0.45 is the trace decay used in every hand computation below.

# Two envs (columns), three steps (rows). next_values[t] = values[t + 1] inside an
# episode, so both columns are consistent unrolls unless a test overrides a value.
#   col 0: r = [1, 1, 1],  V(s) = [0.5, 0.5, 0.5], V(s') = [0.5, 0.5, 0.5]
#   col 1: r = [0, 2, -1], V(s) = [1, 2, 0],       V(s') = [2, 0, 3]
REWARDS = np.array([[1.0, 0.0], [1.0, 2.0], [1.0, -1.0]], np.float32)
VALUES = np.array([[0.5, 1.0], [0.5, 2.0], [0.5, 0.0]], np.float32)
NEXT_VALUES = np.array([[0.5, 2.0], [0.5, 0.0], [0.5, 3.0]], np.float32)
ZEROS = np.zeros((3, 2), np.float32)

# Column 1 never has a boundary in these tests; its answer is the same everywhere:
#   delta = r + 0.9 V(s') - V(s) = [0 + 1.8 - 1, 2 + 0 - 2, -1 + 2.7 - 0] = [0.8, 0, 1.7]
#   A2 = 1.7
#   A1 = 0 + 0.45 * 1.7     = 0.765
#   A0 = 0.8 + 0.45 * 0.765 = 1.14425
#   returns = A + V = [2.14425, 2.765, 1.7]
COL1_ADV = [1.14425, 0.765, 1.7]
COL1_RET = [2.14425, 2.765, 1.7]


def _gae(terminations=ZEROS, truncations=ZEROS, next_values=NEXT_VALUES, gae_lambda=LAMBDA):
    advantages, returns = jax.jit(compute_gae)(
        jnp.asarray(REWARDS),
        jnp.asarray(VALUES),
        jnp.asarray(next_values),
        jnp.asarray(terminations),
        jnp.asarray(truncations),
        GAMMA,
        gae_lambda,
    )
    assert advantages.shape == (3, 2) and returns.shape == (3, 2)
    assert advantages.dtype == jnp.float32 and returns.dtype == jnp.float32
    return np.asarray(advantages), np.asarray(returns)


def test_gae_no_done():
    # col 0: delta_t = 1 + 0.9 * 0.5 - 0.5 = 0.95 at every t
    #   A2 = 0.95
    #   A1 = 0.95 + 0.45 * 0.95   = 1.3775
    #   A0 = 0.95 + 0.45 * 1.3775 = 1.569875
    #   returns = A + 0.5 = [2.069875, 1.8775, 1.45]
    advantages, returns = _gae()
    np.testing.assert_allclose(advantages[:, 0], [1.569875, 1.3775, 0.95], atol=1e-5)
    np.testing.assert_allclose(returns[:, 0], [2.069875, 1.8775, 1.45], atol=1e-5)
    np.testing.assert_allclose(advantages[:, 1], COL1_ADV, atol=1e-5)
    np.testing.assert_allclose(returns[:, 1], COL1_RET, atol=1e-5)


# For the boundary tests, col 0's step 1 ends an episode whose true next observation is
# worth V(s'_1) = 2.0 (different from V(s_2) = 0.5, the value of the reset state).
NEXT_VALUES_BOUNDARY = NEXT_VALUES.copy()
NEXT_VALUES_BOUNDARY[1, 0] = 2.0
AT_STEP_1 = ZEROS.copy()
AT_STEP_1[1, 0] = 1.0


def test_gae_termination_in_the_middle():
    # col 0, termination at t=1: no bootstrap there and the trace is cut.
    #   delta = [0.95, 1 + 0 - 0.5, 0.95] = [0.95, 0.5, 0.95]
    #   A2 = 0.95
    #   A1 = 0.5 + 0.45 * 0 * 0.95 = 0.5
    #   A0 = 0.95 + 0.45 * 0.5     = 1.175
    #   returns = [1.675, 1.0, 1.45]
    advantages, returns = _gae(terminations=AT_STEP_1, next_values=NEXT_VALUES_BOUNDARY)
    np.testing.assert_allclose(advantages[:, 0], [1.175, 0.5, 0.95], atol=1e-5)
    np.testing.assert_allclose(returns[:, 0], [1.675, 1.0, 1.45], atol=1e-5)
    np.testing.assert_allclose(advantages[:, 1], COL1_ADV, atol=1e-5)
    np.testing.assert_allclose(returns[:, 1], COL1_RET, atol=1e-5)


def test_gae_truncation_in_the_middle():
    # col 0, truncation at t=1: bootstrap from V(s'_1) = 2.0, but the trace is cut.
    #   delta = [0.95, 1 + 0.9 * 2.0 - 0.5, 0.95] = [0.95, 2.3, 0.95]
    #   A2 = 0.95
    #   A1 = 2.3 + 0.45 * 0 * 0.95 = 2.3
    #   A0 = 0.95 + 0.45 * 2.3     = 1.985
    #   returns = [2.485, 2.8, 1.45]
    advantages, returns = _gae(truncations=AT_STEP_1, next_values=NEXT_VALUES_BOUNDARY)
    np.testing.assert_allclose(advantages[:, 0], [1.985, 2.3, 0.95], atol=1e-5)
    np.testing.assert_allclose(returns[:, 0], [2.485, 2.8, 1.45], atol=1e-5)
    np.testing.assert_allclose(advantages[:, 1], COL1_ADV, atol=1e-5)


def test_gae_termination_wins_over_truncation():
    # A step that is both terminal and at the time limit does not bootstrap:
    # same numbers as the termination case.
    advantages, _ = _gae(
        terminations=AT_STEP_1, truncations=AT_STEP_1, next_values=NEXT_VALUES_BOUNDARY
    )
    np.testing.assert_allclose(advantages[:, 0], [1.175, 0.5, 0.95], atol=1e-5)


def test_gae_lambda_one_is_discounted_return():
    # lambda = 1: returns are discounted sums of rewards bootstrapped at the end.
    #   col 0: G2 = 1 + 0.9 * 0.5 = 1.45; G1 = 1 + 0.9 * 1.45 = 2.305; G0 = 1 + 0.9 * 2.305 = 3.0745
    #   col 1: G2 = -1 + 0.9 * 3 = 1.7;   G1 = 2 + 0.9 * 1.7 = 3.53;   G0 = 0 + 0.9 * 3.53 = 3.177
    advantages, returns = _gae(gae_lambda=1.0)
    np.testing.assert_allclose(returns[:, 0], [3.0745, 2.305, 1.45], atol=1e-5)
    np.testing.assert_allclose(returns[:, 1], [3.177, 3.53, 1.7], atol=1e-5)
    np.testing.assert_allclose(advantages, returns - VALUES, atol=1e-5)


def test_gae_lambda_zero_is_one_step_td():
    # lambda = 0: A_t = delta_t; returns = r + 0.9 V(s').
    #   col 0: A = [0.95] * 3, returns = [1.45] * 3
    #   col 1: A = [0.8, 0, 1.7], returns = [0 + 1.8, 2 + 0, -1 + 2.7] = [1.8, 2.0, 1.7]
    advantages, returns = _gae(gae_lambda=0.0)
    np.testing.assert_allclose(advantages[:, 0], [0.95, 0.95, 0.95], atol=1e-5)
    np.testing.assert_allclose(advantages[:, 1], [0.8, 0.0, 1.7], atol=1e-5)
    np.testing.assert_allclose(returns[:, 0], [1.45, 1.45, 1.45], atol=1e-5)
    np.testing.assert_allclose(returns[:, 1], [1.8, 2.0, 1.7], atol=1e-5)


def test_gae_outputs_are_stop_gradiented():
    def total_return(values):
        _, returns = compute_gae(
            jnp.asarray(REWARDS), values, jnp.asarray(NEXT_VALUES), ZEROS, ZEROS, GAMMA, LAMBDA
        )
        return returns.sum()

    grad = jax.grad(total_return)(jnp.asarray(VALUES))
    np.testing.assert_array_equal(grad, np.zeros_like(VALUES))


# ----------------------------------------------------------------------------- PPO loss

CLIP = 0.2
PPO_KW = dict(clip_epsilon=CLIP, value_loss_coef=0.5, entropy_coef=0.01)


def _loss(ratio, advantages, returns=None, new_values=None, entropy=None, normalize=False):
    ratio = np.asarray(ratio, np.float32)
    n = ratio.shape[0]
    old_log_prob = np.full(n, -1.3, np.float32)  # arbitrary: only the difference matters
    new_log_prob = old_log_prob + np.log(ratio)
    zeros = np.zeros(n, np.float32)
    return compute_ppo_loss(
        jnp.asarray(new_log_prob),
        jnp.asarray(old_log_prob),
        jnp.asarray(advantages, jnp.float32),
        jnp.asarray(zeros if new_values is None else new_values, jnp.float32),
        jnp.asarray(zeros if returns is None else returns, jnp.float32),
        jnp.asarray(zeros if entropy is None else entropy, jnp.float32),
        normalize_advantages=normalize,
        **PPO_KW,
    )


@pytest.mark.parametrize(
    "ratio, advantage, surrogate, clipped",
    [
        # eps = 0.2, so the clip range is [0.8, 1.2]; surrogate = min(r A, clip(r) A).
        (1.1, 2.0, 2.2, False),  # inside, A > 0:  min(2.2, 2.2) = 2.2
        (1.5, 1.0, 1.2, True),  # above, A > 0:   min(1.5, 1.2) = 1.2 (clipped)
        (0.5, 1.0, 0.5, True),  # below, A > 0:   min(0.5, 0.8) = 0.5 (not clipped: pessimistic)
        (1.5, -1.0, -1.5, True),  # above, A < 0: min(-1.5, -1.2) = -1.5 (not clipped)
        (0.5, -1.0, -0.8, True),  # below, A < 0: min(-0.5, -0.8) = -0.8 (clipped)
        (0.9, -2.0, -1.8, False),  # inside, A < 0: min(-1.8, -1.8) = -1.8
    ],
)
def test_ppo_policy_loss_single_sample(ratio, advantage, surrogate, clipped):
    loss, metrics = _loss([ratio], [advantage])
    np.testing.assert_allclose(metrics["policy_loss"], -surrogate, atol=1e-5)
    np.testing.assert_allclose(loss, -surrogate, atol=1e-5)  # no value/entropy terms here
    np.testing.assert_allclose(metrics["clip_fraction"], float(clipped), atol=1e-6)


def test_ppo_clipped_side_has_no_policy_gradient():
    # r = 1.5, A = +1 sits on the flat clipped branch: d loss / d new_log_prob = 0.
    # r = 0.5, A = +1 is on the unclipped branch: d(-r A)/d log r = -r A = -0.5.
    def policy_loss(new_log_prob):
        return compute_ppo_loss(
            new_log_prob,
            jnp.zeros(1),
            jnp.ones(1),
            jnp.zeros(1),
            jnp.zeros(1),
            jnp.zeros(1),
            normalize_advantages=False,
            **PPO_KW,
        )[0]

    np.testing.assert_allclose(jax.grad(policy_loss)(jnp.log(jnp.array([1.5]))), [0.0], atol=1e-6)
    np.testing.assert_allclose(jax.grad(policy_loss)(jnp.log(jnp.array([0.5]))), [-0.5], atol=1e-6)


def test_ppo_loss_all_terms_together():
    # The six cases above as one minibatch:
    #   surrogates = [2.2, 1.2, 0.5, -1.5, -0.8, -1.8], sum = -0.2
    #   policy_loss = -(-0.2 / 6) = 0.0333333
    # returns - new_values = [1, -1, 2, 0, 0, 0] -> mean square = 6 / 6 = 1
    #   value_loss = 0.5 * 0.5 * 1 = 0.25
    # entropy = [0.5, 1.0, 1.5, 0.5, 1.0, 1.5], mean = 1.0 -> entropy_loss = -0.01 * 1 = -0.01
    # total = 0.0333333 + 0.25 - 0.01 = 0.2733333
    # clip_fraction: r in {1.5, 0.5, 1.5, 0.5} have |r - 1| > 0.2 -> 4 / 6
    # approx_kl = mean((r - 1) - log r):
    #   r = 1.1:  0.1 - 0.0953102 = 0.0046898
    #   r = 1.5:  0.5 - 0.4054651 = 0.0945349 (twice)
    #   r = 0.5: -0.5 + 0.6931472 = 0.1931472 (twice)
    #   r = 0.9: -0.1 + 0.1053605 = 0.0053605
    #   sum = 0.5854145, mean = 0.0975691
    loss, metrics = _loss(
        ratio=[1.1, 1.5, 0.5, 1.5, 0.5, 0.9],
        advantages=[2.0, 1.0, 1.0, -1.0, -1.0, -2.0],
        returns=[1.0, 2.0, 3.0, 0.0, 0.0, 0.0],
        new_values=[0.0, 3.0, 1.0, 0.0, 0.0, 0.0],
        entropy=[0.5, 1.0, 1.5, 0.5, 1.0, 1.5],
    )
    np.testing.assert_allclose(metrics["policy_loss"], 0.0333333, atol=1e-5)
    np.testing.assert_allclose(metrics["value_loss"], 0.25, atol=1e-5)
    np.testing.assert_allclose(metrics["entropy_loss"], -0.01, atol=1e-6)
    np.testing.assert_allclose(metrics["entropy"], 1.0, atol=1e-6)
    np.testing.assert_allclose(metrics["total_loss"], 0.2733333, atol=1e-5)
    np.testing.assert_allclose(loss, 0.2733333, atol=1e-5)
    np.testing.assert_allclose(metrics["clip_fraction"], 4.0 / 6.0, atol=1e-6)
    np.testing.assert_allclose(metrics["approx_kl"], 0.0975691, atol=1e-5)
    for value in metrics.values():
        assert value.shape == () and value.dtype == jnp.float32


def test_ppo_normalize_advantages_on_and_off():
    # A = [1, 2, 3], r = [1, 1, 1.1] (all inside the clip range).
    # off: policy_loss = -(1 + 2 + 1.1 * 3) / 3 = -6.3 / 3 = -2.1
    # on:  mean 2, std = sqrt(((-1)^2 + 0 + 1^2) / 3) = sqrt(2/3) = 0.8164966
    #      A_norm = [-1.2247449, 0, 1.2247449]
    #      policy_loss = -(-1.2247449 + 0 + 1.1 * 1.2247449) / 3 = -0.1224745 / 3 = -0.0408248
    _, off = _loss([1.0, 1.0, 1.1], [1.0, 2.0, 3.0], normalize=False)
    _, on = _loss([1.0, 1.0, 1.1], [1.0, 2.0, 3.0], normalize=True)
    np.testing.assert_allclose(off["policy_loss"], -2.1, atol=1e-5)
    np.testing.assert_allclose(on["policy_loss"], -0.0408248, atol=1e-5)


def test_ppo_identical_policies_have_zero_kl_and_no_clipping():
    # new == old: r = 1 everywhere, so approx_kl = (1 - 1) - log 1 = 0 and nothing is clipped;
    # the policy loss is -mean(A) = -(1 - 2 + 4) / 3 = -1.
    _, metrics = _loss([1.0, 1.0, 1.0], [1.0, -2.0, 4.0])
    np.testing.assert_allclose(metrics["approx_kl"], 0.0, atol=1e-7)
    np.testing.assert_allclose(metrics["clip_fraction"], 0.0, atol=1e-7)
    np.testing.assert_allclose(metrics["policy_loss"], -1.0, atol=1e-5)
