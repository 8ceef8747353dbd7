"""The schema: every section and key, its lookups, defaults, merging and plain dicts."""

from __future__ import annotations

import difflib
from typing import Any

import ml_collections

from playground.config.fields import (
    ConfigError,
    Field,
    FreeForm,
    Node,
    Partial,
    Section,
    _check_field,
    _check_free_form,
    _describe,
    _merge_nested,
)

SCHEMA = Section(
    "",
    {
        "env": Section(
            "The simulated task: timing, actions, observation noise, commands, termination, robot model.",
            {
                "task": Field(str, "humanoid_walk", "registry entry (playground/tasks/registry.py)"),
                "episode_length": Field(int, 1000, "control steps before truncation"),
                "ctrl_dt": Field(float, 0.02, "seconds per policy step"),
                "sim_dt": Field(float, 0.004, "seconds per physics step; must divide ctrl_dt"),
                "action_scale": Field(
                    float, 0.3, "rad of position target per unit action, around the home pose"
                ),
                "action_delay_steps": Field(
                    list[int],
                    [0, 1],
                    "[min, max] control steps of action latency, sampled per episode",
                    interval=True,
                ),
                "obs_history": Field(
                    int, 1, "frames of actor observation stacked (1 = no history)"
                ),
                "tracking_sigma": Field(
                    float, 0.25, "width of the exp(-err^2/sigma) tracking rewards"
                ),
                "tracking_sigma_yaw": Field(
                    float, 0.25, "width of the yaw-rate tracking reward (rad^2/s^2)"
                ),
                "yaw_average_seconds": Field(
                    float, 0.5, "time constant of the averaged yaw rate that "
                    "reward term tracking_ang_vel_avg tracks (a gait cycle or so: the yaw "
                    "wobble of each step averages out, the turn stays)"
                ),
                "tracking_sigma_yaw_avg": Field(
                    float, 0.05, "width of the averaged yaw-rate tracking reward (rad^2/s^2)"
                ),
                "base_height_target": Field(
                    float,
                    None,
                    "m; null: the home keyframe's root body height",
                    optional=True,
                ),
                "feet_air_time_target": Field(float, 0.3, "seconds of swing rewarded per step"),
                "noise": Section(
                    "Uniform observation noise, in each sensor's units, times `scale`.",
                    {
                        "scale": Field(float, 1.0, "global multiplier (0 disables noise)"),
                        "gyro": Field(float, 0.2, "rad/s"),
                        "gravity": Field(float, 0.05, "projected gravity, unit vector"),
                        "joint_pos": Field(float, 0.03, "rad"),
                        "joint_vel": Field(float, 1.5, "rad/s"),
                    },
                ),
                "gait": Section(
                    "Gait clock given to the policy.",
                    {
                        "enabled": Field(bool, True, "sin/cos phase clock in the observation"),
                        "frequency": Field(float, 1.5, "Hz, gait cycles per second"),
                        "swing_height": Field(
                            float, 0.035, "m; peak foot lift the `feet_phase` reward asks for"
                        ),
                    },
                ),
                "command": Section(
                    "Velocity commands, sampled uniformly from [lo, hi].",
                    {
                        "vx": Field(list[float], [-0.3, 0.6], "m/s forward", interval=True),
                        "vy": Field(list[float], [-0.2, 0.2], "m/s sideways", interval=True),
                        "yaw_rate": Field(list[float], [-0.5, 0.5], "rad/s", interval=True),
                        "resample_seconds": Field(float, 5.0, "seconds between new commands"),
                        "zero_probability": Field(
                            float, 0.1, "probability that a sampled command is standing still"
                        ),
                        "turn_in_place_probability": Field(
                            float, 0.0, "probability that a sampled command turns in place "
                            "(vx = vy = 0, yaw rate as sampled)"
                        ),
                    },
                ),
                "termination": Section(
                    "When an episode ends early.",
                    {
                        "min_base_height": Field(float, 0.18, "m; root body below this ends it"),
                        "max_tilt": Field(float, 0.9, "rad of root tilt from upright that ends it"),
                    },
                ),
                "robot": Section(
                    "The robot model (see configs/custom_robot.yaml for bringing your own).",
                    {
                        "xml": Field(
                            str,
                            "playground/tasks/assets/wildrobot/wildrobot.xml",
                            "MJCF file, relative to the project root or absolute",
                        ),
                        "keyframe": Field(str, "home", "keyframe with the default pose"),
                        "root_body": Field(str, "pelvis", "floating-base body"),
                        "feet": Field(list[str], ["left_foot", "right_foot"], "foot body names"),
                        "imu_site": Field(str, "imu", "site of the gyro/accelerometer"),
                    },
                ),
                "playground": FreeForm(
                    None,
                    "overrides of a `playground:<EnvName>` task's own Playground config "
                    "(nested keys as dotted paths, e.g. reward_config.scales.upright); "
                    "the env checks names and types",
                    nested=True,
                ),
            },
        ),
        "ppo": Section(
            "Proximal policy optimization.",
            {
                "num_envs": Field(int, 2048, "parallel envs"),
                "num_iterations": Field(int, 2000, "training iterations (rollout + update)"),
                "unroll_length": Field(int, 20, "env steps per env per iteration"),
                "train_episode_length": Field(
                    int,
                    0,
                    "0 = the env's; else training episodes end after this many steps as a "
                    "time limit (bootstrapped, not a termination), so more of the data starts "
                    "episodes; evaluation, play and export keep the env's episode length",
                ),
                "num_minibatches": Field(int, 4, "minibatches per epoch"),
                "num_epochs": Field(int, 4, "passes over each rollout"),
                "learning_rate": Field(float, 3e-4, "Adam step size"),
                "discount": Field(float, 0.97, "gamma per control step, in (0, 1]"),
                "gae_lambda": Field(float, 0.95, "GAE lambda, in (0, 1]"),
                "clip_epsilon": Field(float, 0.2, "PPO ratio clip"),
                "value_loss_coef": Field(float, 0.5, "weight of the value loss"),
                "entropy_coef": Field(float, 0.005, "weight of the entropy bonus"),
                "max_grad_norm": Field(float, 1.0, "global gradient norm clip"),
                "normalize_observations": Field(bool, True, "running mean/std normalizer"),
                "obs_clip": Field(float, 10.0, "normalized observations clipped to +-this"),
                "normalize_advantages": Field(bool, True, "per-minibatch advantage whitening"),
                "reward_scaling": Field(float, 1.0, "multiplier on rewards seen by the learner"),
                "max_bad_updates": Field(
                    int, 5, "consecutive non-finite updates before the run stops (exit 1)"
                ),
            },
        ),
        "network": Section(
            "Actor and critic MLPs.",
            {
                "policy_hidden": Field(list[int], [512, 256, 128], "hidden layer widths"),
                "value_hidden": Field(list[int], [512, 256, 128], "hidden layer widths"),
                "activation": Field(
                    str, "swish", "hidden activation", choices=("swish", "relu", "elu", "tanh")
                ),
                "distribution": Field(
                    str,
                    "tanh_normal",
                    "action distribution",
                    choices=("tanh_normal", "normal"),
                ),
            },
        ),
        "reward_weights": FreeForm(
            float,
            "reward term -> weight; the task YAML gives them, the env checks the names",
        ),
        "domain_randomization": Section(
            "Per-episode physics randomization; scales multiply the model's value, "
            "[lo, hi] sampled uniformly.",
            {
                "enabled": Field(bool, True, "off: the nominal model every episode"),
                "floor_friction": Field(list[float], [0.5, 1.2], "sliding friction", interval=True),
                "mass_scale": Field(list[float], [0.9, 1.1], "x body masses", interval=True),
                "actuator_gain_scale": Field(
                    list[float], [0.9, 1.1], "x actuator kp", interval=True
                ),
                "damping_scale": Field(list[float], [0.8, 1.2], "x joint damping", interval=True),
                "armature_scale": Field(list[float], [0.9, 1.1], "x joint armature", interval=True),
                "frictionloss_scale": Field(
                    list[float], [0.5, 1.5], "x joint friction loss", interval=True
                ),
                "init_qpos_noise": Field(float, 0.05, "rad, uniform noise on the initial joints"),
                "push_interval_seconds": Field(
                    list[float], [5.0, 10.0], "seconds between pushes", interval=True
                ),
                "push_velocity": Field(float, 0.3, "m/s added to the base (0 disables pushes)"),
            },
        ),
        "amp": Section(
            "Adversarial motion priors: a style reward from a discriminator.",
            {
                "enabled": Field(bool, False, "train a discriminator and add the style reward"),
                "weight": Field(float, 0.5, "weight of the style reward term"),
                "motion_files": Field(
                    list[str],
                    [],
                    "reference clips: PATH or PATH@WEIGHT (.npz, .json, .csv, a folder or a "
                    "manifest .yaml); empty: the clips shipped beside the robot MJCF",
                ),
                "motion_layout": Field(
                    str, None, "YAML column layout for .json/.csv clips without their own",
                    optional=True,
                ),
                "features": Section(
                    "What the discriminator sees of a state (docs/motion.md).",
                    {
                        "root_height": Field(bool, True, "root z"),
                        "orientation": Field(bool, True, "root x and z axes in the heading frame"),
                        "linvel": Field(bool, True, "root linear velocity, heading frame"),
                        "angvel": Field(bool, True, "root angular velocity, heading frame"),
                        "joint_pos": Field(bool, True, "actuated joint positions"),
                        "joint_vel": Field(bool, True, "actuated joint velocities"),
                        "foot_pos": Field(
                            bool, False, "foot positions relative to the root (one more "
                            "kinematics pass per step)",
                        ),
                    },
                ),
                "disc_hidden": Field(list[int], [512, 256], "discriminator MLP widths (ReLU)"),
                "disc_learning_rate": Field(float, 1e-4, "Adam step of the discriminator"),
                "disc_updates": Field(int, 4, "discriminator minibatch steps per iteration"),
                "disc_batch_size": Field(
                    int, 512, "reference and replayed policy transitions per discriminator step"
                ),
                "replay_size": Field(
                    int, 200000, "policy transitions kept for the discriminator (newest win)"
                ),
                "grad_penalty": Field(
                    float, 5.0, "weight w of (w/2) E_ref |grad_x D|^2 on the normalized input"
                ),
                "logit_reg": Field(float, 0.05, "weight of |W_out|^2, the output layer's kernel"),
                "weight_decay": Field(float, 1e-4, "weight of |W|^2 over all kernels"),
            },
        ),
        "run": Section(
            "Seeds, logging, evaluation, checkpoints.",
            {
                "seed": Field(int, 0, "root random seed"),
                "name": Field(str, None, "null: <task>-<timestamp>", optional=True),
                "log_every": Field(int, 100000, "env steps between console lines"),
                "eval_every": Field(int, 50, "iterations between evaluations (0 = never)"),
                "eval_envs": Field(int, 128, "envs per evaluation"),
                "checkpoint_every": Field(
                    int, 100, "iterations between checkpoints (0 = only at the end)"
                ),
                "keep_checkpoints": Field(int, 3, "most recent checkpoints kept"),
                "keep_best": Field(
                    int, 1, "also keep this many best checkpoints by eval/episode_reward (0: none)"
                ),
                "checkpoint_dir": Field(str, "checkpoints", "root directory of run directories"),
                "resume": Field(
                    str,
                    None,
                    'continue a run: a run dir, checkpoint step dir, or "latest" (newest under '
                    "run.checkpoint_dir); its saved config is the base for --set",
                    optional=True,
                ),
                "init_from": Field(
                    str,
                    None,
                    "warm start a new run: a run dir or checkpoint step dir whose policy, value "
                    "function and observation normalizer this run starts from (optimizer, env "
                    "states, iteration and AMP start fresh; networks and observation/action "
                    "layout must match)",
                    optional=True,
                ),
                "devices": Field(
                    int, 0, "data-parallel devices of each process: 0 = all local devices, "
                    "N = the first N"
                ),
                "distributed": Section(
                    "Multi-host training: one process per host, joined by jax.distributed "
                    "(docs/multi_host.md). Each process's launch command sets these; they are "
                    "not saved with the run.",
                    {
                        "coordinator": Field(
                            str,
                            None,
                            "host:port of process 0's coordinator service, the same for every "
                            "process; auto: detected by JAX (SLURM, Open MPI, Kubernetes, Cloud "
                            "TPU; JAX_COORDINATOR_ADDRESS); null: one process",
                            optional=True,
                        ),
                        "num_processes": Field(
                            int, None, "processes in the run (null: detected with auto)",
                            optional=True,
                        ),
                        "process_id": Field(
                            int, None, "this process, 0 .. num_processes-1; 0 writes the run "
                            "directory (null: detected with auto)", optional=True,
                        ),
                        "timeout_seconds": Field(
                            int, 300, "seconds to wait for every process to join"
                        ),
                    },
                ),
                "progress": Field(bool, True, "progress bar"),
                "compilation_cache": Field(
                    str,
                    "~/.cache/playground/jax",
                    "persistent XLA compilation cache directory (null disables)",
                    optional=True,
                ),
                "wandb": Section(
                    "Weights & Biases logging.",
                    {
                        "enabled": Field(bool, True, "log to wandb"),
                        "project": Field(str, "playground", "wandb project"),
                        "entity": Field(str, None, "null: your default entity", optional=True),
                        "mode": Field(
                            str,
                            "auto",
                            "auto: online if logged in, else offline",
                            choices=("auto", "online", "offline"),
                        ),
                    },
                ),
            },
        ),
        "quick_verify": Partial(
            "partial config (same shape as the root) applied on top of the YAML in --verify mode"
        ),
    },
)

