"""A trained policy without the trainer: checkpoint, run dir or bundle -> `Policy`.

    policy = load("checkpoints/my-run")        # newest step that restores
    policy = load("checkpoints/my-run/best")   # the step run.keep_best keeps
    policy = load("latest", checkpoint_dir="checkpoints")
    policy = load("policies/humanoid_walk_cpu")  # an exported bundle
    action = policy.apply(obs)                 # JAX, jittable: obs [..., n] -> [..., a]

A checkpoint gives its policy params and normalizer (only those leaves are read), its
spec and its saved config; the actor network comes from the spec alone (`actor_from_spec`:
layer widths, activation, squash, normalizer), so any algorithm's checkpoint loads alike. A bundle (policy.npz +
policy_spec.json, `playground/export.py`) gives its layers and normalizer statistics, its
spec, and the config of its `config.yaml` when it has one. Loading never builds a training
run, an optimizer, a device mesh or the AMP reference set.

Both act deterministically through one squash (`networks.squash_action`): tanh or clip to
[-1, 1]. A checkpoint also samples from its distribution (`Policy.sample`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from playground import runs
from playground.serve import bundle as bundle_lib
from playground.serve.spec import action_size

#: Parts of the deploy contract that must agree between a policy and the env that runs it.
CONTRACT_KEYS = ("observation", "action", "default_pose", "joint_names", "ctrl_dt")
#: The config a bundle directory may carry beside its policy (a run's config.yaml).
BUNDLE_CONFIG_NAME = "config.yaml"


@dataclasses.dataclass(frozen=True)
class Policy:
    """A loaded policy: the deploy contract, its input statistics, its weights and how to act.

    `normalizer`: brax's running-statistics state (checkpoint) or {"mean", "std"} arrays of
    the actor's observation (bundle). `params`: flax variables of the actor (checkpoint) or
    the bundle's [(kernel [in, out], bias [out])]. `apply`: jittable JAX, the actor's
    observation [..., n] -> deterministic action [..., a] in [-1, 1]. `sample`: (obs, key)
    -> an action drawn from the policy's distribution (checkpoints only; None for a bundle,
    which holds the deterministic policy only). `cfg`: the training config (None for a
    bundle without config.yaml).
    """

    spec: dict
    normalizer: Any
    params: Any
    apply: Callable
    sample: Callable | None
    cfg: Any
    source: str
    kind: str  # "checkpoint" | "bundle"
    path: pathlib.Path  # the step directory or the bundle directory
    bundle: bundle_lib.Bundle | None = None

    def act(self) -> Callable[[np.ndarray], np.ndarray]:
        """numpy obs [N, n] -> numpy actions [N, a], deterministic: a checkpoint's jitted
        `apply`; a bundle's numpy forward pass, the one the robot runs."""
        if self.bundle is not None:
            return bundle_lib.make_policy(self.bundle, "numpy").batch
        import jax

        apply = jax.jit(self.apply)
        return lambda obs: np.asarray(apply(np.asarray(obs, np.float32)))


def is_bundle(path: str | os.PathLike) -> bool:
    """True for an exported bundle directory (it holds policy_spec.json)."""
    path = pathlib.Path(os.path.expanduser(str(path)))
    return path.is_dir() and (path / bundle_lib.SPEC_NAME).is_file()


def load(path: str | os.PathLike, checkpoint_dir: str | os.PathLike | None = None,
         overrides=(), warn: Callable[[str], None] | None = None) -> Policy:
    """The policy at `path`: a bundle directory or a checkpoint (see `runs.find_step`).

    `overrides` ((dotted key, value) pairs as for `--set`) apply to the saved config.
    FileNotFoundError, ValueError and `config.ConfigError` carry one-line messages.
    """
    if is_bundle(path):
        return load_bundle(path, overrides)
    steps_dir, step = runs.find_step(path, checkpoint_dir, warn)
    return load_checkpoint(steps_dir, step, overrides)


