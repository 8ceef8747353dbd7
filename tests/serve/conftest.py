"""Shared by the export and serve tests: policies and bundles built without training."""

import pathlib

import jax
import numpy as np
import pytest

from playground import config
from playground.algorithms.ppo import networks as ppo_networks
from playground.deploy.export import policy_layers, write_bundle
from playground.policy_spec import make_policy_spec
from playground.tasks.registry import get_task


def make_policy_case(task: str, overrides=(), seed: int = 0, saturate: float = 1.0):
    """(spec, policy params, normalizer mean/std, jax policy obs[N,n] -> action[N,a])."""
    cfg = config.resolve(None, [("env.task", task), *overrides])
    env = get_task(task).make_env(cfg)
    networks = ppo_networks.make_networks(cfg, env.observation_size, env.action_size)
    key_params, key_mean, key_std = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = ppo_networks.init_params(networks, key_params).policy
    params = jax.tree_util.tree_map(np.asarray, params)
    if saturate != 1.0:  # scale the output layer: |loc| >> 1, tanh/clip saturate
        p = params["params"]
        last = max((k for k in p if k.startswith("hidden_")), key=lambda k: int(k.split("_")[1]),
                   default=None)
        head = p["Dense_0"] if "MLP_0" in p else p[last]
        head["kernel"] = head["kernel"] * saturate
    normalizer = ppo_networks.init_normalizer(env.observation_size)
    n = env.observation_size["state"]
    mean = np.asarray(jax.random.normal(key_mean, (n,)), np.float32)
    std = np.array(jax.random.uniform(key_std, (n,), minval=0.05, maxval=3.0), np.float32)
    std[0] = ppo_networks.NORMALIZER_STD_MIN  # a constant input: floor-sized std
    normalizer = normalizer.replace(
        mean={**normalizer.mean, "state": mean}, std={**normalizer.std, "state": std})
    spec = make_policy_spec(env, cfg, config.to_dict(cfg), normalizer, {"test": True})
    deterministic = jax.jit(ppo_networks.make_deterministic_policy(networks))
    squash_clip = spec["network"]["squash"] == "clip"

    def jax_policy(obs):
        action = np.asarray(deterministic(normalizer, params, {"state": np.asarray(obs, np.float32)}))
        return np.clip(action, -1.0, 1.0) if squash_clip else action

    return spec, params, mean, std, jax_policy


def make_bundle(directory: pathlib.Path, task: str = "humanoid_walk", overrides=(), seed: int = 0,
                **kwargs) -> pathlib.Path:
    """Export a freshly initialised policy of `task` to `directory` (with ONNX)."""
    spec, params, mean, std, _ = make_policy_case(task, overrides, seed)
    return write_bundle(directory, spec, policy_layers(params, spec), mean, std, **kwargs)


@pytest.fixture(scope="session")
def policy_case():
    """`make_policy_case` for the tests (helpers travel as fixtures here)."""
    return make_policy_case


@pytest.fixture(scope="session")
def bundle_factory():
    """`make_bundle` for the tests."""
    return make_bundle


@pytest.fixture(scope="session")
def humanoid_bundle(tmp_path_factory) -> pathlib.Path:
    """The shipped humanoid network (random init, random normalizer) as a bundle."""
    return make_bundle(tmp_path_factory.mktemp("bundle") / "humanoid")