#: The shape a `quick_verify` section is checked against.
_PARTIAL_SCHEMA = Section(
    "", {key: node for key, node in SCHEMA.fields.items() if not isinstance(node, Partial)}
)


def _schema_paths(section: Section, prefix: str = "") -> list[str]:
    """Every dotted key the schema declares (sections and leaves), for suggestions."""
    paths = []
    for key, node in section.fields.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(node, Section):
            paths += _schema_paths(node, path + ".")
        elif isinstance(node, Partial):
            paths += _schema_paths(_PARTIAL_SCHEMA, path + ".")
    return paths


_ALL_PATHS = tuple(_schema_paths(SCHEMA))


def _lookup(dotted_key: str) -> Node:
    """The schema node of `dotted_key`; unknown keys raise with a suggestion.

    A key one level below a FreeForm mapping (any level below a nested one) returns
    that mapping.
    """
    node: Node = SCHEMA
    parts = dotted_key.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, FreeForm):
            if depth == len(parts) - 1 or node.nested:
                return node
            mapping = ".".join(parts[:depth])
            raise ConfigError(f"{mapping} is a flat mapping: {dotted_key!r} is nested too deep")
        if isinstance(node, Partial):
            node = _PARTIAL_SCHEMA
        if not isinstance(node, Section) or part not in node.fields:
            raise _unknown_key(".".join(parts[: depth + 1]))
        node = node.fields[part]
    return node


