"""Actor-critic networks from the config, built from brax's pure pieces.

The actor reads `obs["state"]` (what the robot senses), the critic reads
`obs["privileged_state"]`; both go through one running-statistics normalizer
(brax's `running_statistics`) whose state travels with the params.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from brax.training import types as brax_types
from brax.training.acme import running_statistics
from brax.training.agents.ppo import networks as brax_ppo_networks
from flax import linen, struct

ACTIVATIONS = {
    "swish": linen.swish,
    "relu": linen.relu,
    "elu": linen.elu,
    "tanh": linen.tanh,
}
ACTOR_KEY = "state"
CRITIC_KEY = "privileged_state"
#: The normalizer floors std at this value (brax's default `std_min_value`).
NORMALIZER_STD_MIN = 1e-6


@struct.dataclass
class PPOParams:
    """Trainable parameters: flax variable dicts of the two MLPs."""

    policy: Any
    value: Any


def make_networks(cfg, observation_size: dict[str, int], action_size: int):
    """brax `PPONetworks` for this config (policy on `state`, value on `privileged_state`)."""
    if cfg.ppo.normalize_observations:
        preprocess = functools.partial(
            running_statistics.normalize, max_abs_value=float(cfg.ppo.obs_clip)
        )
    else:
        preprocess = brax_types.identity_observation_preprocessor
    return brax_ppo_networks.make_ppo_networks(
        observation_size=dict(observation_size),
        action_size=action_size,
        preprocess_observations_fn=preprocess,
        policy_hidden_layer_sizes=tuple(cfg.network.policy_hidden),
        value_hidden_layer_sizes=tuple(cfg.network.value_hidden),
        activation=ACTIVATIONS[cfg.network.activation],
        policy_obs_key=ACTOR_KEY,
        value_obs_key=CRITIC_KEY,
        distribution_type=cfg.network.distribution,
    )


def init_params(networks, key: jax.Array) -> PPOParams:
    key_policy, key_value = jax.random.split(key)
    return PPOParams(
        policy=networks.policy_network.init(key_policy),
        value=networks.value_network.init(key_value),
    )


def init_running_statistics(nest) -> running_statistics.RunningStatisticsState:
    """brax's running statistics over `nest` (zeros of the observed shapes), every leaf
    strongly typed.

    brax keeps `std_eps` as a Python float, which traces as a weak-typed scalar; a
    restored checkpoint gives a strong float32, and the two lower to different programs.
    A fresh run and its resume must compile (and hit the persistent cache) alike.
    """
    state = running_statistics.init_state(nest)
    return state.replace(std_eps=jnp.asarray(state.std_eps, jnp.float32))


def init_normalizer(observation_size: dict[str, int]):
    """Running mean/std over the obs dict (identity until updated)."""
    return init_running_statistics({k: jnp.zeros((n,), jnp.float32)
                                    for k, n in observation_size.items()})


def make_deterministic_policy(networks):
    """(normalizer, policy_params, obs) -> action in [-1, 1]: the mode, post-squash.

    This is the function export and the robot side reproduce.
    """

    def policy(normalizer, policy_params, obs):
        logits = networks.policy_network.apply(normalizer, policy_params, obs)
        return networks.parametric_action_distribution.mode(logits)

    return policy


def make_stochastic_policy(networks):
    """(normalizer, policy_params, obs, key) -> action sampled from the policy's
    distribution, post-squash: how the trainer's rollouts act (and what brax's
    `deterministic_eval=False`, the default of Playground's pipeline, evaluates).
    """
    dist = networks.parametric_action_distribution

    def policy(normalizer, policy_params, obs, key):
        logits = networks.policy_network.apply(normalizer, policy_params, obs)
        return dist.postprocess(dist.sample_no_postprocessing(logits, key))

    return policy