def saved_config(values: dict, overrides=(), source: str = "saved config"):
    """The locked config of a policy from its saved values (a checkpoint's or a run's
    config.yaml): keys an earlier release removed, at their off values, are read without
    them; one device, whatever the run trained on (inference needs no mesh)."""
    from playground import config

    return config.from_saved(values, [("run.devices", 1), *overrides], source=source)


def config_file(path: str | os.PathLike, overrides=()):
    """`saved_config` of a YAML or JSON file (a run's or bundle's config.yaml, or any task config)."""
    from playground import config

    path = pathlib.Path(os.path.expanduser(str(path)))
    if not path.is_file():
        raise FileNotFoundError(f"config {path}: no such file")
    return saved_config(config.load_config_file(path), overrides, source=str(path))


def make_env(cfg):
    """The env of `cfg`, from the task registry."""
    from playground.tasks.registry import get_task

    return get_task(cfg.env.task).make_env(cfg)


def check_contract(env_spec: dict, spec: dict, source: str) -> None:
    """ValueError (one line) unless the env produces the observations and reads the actions
    the policy was trained on (the CONTRACT_KEYS of the two specs are equal)."""
    for key in CONTRACT_KEYS:
        if json.dumps(env_spec.get(key), sort_keys=True) != json.dumps(spec.get(key), sort_keys=True):
            raise ValueError(f"{source}: the env's {key!r} differs from the policy's deploy contract "
                             "(pass the config it was trained with: --config)")


# --------------------------------------------------------------------------- checkpoints


@dataclasses.dataclass(frozen=True)
class Actor:
    """A brax policy network and its action distribution: what `networks.make_deterministic_policy`
    and `make_stochastic_policy` (playground.algorithms.ppo.networks) act with."""

    policy_network: Any
    parametric_action_distribution: Any


def make_actor(observation_size: dict[str, int], action_size: int, *, hidden, activation: str,
               squash: str, normalize: bool, obs_clip: float) -> Actor:
    """brax's policy MLP on `obs["state"]` (normalized by the running statistics when
    `normalize`, clipped to +-obs_clip) and its distribution: tanh-normal for squash
    "tanh", normal (a separate std parameter) for "clip".

    The same network brax's PPO builds; SAC trains its actor with it and the loader
    rebuilds any checkpoint's actor with it from the spec (`actor_from_spec`).
    """
    import functools

    from brax.training import distribution
    from brax.training import networks as brax_networks
    from brax.training import types as brax_types
    from brax.training.acme import running_statistics

    from playground.algorithms.ppo.networks import ACTIVATIONS, ACTOR_KEY, SQUASHES

    distribution_type = {v: k for k, v in SQUASHES.items()}[squash]
    dist = (distribution.NormalTanhDistribution(event_size=action_size)
            if distribution_type == "tanh_normal"
            else distribution.NormalDistribution(event_size=action_size))
    preprocess = (functools.partial(running_statistics.normalize, max_abs_value=float(obs_clip))
                  if normalize else brax_types.identity_observation_preprocessor)
    network = brax_networks.make_policy_network(
        dist.param_size, dict(observation_size), preprocess_observations_fn=preprocess,
        hidden_layer_sizes=tuple(int(w) for w in hidden), activation=ACTIVATIONS[activation],
        obs_key=ACTOR_KEY, distribution_type=distribution_type)
    return Actor(policy_network=network, parametric_action_distribution=dist)


def actor_from_spec(spec: dict, observation_size: dict[str, int]) -> Actor:
    """The actor a policy spec describes (its `network` and `normalizer`), whatever
    algorithm trained it: no config and no trainer are needed."""
    network, norm = spec["network"], spec["normalizer"]
    return make_actor(observation_size, action_size(spec), hidden=network["hidden"],
                      activation=network["activation"], squash=network["squash"],
                      normalize=bool(norm["enabled"]), obs_clip=float(norm["clip"]))