def _unknown_key(path: str) -> ConfigError:
    message = f"unknown config key {path!r}"
    leaf = path.rpartition(".")[2]
    same_leaf = [p for p in _ALL_PATHS if p.rpartition(".")[2] == leaf]
    close = difflib.get_close_matches(
        path, same_leaf or _ALL_PATHS, n=1, cutoff=0.0 if same_leaf else 0.6
    )
    if close:
        return ConfigError(f"{message} (did you mean {close[0]!r}?)")
    parent = path.rpartition(".")[0]
    siblings = [p.rpartition(".")[2] for p in _ALL_PATHS if p.rpartition(".")[0] == parent]
    if siblings:
        where = f"keys of {parent}" if parent else "top-level keys"
        message += f"; {where}: {', '.join(siblings)}"
    return ConfigError(message)



def _merge(section: Section, base: dict, layer: Any, path: str = "") -> dict:
    """A new dict: `base` with the values of the partial `layer` checked and laid on top.

    Neither input is modified. `base` may itself be partial (a quick_verify section).
    An empty YAML section (null) changes nothing.
    """
    if layer is None:
        return dict(base)
    if not isinstance(layer, dict):
        raise ConfigError(
            f"{path or 'the config'} expects a mapping of keys, got {_describe(layer)}"
        )
    merged = dict(base)
    for key, value in layer.items():
        key_path = f"{path}.{key}" if path else str(key)
        node = section.fields.get(key) if isinstance(key, str) else None
        if node is None:
            raise _unknown_key(key_path)
        if isinstance(node, Section):
            merged[key] = _merge(node, base.get(key, {}), value, key_path)
        elif isinstance(node, Partial):
            merged[key] = _merge(_PARTIAL_SCHEMA, base.get(key, {}), value, key_path)
        elif isinstance(node, FreeForm):
            merged[key] = _merge_nested(_plain_free_form(base.get(key, {})),
                                        _check_free_form(key_path, node, value))
        else:
            merged[key] = _check_field(key_path, node, value)
    return merged


