"""SAC's networks from the config: the actor the policy loader builds, and twin Q networks.

The actor is `playground.policy.make_actor` (brax's tanh-normal policy MLP on
`obs["state"]`), the same function the loader builds a checkpoint's actor with from its
spec alone. The critic is brax's `make_q_network` (two MLPs side by side, each
(privileged_state, action) -> Q) on `obs["privileged_state"]`. Both read one running-
statistics normalizer whose state travels with the params, as PPO's do.
"""

from __future__ import annotations

from typing import Any

import jax
from brax.training import networks as brax_networks
from brax.training.acme import running_statistics
from flax import struct

from playground.algorithms.ppo.networks import ACTIVATIONS, CRITIC_KEY
from playground.policy import make_actor

#: twin critics: the target takes the smaller of the two (clipped double Q)
NUM_CRITICS = 2


@struct.dataclass
class SACNetworks:
    """The actor (brax policy network + its tanh-normal distribution) and the twin Q."""

    policy_network: Any
    parametric_action_distribution: Any
    q_network: Any


@struct.dataclass
class SACParams:
    """Trainable parameters: flax variable dicts of the actor and of the twin Q networks."""

    policy: Any
    q: Any


def make_networks(cfg, observation_size: dict[str, int], action_size: int) -> SACNetworks:
    """The actor on `state` and the twin Q on (`privileged_state`, action) for `cfg.sac`.

    q_network.apply(normalizer, q_params, obs, action [B, A]) -> [B, 2].
    """
    sac = cfg.sac
    actor = make_actor(observation_size, action_size, hidden=tuple(sac.policy_hidden),
                       activation=sac.activation, squash="tanh",
                       normalize=bool(sac.normalize_observations), obs_clip=float(sac.obs_clip))
    clip = float(sac.obs_clip)

    def critic_input(obs: dict, normalizer) -> jax.Array:
        x = obs[CRITIC_KEY]
        if not sac.normalize_observations:
            return x
        stats = brax_networks.normalizer_select(normalizer, CRITIC_KEY)
        return running_statistics.normalize(x, stats, max_abs_value=clip)

    q_network = brax_networks.make_q_network(
        int(observation_size[CRITIC_KEY]), action_size, preprocess_observations_fn=critic_input,
        hidden_layer_sizes=tuple(sac.q_hidden), activation=ACTIVATIONS[sac.activation],
        n_critics=NUM_CRITICS)
    return SACNetworks(policy_network=actor.policy_network,
                       parametric_action_distribution=actor.parametric_action_distribution,
                       q_network=q_network)


def init_params(networks: SACNetworks, key: jax.Array) -> SACParams:
    key_policy, key_q = jax.random.split(key)
    return SACParams(policy=networks.policy_network.init(key_policy),
                     q=networks.q_network.init(key_q))

