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
from brax.training import distribution
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


def algorithm_section(cfg):
    """The config section of the run's algorithm, named after it (`algorithm.name`: `ppo`,
    `a2c`): every algorithm built on these networks keeps `normalize_observations` and
    `obs_clip` there, so a checkpoint's policy loads without knowing which one trained it."""
    return cfg[cfg.algorithm.name]


def make_networks(cfg, observation_size: dict[str, int], action_size: int):
    """brax `PPONetworks` for this config (policy on `state`, value on `privileged_state`)."""
    section = algorithm_section(cfg)
    if section.normalize_observations:
        preprocess = functools.partial(
            running_statistics.normalize, max_abs_value=float(section.obs_clip)
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


#: How each `network.distribution` brings an action into [-1, 1] (the spec's `squash`).
SQUASHES = {"tanh_normal": "tanh", "normal": "clip"}


def squash_action(pre_action: jax.Array, squash: str) -> jax.Array:
    """[..., a] policy output before squashing -> the action in [-1, 1] the env receives.

    "tanh" (tanh_normal: brax's own postprocess, the same function) or "clip" (normal:
    brax's mode and samples are unbounded). The one JAX definition: the trainer's eval,
    play, export's check and the policy loader all go through it; the robot side
    (`playground/serve/bundle.py`, the ONNX graph) mirrors it in numpy.
    """
    if squash == "tanh":
        return jnp.tanh(pre_action)
    if squash == "clip":
        return jnp.clip(pre_action, -1.0, 1.0)
    raise ValueError(f"unknown squash {squash!r} (expected one of {sorted(set(SQUASHES.values()))})")


def squash_of(networks) -> str:
    """The squash of brax `PPONetworks` ("tanh" for tanh_normal, "clip" for normal)."""
    dist = networks.parametric_action_distribution
    return "tanh" if isinstance(dist, distribution.NormalTanhDistribution) else "clip"


def make_deterministic_policy(networks):
    """(normalizer, policy_params, obs) -> action in [-1, 1]: the distribution's mode,
    squashed (`squash_action`).

    This is the function export and the robot side reproduce.
    """
    dist = networks.parametric_action_distribution
    squash = squash_of(networks)

    def policy(normalizer, policy_params, obs):
        logits = networks.policy_network.apply(normalizer, policy_params, obs)
        return squash_action(dist.create_dist(logits).mode(), squash)

    return policy


def make_stochastic_policy(networks):
    """(normalizer, policy_params, obs, key) -> action in [-1, 1] sampled from the policy's
    distribution, squashed (`squash_action`): how the trainer's rollouts act (and what
    brax's `deterministic_eval=False`, the default of Playground's pipeline, evaluates);
    under `normal` the rollouts keep the unbounded sample, the env clips it.
    """
    dist = networks.parametric_action_distribution
    squash = squash_of(networks)

    def policy(normalizer, policy_params, obs, key):
        logits = networks.policy_network.apply(normalizer, policy_params, obs)
        return squash_action(dist.sample_no_postprocessing(logits, key), squash)

    return policy