def _defaults(section: Section) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, node in section.fields.items():
        if isinstance(node, Section):
            values[key] = _defaults(node)
        elif isinstance(node, FreeForm | Partial):
            values[key] = {}
        else:
            values[key] = list(node.default) if isinstance(node.default, tuple) else node.default
    return values


def _locked(values: dict[str, Any]) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict(values)
    cfg.lock()
    return cfg


def default_config() -> ml_collections.ConfigDict:
    """A new locked ConfigDict holding every schema default."""
    return _locked(_defaults(SCHEMA))


def _plain_free_form(values: Any) -> dict[str, Any]:
    """A free-form mapping (nested ConfigDicts included) as plain dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict | ml_collections.ConfigDict):
            out[key] = _plain_free_form(value)
        else:
            out[key] = list(value) if isinstance(value, list | tuple) else value
    return out


def _plain(section: Section, values: Any) -> dict[str, Any]:
    """Plain nested dict in schema order, for the keys present in `values`."""
    out: dict[str, Any] = {}
    for key, node in section.fields.items():
        if key not in values:
            continue
        value = values[key]
        if isinstance(node, Section):
            out[key] = _plain(node, value)
        elif isinstance(node, Partial):
            out[key] = _plain(_PARTIAL_SCHEMA, value)
        elif isinstance(node, FreeForm):
            out[key] = _plain_free_form(value)
        else:
            out[key] = list(value) if isinstance(value, list | tuple) else value
    return out


def to_dict(cfg: ml_collections.ConfigDict | dict) -> dict[str, Any]:
    """The config as plain nested dicts and lists, keys in schema order."""
    return _plain(SCHEMA, cfg)
