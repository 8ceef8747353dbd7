"""The policy's two ways to act: its mode (export, the robot) and a sample (rollouts,
`play.py --stochastic`), against a distribution set by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import config
from playground.algorithms.ppo import networks as ppo_networks

LOC = np.array([0.5, -0.2])
# tanh_normal: the last policy layer emits [loc_0, loc_1, raw_0, raw_1] and brax takes
# scale = softplus(raw) + 0.001; with that layer's kernel zeroed its bias is the output for
# every observation. softplus(0) = ln 2, softplus(ln(e - 1)) = 1.
RAW = np.array([0.0, np.log(np.e - 1.0)])
SCALE = np.array([np.log(2.0) + 0.001, 1.0 + 0.001])


def _policy_with_fixed_output(distribution: str):
    cfg = config.resolve(None, [("env.task", "cartpole_balance"),
                                ("network.distribution", distribution)])
    nets = ppo_networks.make_networks(cfg, {"state": 3, "privileged_state": 3}, 2)
    layers = ppo_networks.init_params(nets, jax.random.PRNGKey(0)).policy["params"]
    if distribution == "tanh_normal":
        last = layers[max((k for k in layers if k.startswith("hidden_")),
                          key=lambda k: int(k.split("_")[1]))]
        bias = np.concatenate([LOC, RAW])
    else:  # normal: the layer emits loc; a learned state-independent std, used as is
        last = layers["Dense_0"]
        bias = LOC
        layers["std_param"]["value"] = jnp.asarray(SCALE, jnp.float32)
    last["kernel"] = jnp.zeros_like(last["kernel"])
    last["bias"] = jnp.asarray(bias, jnp.float32)
    normalizer = ppo_networks.init_normalizer({"state": 3, "privileged_state": 3})
    return nets, normalizer, {"params": layers}


@pytest.mark.parametrize("distribution, squash", [("tanh_normal", np.tanh),
                                                  ("normal", lambda x: np.clip(x, -1, 1))])
def test_sample_is_the_policy_distribution_and_mode_its_center(distribution, squash):
    nets, normalizer, params = _policy_with_fixed_output(distribution)
    n = 20000
    obs = {"state": jax.random.normal(jax.random.PRNGKey(1), (n, 3)),
           "privileged_state": jnp.zeros((n, 3))}
    mode = np.asarray(ppo_networks.make_deterministic_policy(nets)(normalizer, params, obs))
    np.testing.assert_allclose(mode, np.broadcast_to(squash(LOC), (n, 2)), rtol=1e-6, atol=1e-6)

    sample = ppo_networks.make_stochastic_policy(nets)
    a = np.asarray(sample(normalizer, params, obs, jax.random.PRNGKey(2)), np.float64)
    if distribution == "tanh_normal":
        pre = np.arctanh(a)
    else:  # the draw before the clip to [-1, 1] (squash_action) that the action gets
        dist = nets.parametric_action_distribution
        pre = np.asarray(dist.sample_no_postprocessing(
            nets.policy_network.apply(normalizer, params, obs), jax.random.PRNGKey(2)), np.float64)
        np.testing.assert_array_equal(a, np.clip(pre, -1.0, 1.0).astype(np.float32))
        assert np.abs(pre).max() > 1.0 and np.abs(a).max() == 1.0
    # mean within 4 standard errors, std within 3 %: N(loc, scale) per action dimension
    assert np.all(np.abs(pre.mean(0) - LOC) < 4 * SCALE / np.sqrt(n)), pre.mean(0)
    np.testing.assert_allclose(pre.std(0), SCALE, rtol=0.03)
    if distribution == "tanh_normal":
        assert np.all(np.abs(a) < 1.0)
    # one key, one draw: repeatable; another key, other actions
    again = np.asarray(sample(normalizer, params, obs, jax.random.PRNGKey(2)), np.float64)
    other = np.asarray(sample(normalizer, params, obs, jax.random.PRNGKey(3)), np.float64)
    np.testing.assert_array_equal(a, again)
    assert np.mean((a == other) & (np.abs(a) < 1.0)) < 1e-3  # the clip's rails aside
