"""SAC's math against numbers worked out by hand (in the comments)."""

import jax
import jax.numpy as jnp
import numpy as np

from playground.algorithms.sac.losses import (
    compute_actor_loss,
    compute_alpha_loss,
    compute_critic_loss,
    compute_critic_target,
    compute_nstep_return,
    polyak_update,
)

GAMMA = 0.5  # powers of one half keep every hand sum exact


def test_nstep_return_sums_until_the_episode_ends_or_the_ring_does():
    # Every row sees rewards [1, 2, 4] over its window of n = 3 steps.
    #   row 0: nothing ends          -> 1 + 0.5*2 + 0.25*4 = 3, m = 3, bootstrap 0.5^3 = 0.125
    #   row 1: terminates at step 1  -> 1 + 0.5*2 = 2,          m = 2, bootstrap 0 (terminal)
    #   row 2: truncated at step 0   -> 1,                      m = 1, bootstrap 0.5 (time limit)
    #   row 3: step 2 not written    -> 1 + 0.5*2 = 2,          m = 2, bootstrap 0.25
    #   row 4: terminates at step 2  -> 3,                      m = 3, bootstrap 0
    #   row 5: terminates at step 0, a truncation later is another episode's
    #                                -> 1,                      m = 1, bootstrap 0
    rewards = np.tile(np.array([1.0, 2.0, 4.0], np.float32), (6, 1))
    term = np.zeros((6, 3), np.float32)
    trunc = np.zeros((6, 3), np.float32)
    available = np.ones((6, 3), np.float32)
    term[1, 1] = 1.0
    trunc[2, 0] = 1.0
    available[3, 2] = 0.0
    term[4, 2] = 1.0
    term[5, 0], trunc[5, 2] = 1.0, 1.0
    returns, bootstrap, last = jax.jit(compute_nstep_return, static_argnums=4)(
        rewards, term, trunc, available, GAMMA)
    np.testing.assert_array_equal(np.asarray(returns), [3.0, 2.0, 1.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(np.asarray(bootstrap), [0.125, 0.0, 0.5, 0.25, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(last), [2, 1, 0, 1, 2, 0])


def test_one_step_return_is_the_reward_and_gamma():
    # n = 1: return r, bootstrap gamma (1 - termination): 0.5 and 0
    returns, bootstrap, last = compute_nstep_return(
        jnp.array([[3.0], [-1.0]]), jnp.array([[0.0], [1.0]]), jnp.array([[0.0], [0.0]]),
        jnp.ones((2, 1)), GAMMA)
    np.testing.assert_array_equal(np.asarray(returns), [3.0, -1.0])
    np.testing.assert_array_equal(np.asarray(bootstrap), [0.5, 0.0])
    np.testing.assert_array_equal(np.asarray(last), [0, 0])


def test_critic_target_takes_the_smaller_q_and_the_entropy_bonus():
    # alpha 0.5
    #   row 0: min(4, 6) - 0.5 * (-1) = 4.5  -> 3 + 0.125 * 4.5 = 3.5625
    #   row 1: min(10, 1) - 0.5 * 5 = -1.5   -> 2 + 0 * (-1.5) = 2
    args = (jnp.array([3.0, 2.0]), jnp.array([0.125, 0.0]), jnp.array([[4.0, 6.0], [10.0, 1.0]]),
            jnp.array([-1.0, 5.0]), jnp.float32(0.5))
    np.testing.assert_array_equal(np.asarray(compute_critic_target(*args)), [3.5625, 2.0])
    # the target is a constant of the critic loss: no gradient reaches the target networks
    grad = jax.grad(lambda next_q: jnp.sum(compute_critic_target(args[0], args[1], next_q,
                                                                 *args[3:])))(args[2])
    np.testing.assert_array_equal(np.asarray(grad), np.zeros((2, 2)))


def test_critic_loss_is_half_the_squared_error_of_each_critic():
    # target [3.5625, 2]; q row 0 = [3, 4], row 1 = [2, 0]
    #   squared errors: 0.5625^2 = 0.31640625, 0.4375^2 = 0.19140625; 0, 4
    #   weights [1, 1]: 0.5 * (0.31640625 + 0.19140625 + 0 + 4) / 2 = 1.126953125
    #   weights [1, 0]: 0.5 * (0.31640625 + 0.19140625) / 1      = 0.25390625
    q = jnp.array([[3.0, 4.0], [2.0, 0.0]])
    target = jnp.array([3.5625, 2.0])
    assert float(compute_critic_loss(q, target, jnp.array([1.0, 1.0]))) == 1.126953125
    assert float(compute_critic_loss(q, target, jnp.array([1.0, 0.0]))) == 0.25390625
    # d/dq of row 0, critic 0 with weights [1, 1]: (3 - 3.5625) / 2 = -0.28125
    grad = jax.grad(compute_critic_loss)(q, target, jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(np.asarray(grad), [[-0.28125, 0.21875], [0.0, -1.0]])


def test_actor_loss_trades_q_for_entropy():
    # alpha 0.5: row 0: 0.5 * (-1) - min(3, 4) = -3.5; row 1: 0.5 * 2 - min(5, 1) = 0
    #   mean -1.75
    loss = compute_actor_loss(jnp.array([-1.0, 2.0]), jnp.array([[3.0, 4.0], [5.0, 1.0]]),
                              jnp.float32(0.5), jnp.array([1.0, 1.0]))
    assert float(loss) == -1.75


def test_temperature_loss_and_its_gradient():
    # alpha = exp(log 2) = 2, target entropy -1
    #   gap = -log_prob - target: row 0: 1 + 1 = 2; row 1: -2 + 1 = -1; mean 0.5
    #   loss = 2 * 0.5 = 1; d loss / d log_alpha = alpha * mean gap = 1
    #   (the entropy estimate -mean(log_prob) = -0.5 is above the target -1: a gradient
    #   step -lr * 1 lowers log_alpha, so alpha falls)
    log_alpha = jnp.log(jnp.float32(2.0))
    log_prob = jnp.array([-1.0, 2.0])
    weight = jnp.array([1.0, 1.0])
    loss, grad = jax.value_and_grad(compute_alpha_loss)(log_alpha, log_prob, -1.0, weight)
    np.testing.assert_allclose(float(loss), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(grad), 1.0, rtol=1e-6)
    # no gradient reaches the policy through the temperature loss
    policy_grad = jax.grad(compute_alpha_loss, argnums=1)(log_alpha, log_prob, -1.0, weight)
    np.testing.assert_array_equal(np.asarray(policy_grad), [0.0, 0.0])


def test_polyak_update_moves_the_target_by_tau():
    # tau 0.1: 0.9 * 0 + 0.1 * 1 = 0.1; 0.9 * 10 + 0.1 * 0 = 9
    target = {"w": jnp.array([0.0, 10.0]), "b": jnp.array(4.0)}
    online = {"w": jnp.array([1.0, 0.0]), "b": jnp.array(4.0)}
    out = polyak_update(target, online, 0.1)
    np.testing.assert_allclose(np.asarray(out["w"]), [0.1, 9.0], rtol=1e-6)
    assert float(out["b"]) == 4.0  # equal online and target stay put
