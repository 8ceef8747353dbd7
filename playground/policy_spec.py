"""The deploy contract: everything the robot side needs besides the weights.

One module owns it. The spec travels as an item of every checkpoint and of every
export, so the robot never re-types a constant: observation layout (names,
slices, noise, history, phase clock), normalizer, network shape, squashing,
action scale, default pose, joint names in actuator order, control and physics
periods, and where it all came from.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from playground.algorithms.ppo.networks import (
    ACTOR_KEY,
    NORMALIZER_STD_MIN,
    SQUASHES,
    algorithm_section,
)
from playground.serve.spec import spec_hash

__all__ = ["SPEC_VERSION", "make_actor_spec", "make_policy_spec", "spec_hash"]
SPEC_VERSION = 1


def make_policy_spec(env, cfg, config_dict: dict, normalizer, provenance: dict) -> dict[str, Any]:
    """Build the spec for `env` trained under `cfg` (plain dict: `config_dict`) with `normalizer`:
    the actor of an on-policy algorithm's sections (its own, e.g. `ppo` or `a2c`, and `network`)."""
    learner = algorithm_section(cfg)
    return make_actor_spec(
        env, cfg.env.task, config_dict, normalizer, provenance,
        hidden=cfg.network.policy_hidden, activation=cfg.network.activation,
        squash=SQUASHES[cfg.network.distribution],
        normalize=bool(learner.normalize_observations), obs_clip=float(learner.obs_clip))


def make_actor_spec(env, task: str, config_dict: dict, normalizer, provenance: dict, *,
                    hidden, activation: str, squash: str, normalize: bool,
                    obs_clip: float) -> dict[str, Any]:
    """The spec of any algorithm's actor that is `playground.policy.make_actor` with these
    arguments (the loader rebuilds it from this spec alone)."""
    env_spec = env.policy_spec()
    obs_size = int(env.observation_size[ACTOR_KEY])
    mean = np.asarray(normalizer.mean[ACTOR_KEY], np.float64)
    std = np.asarray(normalizer.std[ACTOR_KEY], np.float64)
    action_size = int(env.action_size)
    # tanh_normal: one MLP emits [loc, std params]; normal: a mean head emits loc only (its
    # std is a separate parameter)
    output = ({"output_size": 2 * action_size,
               "output": "first half: action mean (loc); second half: std parameters "
                         "(unused when deploying)"}
              if squash == "tanh" else
              {"output_size": action_size,
               "output": "action mean (loc); the std is a separate parameter (unused when "
                         "deploying)"})
    spec = {
        "spec_version": SPEC_VERSION,
        "task": task,
        **env_spec,
        "normalizer": {
            "enabled": bool(normalize),
            "formula": "clip((obs - mean) / std, -clip, clip); std already floored at eps",
            "mean": mean.tolist(),
            "std": std.tolist(),
            "eps": NORMALIZER_STD_MIN,
            "clip": float(obs_clip),
        },
        "network": {
            "input": ACTOR_KEY,
            "input_size": obs_size,
            "hidden": [int(x) for x in hidden],
            "activation": activation,
            **output,
            "squash": squash,
            "deterministic_action": f"{squash}(loc)" if squash == "tanh" else "clip(loc, -1, 1)",
        },
        "provenance": provenance,
        "config_sha256": hashlib.sha256(
            json.dumps(config_dict, sort_keys=True, default=str).encode()
        ).hexdigest(),
    }
    return spec