def load_checkpoint(steps_dir: pathlib.Path, step: int, overrides=()) -> Policy:
    """One checkpoint step's policy: params and normalizer only are read from the carry;
    the actor is built from the step's spec (`actor_from_spec`)."""
    import jax

    from playground import checkpoint
    from playground.algorithms.ppo import networks as ppo_networks

    step_dir = pathlib.Path(steps_dir) / str(step)
    cfg = saved_config(runs.read_config(steps_dir, step), overrides, source=str(step_dir))
    # the observation sizes are the normalizer's: no env is built to learn them
    prefix = ".normalizer.mean['"
    sizes = {key[len(prefix):-2]: int(shape[0])
             for key, shape in checkpoint.saved_shapes(steps_dir, step).items()
             if key.startswith(prefix)}
    spec = runs.read_spec(steps_dir, step)
    actor = actor_from_spec(spec, sizes)
    abstract = {
        ".params.policy": jax.eval_shape(actor.policy_network.init, jax.random.PRNGKey(0)),
        ".normalizer": jax.eval_shape(lambda: ppo_networks.init_normalizer(sizes)),
    }
    trees, spec = checkpoint.restore_trees(steps_dir, step, abstract)
    params, normalizer = trees[".params.policy"], trees[".normalizer"]
    deterministic = ppo_networks.make_deterministic_policy(actor)
    stochastic = ppo_networks.make_stochastic_policy(actor)
    key = ppo_networks.ACTOR_KEY

    def apply(obs):
        return deterministic(normalizer, params, {key: obs})

    def sample(obs, rng_key):
        return stochastic(normalizer, params, {key: obs}, rng_key)

    return Policy(spec=spec, normalizer=normalizer, params=params, apply=apply, sample=sample,
                  cfg=cfg, source=f"checkpoint {step_dir}", kind="checkpoint", path=step_dir)


# --------------------------------------------------------------------------- bundles


def load_bundle(path: str | os.PathLike, overrides=(), config_path=None) -> Policy:
    """An exported bundle's policy (`BundleError` is a ValueError); `cfg` from `config_path`,
    else from its config.yaml when it has one."""
    path = pathlib.Path(os.path.expanduser(str(path)))
    bundle = bundle_lib.Bundle(path)
    if config_path is None and (path / BUNDLE_CONFIG_NAME).is_file():
        config_path = path / BUNDLE_CONFIG_NAME
    cfg = None if config_path is None else config_file(config_path, overrides)
    spec = bundle.spec
    normalizer = {"mean": bundle.arrays["normalizer/mean"], "std": bundle.arrays["normalizer/std"]}
    layers = bundle.layers()
    return Policy(spec=spec, normalizer=normalizer, params=layers,
                  apply=make_layers_apply(spec, layers, normalizer), sample=None, cfg=cfg,
                  source=f"bundle {path}", kind="bundle", path=path, bundle=bundle)


def make_layers_apply(spec: dict, layers, normalizer: dict) -> Callable:
    """The bundle's forward pass in JAX (bundle.py's formulas): obs [..., n] -> action [..., a]."""
    import jax.numpy as jnp

    from playground.algorithms.ppo.networks import ACTIVATIONS, squash_action

    norm = spec["normalizer"]
    mean = jnp.asarray(normalizer["mean"], jnp.float32)
    std = jnp.maximum(jnp.asarray(normalizer["std"], jnp.float32), jnp.float32(norm["eps"]))
    clip = float(norm["clip"])
    activation = ACTIVATIONS[spec["network"]["activation"]]
    weights = [(jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)) for w, b in layers]
    squash = spec["network"]["squash"]

    def apply(obs):
        x = jnp.asarray(obs, jnp.float32)
        if norm["enabled"]:
            x = jnp.clip((x - mean) / std, -clip, clip)
        for i, (w, b) in enumerate(weights):
            x = x @ w + b
            if i < len(weights) - 1:
                x = activation(x)
        return squash_action(x, squash)

    return apply
