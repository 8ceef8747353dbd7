"""One config tree: the typed schema, YAML loading, `--set` overrides, derived values.

The schema (`SCHEMA`) is declared once below; `default_config()` materializes it
into a locked `ml_collections.ConfigDict`. Everything else (YAML files, the
command line, `quick_verify`) only supplies values for keys the schema declares,
and every value is type-checked against it, so a typo or a wrong type is a
`ConfigError` with a one-line message that names the key (and the closest valid
key), raised before anything imports jax or compiles.

Precedence (lowest first; a later layer overrides an earlier one key by key):

  1. schema defaults (`SCHEMA`, listed in docs/config.md);
  2. one YAML file: `--config PATH`, or, when no `--config` is given, the
     registry YAML (configs/<task>.yaml) of the task named by the final value of
     `env.task` after the command-line overrides (schema default: humanoid_walk);
  3. that file's `quick_verify` section, only in `--verify` mode;
  4. the command line: `--set KEY=VALUE` and the shortcut flags (each is exactly
     one `--set`), applied in the order given, so the last one wins.

So `--verify --num-iterations 8` runs 8 iterations, and
`--set ppo.num_envs=8 --num-envs 16` gives 16 envs.

Free-form mappings are merged key by key: `reward_weights` (term -> float; the
keys are checked against the env's reward terms later, by
`validate_reward_weights`) and `env.playground` (overrides of a Playground
env's own config, passed through untouched and checked by the adapter).

`derive(cfg)` computes the values the trainer needs (batch sizes, substeps, the
chunking of iterations into jitted scans) and rejects impossible combinations.
The resolved config is locked and never mutated after `resolve_config`.

Run `python -m playground.config --write-docs docs/config.md` after editing the
schema, and `python -m playground.config --print [flags]` to see a resolved config.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import json
import math
import pathlib
import re
import sys
import typing
from collections.abc import Sequence
from typing import Any

import ml_collections
import yaml

from playground import runs
from playground.tasks import registry


class ConfigError(Exception):
    """A config problem, explained in one line (key, value, and what was expected)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def print_error(error: Exception) -> None:
    """`error: ...` as one line on stderr, whatever the text (e.g. multi-line XML parser output)."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)


# --------------------------------------------------------------------------- schema


@dataclasses.dataclass(frozen=True)
class Field:
    """One typed leaf of the config tree.

    type: int, float, bool, str, list[int], list[float] or list[str].
    choices: allowed values of a str (an enumeration).
    optional: null (None) is allowed.
    interval: a [lo, hi] pair; the length is checked on load, lo <= hi by `derive`.
    """

    type: Any
    default: Any
    doc: str
    choices: tuple[str, ...] | None = None
    optional: bool = False
    interval: bool = False

    def __post_init__(self):
        # List defaults are stored as tuples so the module-level schema stays immutable.
        if isinstance(self.default, list):
            object.__setattr__(self, "default", tuple(self.default))


@dataclasses.dataclass(frozen=True)
class FreeForm:
    """A mapping whose keys the schema does not know (str -> value_type).

    value_type float: str -> float (ints accepted). value_type None: any scalar or
    list of scalars, passed through untouched. Empty by default.
    nested: values may also be mappings, to any depth (a third-party config tree such
    as MuJoCo Playground's); a dotted key (`--set m.a.b=1`, or `a.b: 1` in YAML) is the
    same as the nested mapping {a: {b: 1}}. Layers merge key by key at every depth.
    """

    value_type: Any
    doc: str
    nested: bool = False


@dataclasses.dataclass(frozen=True)
class Partial:
    """A partial config: the root's shape minus this key, every value checked."""

    doc: str


@dataclasses.dataclass(frozen=True)
class Section:
    """A named group of keys."""

    doc: str
    fields: dict[str, Any]


Node = Field | FreeForm | Partial | Section

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
                        "imu_site": Field(str, "imu", "site of the gyro/accelerometer on the "
                                          "root body; null: the root body's own frame",
                                          optional=True),
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
                "discard_later_steps": Field(
                    bool, False, "with --resume of a step older than the run's newest: first "
                    "move the later steps and the metrics rows past it into "
                    "<run>/discarded-<time>/ (without it that resume is refused)"
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


# --------------------------------------------------------------------------- values


def _type_name(field: Field) -> str:
    if field.choices:
        name = "one of " + ", ".join(field.choices)
    elif typing.get_origin(field.type) is list:
        item = typing.get_args(field.type)[0].__name__
        name = f"[lo, hi] {item}" if field.interval else f"list[{item}]"
    else:
        name = field.type.__name__
    return f"{name} or null" if field.optional else name


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _check_scalar(path: str, expected: type, value: Any) -> Any:
    """`value` as `expected`: ints become floats; bools are never numbers."""
    if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected in (bool, str) and isinstance(value, expected):
        return value
    raise ConfigError(f"{path} expects {expected.__name__}, got {_describe(value)}")


def _check_field(path: str, field: Field, value: Any) -> Any:
    """The checked, converted value of `field` (lists are returned as new lists)."""
    if value is None:
        if field.optional:
            return None
        raise ConfigError(f"{path} expects {_type_name(field)}, got null (not an optional key)")
    if typing.get_origin(field.type) is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path} expects {_type_name(field)}, got {_describe(value)}")
        (item_type,) = typing.get_args(field.type)
        items = [_check_scalar(f"{path}[{i}]", item_type, v) for i, v in enumerate(value)]
        if field.interval and len(items) != 2:
            raise ConfigError(f"{path} expects [lo, hi] (2 values), got {list(value)!r}")
        return items
    value = _check_scalar(path, field.type, value)
    if field.choices and value not in field.choices:
        raise ConfigError(f"{path} must be one of {', '.join(field.choices)}; got {value!r}")
    return value


def _is_plain_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _merge_nested(base: dict, layer: dict) -> dict:
    """A new dict: `layer` laid on `base` key by key at every depth (neither is modified)."""
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_nested(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_free_form(path: str, node: FreeForm, value: Any) -> dict[str, Any]:
    if value is None:  # an empty YAML section
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path} expects a mapping of key: value, got {_describe(value)}")
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if node.nested and isinstance(key, str) and "." in key:
            # `a.b: 1` is {a: {b: 1}}: expand, then check it as that mapping
            head, _, rest = key.partition(".")
            if head and rest:
                expanded = _check_free_form(path, node, {head: {rest: item}})
                checked = _merge_nested(checked, expanded)
                continue
        if not isinstance(key, str) or not key or "." in key:
            raise ConfigError(f"{path} keys must be non-empty strings without '.', got {key!r}")
        item_path = f"{path}.{key}"
        if node.nested and isinstance(item, dict | ml_collections.ConfigDict):
            checked = _merge_nested(checked, {key: _check_free_form(item_path, node, dict(item))})
        elif node.value_type is not None:
            checked[key] = _check_scalar(item_path, node.value_type, item)
        elif _is_plain_scalar(item):
            checked[key] = item
        elif isinstance(item, list | tuple) and all(_is_plain_scalar(v) for v in item):
            checked[key] = list(item)
        else:
            kinds = "a scalar, a list of scalars or a mapping" if node.nested else (
                "a scalar or a list of scalars")
            raise ConfigError(f"{item_path} expects {kinds}, got {_describe(item)}")
    return checked


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


# --------------------------------------------------------------------------- YAML


def _yaml_resolvers() -> dict[str | None, list]:
    """YAML 1.2-style implicit types: `1e-4` is a float; `yes`, `on`, dates are strings."""
    replaced = {
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
    }
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag not in replaced]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    rules = [
        ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
        ("tag:yaml.org,2002:int", r"[-+]?(0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+", "-+0123456789"),
        (
            "tag:yaml.org,2002:float",
            r"[-+]?(\.[0-9]+|[0-9][0-9_]*\.[0-9_]*)([eE][-+]?[0-9]+)?"
            r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
            "-+.0123456789",
        ),
    ]
    for tag, pattern, first_chars in rules:
        regexp = re.compile(f"^(?:{pattern})$")
        for char in first_chars:
            resolvers.setdefault(char, []).append((tag, regexp))
    return resolvers


class _Loader(yaml.SafeLoader):
    """Safe loader with YAML 1.2 scalars that rejects duplicate keys."""

    yaml_implicit_resolvers = _yaml_resolvers()

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Dumper(yaml.SafeDumper):
    """Block mappings, flow lists; quotes exactly the strings `_Loader` would misread."""

    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


_Dumper.add_representer(
    list,
    lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True),
)


def _dump_yaml(values: dict[str, Any]) -> str:
    return yaml.dump(values, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from None


def load_yaml(path: str | pathlib.Path) -> dict[str, Any]:
    """The YAML mapping in `path`, unchecked against the schema (an empty file: ConfigError)."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    data = _parse_yaml(text, str(path))
    if data is None:  # empty or only comments: never silently the schema's defaults
        raise ConfigError(f"{path}: the config file is empty (nothing but comments or "
                          "whitespace); refusing to train on the schema's defaults")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of config sections, got {type(data).__name__}"
        )
    return data


def save_config(cfg: ml_collections.ConfigDict | dict, path: str | pathlib.Path) -> None:
    """Writes the whole config as YAML; `--config path` resolves back to the same config."""
    text = _dump_yaml(to_dict(cfg))
    header = "# Resolved playground config. Reload with: --config <this file>\n"
    runs.write_atomic(pathlib.Path(path), header + text)


# --------------------------------------------------------------------------- overrides


def _parse_value(key: str, raw: Any) -> Any:
    """A `--set` value: YAML scalar/flow text; a str key keeps text that reads as a number."""
    if not isinstance(raw, str):
        return raw
    value = _parse_yaml(raw, f"--set {key}")
    node = _lookup(key)
    wants_str = isinstance(node, Field) and node.type is str
    if wants_str and isinstance(value, bool | int | float):
        return raw.strip()
    return value


def apply_overrides(
    cfg_dict: dict | ml_collections.ConfigDict, overrides: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """A new plain dict: `cfg_dict` with each (dotted key, value) applied in order.

    A str value is YAML text as given to `--set` ("1e-4", "[64, 64]", "null");
    any other value is used as is. Every value is checked against the schema.
    """
    values = to_dict(cfg_dict)
    for key, raw in overrides:
        node = _lookup(key)
        if isinstance(node, Partial) or key.startswith("quick_verify."):
            raise ConfigError(
                f"cannot --set {key}: quick_verify comes from the YAML file and is applied "
                "before the command line; set the key itself instead"
            )
        layer: Any = _parse_value(key, raw)
        for part in reversed(key.split(".")):
            layer = {part: layer}
        values = _merge(SCHEMA, values, layer)
    return values


def _layer(values: dict, layer: dict, source: str) -> dict:
    try:
        return _merge(SCHEMA, values, layer)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def _check_task(task: str, source: str) -> registry.TaskEntry:
    try:
        return registry.get_task(task)
    except KeyError as error:  # the registry's one-line message (unknown task, missing extra)
        raise ConfigError(f"{source}: {error.args[0]}") from None


#: Keys a resumed run may change; any other change alters shapes or the learning
#: problem (network, observations, task, envs, devices, seed, learning rate, ...).
RESUMABLE_KEYS = (
    "ppo.num_iterations",
    "ppo.max_bad_updates",
    "run.log_every",
    "run.eval_every",
    "run.eval_envs",
    "run.checkpoint_every",
    "run.keep_checkpoints",
    "run.keep_best",
    "run.checkpoint_dir",
    "run.resume",
    "run.discard_later_steps",
    "run.progress",
    "run.compilation_cache",
    "run.distributed.",
    "run.wandb.",
)


def _dotted(values: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(values, dict) and values:
        out: dict[str, Any] = {}
        for key, value in values.items():
            out.update(_dotted(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: values}


def resume_changes(saved: dict, resolved: dict) -> list[str]:
    """What a resume changes ("key: old -> new"); ConfigError for a key not in RESUMABLE_KEYS.

    `saved` may come from an older schema that lacked some keys: it is laid on today's
    defaults first, so a key the checkpoint never had compares as its default.
    """
    saved = _layer(_defaults(SCHEMA), to_dict(saved), "--resume: saved config")
    old, new = _dotted(to_dict(saved)), _dotted(to_dict(resolved))
    changes = []
    for key in sorted(set(old) | set(new)):
        if key.startswith("quick_verify") or old.get(key) == new.get(key):
            continue
        allowed = any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS)
        if not allowed:
            raise ConfigError(
                f"--resume: {key} cannot change when resuming ({old.get(key)!r} -> "
                f"{new.get(key)!r}): it changes shapes or the learning problem; start a new run "
                "(resumable keys: see docs/config.md)"
            )
        if key == "ppo.num_iterations" and new.get("ppo.lr_schedule") == "linear":
            raise ConfigError(
                "--resume: ppo.num_iterations cannot change with ppo.lr_schedule=linear "
                "(the schedule's length is part of the learning problem)"
            )
        if key != "run.resume":
            changes.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return changes


#: Keys that configs saved by earlier releases may hold, with the value that meant "off".
#: A saved config is read without them when they are off; a run that used one is refused.
REMOVED_KEYS = {"ppo.kl_stop": 0.0, "ppo.policy_average": 0.0, "ppo.lr_schedule": "constant",
                "ppo.desired_kl": None}


def _without_removed_keys(saved_values: dict, source: str) -> dict:
    """`saved_values` less the REMOVED_KEYS it holds at their off value (ConfigError else)."""
    values = copy.deepcopy(saved_values)
    for dotted, off in REMOVED_KEYS.items():
        *parents, leaf = dotted.split(".")
        section = values
        for name in parents:
            section = section.get(name) if isinstance(section, dict) else None
        if not isinstance(section, dict) or leaf not in section:
            continue
        value = section.pop(leaf)
        if off is not None and value != off:
            raise ConfigError(
                f"{source}: trained with {dotted}={value!r}, which this release removed; "
                "play or export it with the release before (git tag or commit 5a97a0a)")
    return values


def from_saved(saved_values: dict, overrides: Sequence[tuple[str, Any]] = (),
               source: str = "saved config") -> ml_collections.ConfigDict:
    """A locked config from one saved with a checkpoint, `overrides` applied on top."""
    saved_values = _without_removed_keys(saved_values, source)
    values = apply_overrides(_layer(_defaults(SCHEMA), saved_values, source), overrides)
    _check_task(values["env"]["task"], f"{source}: env.task")
    return _locked(values)


def _resolve_resume(config_path, overrides, verify: bool, command_line: dict):
    """The checkpoint's saved config < overrides; run.resume becomes the exact step dir."""
    where = command_line["run"]["resume"]
    if config_path is not None:
        raise ConfigError(
            "--config cannot be combined with --resume: the checkpoint's saved config is the "
            "base; change resumable keys with --set"
        )
    if verify:
        raise ConfigError("--verify cannot be combined with --resume")
    if command_line["run"]["init_from"] is not None:
        raise ConfigError("--init-from starts a new run and --resume continues one: use one of them")
    try:
        steps_dir, step = runs.find_step(where, command_line["run"]["checkpoint_dir"])
        saved_values = runs.read_config(steps_dir, step)
        runs.check_resume_step(steps_dir, step, command_line["run"]["discard_later_steps"])
    except (FileNotFoundError, ValueError) as error:  # ValueError: unreadable JSON, OutputError
        raise ConfigError(f"--resume: {error}") from None
    source = f"--resume: config of {steps_dir / str(step)}"
    saved = _layer(_defaults(SCHEMA), _without_removed_keys(saved_values, source), source)
    values = apply_overrides(saved, overrides)
    values["run"]["resume"] = str(steps_dir / str(step))
    resume_changes(saved, values)
    _check_task(values["env"]["task"], "env.task")
    return _locked(values)


def resolve(
    config_path: str | pathlib.Path | None,
    overrides: Sequence[tuple[str, Any]] = (),
    verify: bool = False,
) -> ml_collections.ConfigDict:
    """The locked config: defaults < YAML < quick_verify (if verify) < overrides in order.

    With `run.resume` set (`--resume`), the resumed checkpoint's saved config
    replaces defaults and YAML, and only RESUMABLE_KEYS may change.
    """
    defaults = _defaults(SCHEMA)
    try:
        command_line = apply_overrides(defaults, overrides)
    except ConfigError as error:
        raise ConfigError(f"command line: {error}") from None
    if command_line["run"]["resume"] is not None:
        return _resolve_resume(config_path, overrides, verify, command_line)
    final_task = command_line["env"]["task"]
    if config_path is None:
        config_path = _check_task(final_task, "env.task").config_path
        source = str(config_path.relative_to(registry.PROJECT_ROOT))
    else:
        source = str(config_path)
    values = _layer(defaults, load_yaml(config_path), source)
    if verify:
        values = _merge(SCHEMA, values, values["quick_verify"])
    values = apply_overrides(values, overrides)
    if values["run"]["resume"] is not None:
        raise ConfigError(f"{source}: run.resume belongs on the command line (--resume PATH)")
    if values["run"]["discard_later_steps"]:
        raise ConfigError("run.discard_later_steps applies only with --resume of an older step")
    _check_task(values["env"]["task"], "env.task")
    return _locked(values)


# --------------------------------------------------------------------------- command line


@dataclasses.dataclass(frozen=True)
class Shortcut:
    """A command-line flag that is exactly one `--set key=value`."""

    flag: str
    key: str
    metavar: str | None  # None: a switch that sets `value`
    value: str | None = None
    help: str = ""


SHORTCUTS = (
    Shortcut("--task", "env.task", "NAME", help="task from the registry"),
    Shortcut("--num-envs", "ppo.num_envs", "N"),
    Shortcut("--num-iterations", "ppo.num_iterations", "N"),
    Shortcut("--seed", "run.seed", "N"),
    Shortcut("--checkpoint-dir", "run.checkpoint_dir", "DIR"),
    Shortcut("--no-wandb", "run.wandb.enabled", None, "false"),
    Shortcut("--enable-amp", "amp.enabled", None, "true"),
    Shortcut("--amp-weight", "amp.weight", "W"),
    Shortcut("--resume", "run.resume", "PATH", help='continue a run: run dir, step dir or "latest"'),
    Shortcut("--discard-later-steps", "run.discard_later_steps", None, "true"),
    Shortcut("--init-from", "run.init_from", "PATH",
             help="start a new run from another run's policy, value function and normalizer"),
)


class _OverrideAction(argparse.Action):
    """Appends (key, raw value) to the one ordered `overrides` list."""

    def __init__(self, option_strings, dest, key=None, value=None, **kwargs):
        self.key, self.value = key, value
        super().__init__(option_strings, dest, nargs=0 if value is not None else None, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if self.key is None:  # --set KEY=VALUE
            key, sep, raw = values.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--set expects KEY=VALUE, got {values!r}")
            pair = (key.strip(), raw)
        else:
            pair = (self.key, self.value if self.value is not None else values)
        setattr(namespace, self.dest, (*getattr(namespace, self.dest), pair))


def build_arg_parser() -> argparse.ArgumentParser:
    """--config, --set (repeatable), the shortcuts, and --verify."""
    parser = argparse.ArgumentParser(
        description="Train a policy. Values: schema defaults < YAML < quick_verify "
        "(--verify) < --set and shortcuts, in command-line order. See docs/config.md.",
        allow_abbrev=False,
    )
    parser.set_defaults(overrides=())
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="YAML file (default: configs/<task>.yaml of the final env.task)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="apply the YAML's quick_verify section (a tiny, fast run)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action=_OverrideAction,
        help="set one config key; VALUE is YAML (1e-4, true, null, [64, 64]); repeatable",
    )
    for shortcut in SHORTCUTS:
        same_as = f"same as --set {shortcut.key}={shortcut.value or shortcut.metavar}"
        parser.add_argument(
            shortcut.flag,
            dest="overrides",
            metavar=shortcut.metavar,
            action=_OverrideAction,
            key=shortcut.key,
            value=shortcut.value,
            help=f"{shortcut.help}; {same_as}" if shortcut.help else same_as,
        )
    return parser


def _resolve_args(args: argparse.Namespace) -> ml_collections.ConfigDict:
    return resolve(args.config, args.overrides, args.verify)


def resolve_config(argv: Sequence[str]) -> tuple[ml_collections.ConfigDict, argparse.Namespace]:
    """Parses `argv` and returns the resolved, locked config and the parsed arguments."""
    args = build_arg_parser().parse_args(list(argv))
    return _resolve_args(args), args


# --------------------------------------------------------------------------- derived values


def _doc(text: str) -> Any:
    """A required dataclass field documented in docs/config.md."""
    return dataclasses.field(metadata={"doc": text})


@dataclasses.dataclass(frozen=True)
class Derived:
    """Values computed once from the config, before compiling.

    The trainer runs `num_chunks` jitted chunks of `iterations_per_chunk`
    iterations each (`total_iterations` >= ppo.num_iterations) and returns to
    Python between chunks to log, evaluate (every `eval_every_chunks` chunks,
    0 = never) and checkpoint (every `checkpoint_every_chunks` chunks, 0 = only
    at the end).
    """

    env_steps_per_iteration: int = _doc("ppo.num_envs * ppo.unroll_length")
    minibatch_size: int = _doc(
        "env steps per minibatch: env_steps_per_iteration / ppo.num_minibatches"
    )
    n_substeps: int = _doc("physics steps per control step: env.ctrl_dt / env.sim_dt")
    iterations_per_chunk: int = _doc("iterations per jitted chunk (see below)")
    num_chunks: int = _doc("ceil(ppo.num_iterations / iterations_per_chunk)")
    total_iterations: int = _doc("ppo.num_iterations, run exactly (idle tail in the last chunk)")
    eval_every_chunks: int = _doc("chunks between evaluations (0 = never)")
    checkpoint_every_chunks: int = _doc("chunks between checkpoints (0 = only at the end)")
    total_env_steps: int = _doc("total_iterations * env_steps_per_iteration")
    notes: tuple[str, ...] = _doc("one line per value rounded to fit the chunks")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _intervals(section: Section, values: Any, prefix: str = ""):
    for key, node in section.fields.items():
        if isinstance(node, Section):
            yield from _intervals(node, values[key], f"{prefix}{key}.")
        elif isinstance(node, Field) and node.interval:
            yield f"{prefix}{key}", list(values[key])


def _check_distributed(dist, num_envs: int) -> None:
    """run.distributed: a host:port coordinator (or auto) with a process count and id."""
    coordinator, count, pid = dist.coordinator, dist.num_processes, dist.process_id
    if coordinator is None:
        for key, value in (("num_processes", count), ("process_id", pid)):
            _require(value is None, f"run.distributed.{key}={value} needs "
                     "run.distributed.coordinator (host:port of process 0, or auto)")
        return
    if coordinator != "auto":
        host, sep, port = coordinator.rpartition(":")
        _require(bool(sep and host) and port.isdigit() and 0 < int(port) < 65536,
                 f"run.distributed.coordinator must be host:port (port 1-65535) or auto, "
                 f"got {coordinator!r}")
        for key, value in (("num_processes", count), ("process_id", pid)):
            _require(value is not None,
                     f"run.distributed.{key} is required with run.distributed.coordinator "
                     f"{coordinator} (null only with auto)")
    _require(count is None or count >= 1, f"run.distributed.num_processes must be >= 1, got {count}")
    _require(pid is None or pid >= 0, f"run.distributed.process_id must be >= 0, got {pid}")
    _require(count is None or pid is None or pid < count,
             f"run.distributed.process_id {pid} is out of range for num_processes {count} "
             f"(0 .. {count - 1 if count else 0})")
    _require(count is None or num_envs % count == 0,
             f"ppo.num_envs {num_envs} is not divisible by run.distributed.num_processes {count}")
    _require(dist.timeout_seconds >= 1,
             f"run.distributed.timeout_seconds must be >= 1, got {dist.timeout_seconds}")


def derive(cfg: ml_collections.ConfigDict) -> Derived:
    """Computes the `Derived` values; ConfigError for impossible settings."""
    if isinstance(cfg, dict):
        cfg = ml_collections.ConfigDict(cfg)
    ppo, run, env = cfg.ppo, cfg.run, cfg.env
    for key, value in (
        ("ppo.num_envs", ppo.num_envs),
        ("ppo.num_iterations", ppo.num_iterations),
        ("ppo.unroll_length", ppo.unroll_length),
        ("ppo.num_minibatches", ppo.num_minibatches),
        ("ppo.num_epochs", ppo.num_epochs),
        ("run.eval_envs", run.eval_envs),
        ("run.log_every", run.log_every),
        ("run.keep_checkpoints", run.keep_checkpoints),
        ("env.episode_length", env.episode_length),
        ("env.obs_history", env.obs_history),
    ):
        _require(value >= 1, f"{key} must be >= 1, got {value}")
    for key, value in (
        ("run.eval_every", run.eval_every),
        ("run.checkpoint_every", run.checkpoint_every),
    ):
        _require(value >= 0, f"{key} must be >= 0 (0 = never), got {value}")
    _require(run.devices >= 0, f"run.devices must be >= 0 (0 = all), got {run.devices}")
    _require(
        run.devices == 0 or ppo.num_envs % run.devices == 0,
        f"ppo.num_envs {ppo.num_envs} is not divisible by run.devices {run.devices}",
    )
    _check_distributed(run.distributed, ppo.num_envs)
    _require(run.distributed.coordinator is None or not env.task.startswith("playground:"),
             f"env.task {env.task}: MuJoCo Playground puts its model on process 0's device, "
             "so it cannot train multi-host (unset run.distributed)")
    steps = ppo.num_envs * ppo.unroll_length
    _require(
        steps % ppo.num_minibatches == 0,
        f"ppo.num_envs * ppo.unroll_length = {steps} env steps per iteration is not divisible "
        f"by ppo.num_minibatches {ppo.num_minibatches}",
    )
    for key in ("discount", "gae_lambda"):
        value = ppo[key]
        _require(0.0 < value <= 1.0, f"ppo.{key} must be in (0, 1], got {value}")
    _require(ppo.learning_rate > 0, f"ppo.learning_rate must be > 0, got {ppo.learning_rate}")
    _require(ppo.train_episode_length >= 0, "ppo.train_episode_length must be >= 0 (0 = the "
             f"env's episode length), got {ppo.train_episode_length}")
    for key, (lo, hi) in _intervals(SCHEMA, cfg):
        _require(lo <= hi, f"{key} is [lo, hi] but lo > hi: [{lo}, {hi}]")
    lo_delay = env.action_delay_steps[0]
    _require(lo_delay >= 0, f"env.action_delay_steps must be >= 0, got {lo_delay}")
    _require(env.sim_dt > 0, f"env.sim_dt must be > 0, got {env.sim_dt}")
    _require(env.ctrl_dt > 0, f"env.ctrl_dt must be > 0, got {env.ctrl_dt}")
    for key in ("zero_probability", "turn_in_place_probability"):
        prob = env.command[key]
        _require(0.0 <= prob <= 1.0, f"env.command.{key} must be in [0, 1], got {prob}")
    for key in ("tracking_sigma", "tracking_sigma_yaw", "tracking_sigma_yaw_avg",
                "yaw_average_seconds"):
        _require(env[key] > 0, f"env.{key} must be > 0, got {env[key]}")
    ratio = env.ctrl_dt / env.sim_dt
    _require(
        round(ratio) >= 1 and abs(ratio - round(ratio)) <= 1e-6,
        f"env.ctrl_dt {env.ctrl_dt} is not a whole multiple of env.sim_dt {env.sim_dt} "
        f"(ratio {ratio:.6g})",
    )
    for key in ("policy_hidden", "value_hidden"):
        widths = list(cfg.network[key])
        _require(all(w >= 1 for w in widths), f"network.{key} widths must be >= 1, got {widths}")
    amp = cfg.amp
    for key in ("disc_updates", "disc_batch_size", "replay_size"):
        _require(amp[key] >= 1, f"amp.{key} must be >= 1, got {amp[key]}")
    _require(all(w >= 1 for w in amp.disc_hidden),
             f"amp.disc_hidden widths must be >= 1, got {list(amp.disc_hidden)}")
    _require(amp.disc_learning_rate > 0,
             f"amp.disc_learning_rate must be > 0, got {amp.disc_learning_rate}")
    for key in ("weight", "grad_penalty", "logit_reg", "weight_decay"):
        _require(amp[key] >= 0, f"amp.{key} must be >= 0, got {amp[key]}")

    notes = []
    per_chunk = max(1, math.floor(run.log_every / steps + 0.5))  # round half up
    per_chunk = min(per_chunk, ppo.num_iterations)
    if per_chunk * steps != run.log_every:
        notes.append(
            f"run.log_every {run.log_every} -> {per_chunk * steps} env steps "
            f"({per_chunk} iterations of {steps})"
        )

    def chunks_of(key: str, iterations: int) -> int:
        chunks = math.ceil(iterations / per_chunk)
        if chunks * per_chunk != iterations:
            notes.append(
                f"{key} {iterations} -> {chunks * per_chunk} "
                f"(multiple of the {per_chunk}-iteration chunk)"
            )
        return chunks

    # The last chunk may be partly idle (the trainer skips iterations past the total),
    # so ppo.num_iterations is run exactly with a single compiled chunk program.
    num_chunks = math.ceil(ppo.num_iterations / per_chunk)
    total_iterations = ppo.num_iterations
    return Derived(
        env_steps_per_iteration=steps,
        minibatch_size=steps // ppo.num_minibatches,
        n_substeps=round(ratio),
        iterations_per_chunk=per_chunk,
        num_chunks=num_chunks,
        total_iterations=total_iterations,
        eval_every_chunks=chunks_of("run.eval_every", run.eval_every),
        checkpoint_every_chunks=chunks_of("run.checkpoint_every", run.checkpoint_every),
        total_env_steps=total_iterations * steps,
        notes=tuple(notes),
    )


def validate_reward_weights(cfg: ml_collections.ConfigDict, term_names: Sequence[str]) -> None:
    """Every key of reward_weights must be one of the env's `term_names`."""
    terms = list(term_names)
    for name in cfg.reward_weights.keys():
        if name not in terms:
            close = difflib.get_close_matches(name, terms, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"reward_weights.{name} is not a reward term of env {cfg.env.task!r}{hint}; "
                f"terms: {', '.join(terms)}"
            )


# --------------------------------------------------------------------------- docs


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _section_markdown(section: Section, prefix: str) -> list[str]:
    lines = [
        f"### `{prefix}`",
        "",
        section.doc,
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    subsections = []
    for key, node in section.fields.items():
        path = f"{prefix}.{key}"
        if isinstance(node, Section):
            subsections.append((node, path))
            lines.append(f"| `{path}` | section | | {_cell(node.doc)} (below) |")
        elif isinstance(node, FreeForm):
            kind = "str -> float" if node.value_type is float else "str -> scalar or list"
            kind += " or mapping (nested, dotted keys)" if node.nested else ""
            lines.append(f"| `{path}` | mapping {kind} | `{{}}` | {_cell(node.doc)} |")
        else:
            default = json.dumps(
                list(node.default) if isinstance(node.default, tuple) else node.default
            )
            lines.append(
                f"| `{path}` | {_cell(_type_name(node))} | `{default}` | {_cell(node.doc)} |"
            )
    lines.append("")
    for node, path in subsections:
        lines += _section_markdown(node, path)
    return lines


def schema_markdown() -> str:
    """docs/config.md: precedence, command line, derived values, every key."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m playground.config --write-docs docs/config.md` from the",
        "     schema in playground/config.py; edit the schema, then regenerate. -->",
        "",
        "One config tree, declared once in `playground/config.py`. YAML files in `configs/`",
        "give values; `--set KEY=VALUE` overrides any key; unknown keys and wrong types are",
        "errors that name the key and suggest the closest one. The resolved config is locked,",
        "saved next to every checkpoint, and reloads with `--config <run>/config.yaml`.",
        "",
        "## Precedence",
        "",
        "Lowest first; a later layer overrides an earlier one key by key:",
        "",
        "1. schema defaults (the tables below);",
        "2. one YAML file: `--config PATH`, or, when no `--config` is given,",
        "   `configs/<task>.yaml` of the task named by the final value of `env.task`",
        "   after the command-line overrides (default: `humanoid_walk`);",
        "3. that file's `quick_verify` section, only with `--verify`;",
        "4. the command line: `--set` and the shortcuts below, in the order given",
        "   (the last one wins).",
        "",
        "So `--verify --num-iterations 8` runs 8 iterations, and",
        "`--set ppo.num_envs=8 --num-envs 16` gives 16 envs (the reverse gives 8).",
        "Mappings (`reward_weights`, `env.playground`, `quick_verify`) merge key by key.",
        "",
        "## Command line",
        "",
        "`--set KEY=VALUE` (repeatable): VALUE is read as YAML (`1e-4`, `true`, `null`,",
        "`[64, 64]`), then checked against the key's type: ints are accepted for floats,",
        "bools are not numbers, floats are not ints; a str key keeps text that reads as a",
        "number. Each shortcut is exactly one `--set`:",
        "",
        "| flag | same as |",
        "|---|---|",
    ]
    for shortcut in SHORTCUTS:
        flag = f"{shortcut.flag} {shortcut.metavar}" if shortcut.metavar else shortcut.flag
        lines.append(f"| `{flag}` | `--set {shortcut.key}={shortcut.value or shortcut.metavar}` |")
    lines += [
        "",
        "`--config PATH` picks the YAML file; `--verify` applies its `quick_verify` section.",
        "`python -m playground.config --print [flags]` prints the resolved config.",
        "",
        "## Derived values",
        "",
        "`derive(cfg)` computes these once, before compiling, and rejects impossible",
        "settings (batch not divisible, `sim_dt` not dividing `ctrl_dt`, lo > hi ranges, ...):",
        "",
    ]
    for field in dataclasses.fields(Derived):
        lines.append(f"- `{field.name}`: {field.metadata['doc']}")
    lines += [
        "",
        "Training runs in jitted chunks of `iterations_per_chunk = max(1, round(run.log_every /",
        "env_steps_per_iteration))` iterations (at most `ppo.num_iterations`);",
        "`run.eval_every` and `run.checkpoint_every` are rounded up to whole chunks (`derive`",
        "reports each rounding in `notes`); `ppo.num_iterations` runs exactly (the iterations",
        "of the last chunk past it are skipped inside the one compiled chunk program).",
        "The total is an argument of that program, not a constant in it: a run resumed with",
        "more iterations, or a shorter run of the same config, loads it from the persistent",
        "compilation cache (`run.compilation_cache`) instead of compiling again (except",
        "under `ppo.lr_schedule=linear`, whose length is part of the math).",
        "",
        "## Resuming",
        "",
        "`--resume PATH` continues a run in its own directory: PATH is a run directory, its",
        "`checkpoints/` directory, one step `checkpoints/<iteration>`, or `latest` (the newest",
        "complete step of any run under `run.checkpoint_dir`). The checkpoint's saved config",
        "replaces defaults and YAML (`--config` and `--verify` are refused); `--set` and the",
        "shortcuts apply on top, and only these keys may change (each change is reported):",
        "",
        *(f"- `{key}{'*' if key.endswith('.') else ''}`" for key in RESUMABLE_KEYS),
        "",
        "Any other change (network, observations, task, envs, devices, seed, rewards, PPO",
        "hyperparameters) is refused with exit 2: it changes shapes or the learning problem.",
        "Counters continue, `metrics.jsonl` is appended (rows past the checkpoint, left by a",
        "killed process, are dropped and recomputed), and the same wandb run is resumed.",
        "With unchanged `run.log_every`, device count and process count, a resumed run is",
        "bit-for-bit the run that was never stopped; a resume on another device or process",
        "count is refused (multi-host runs: docs/multi_host.md).",
        "",
        "A step older than the run's newest complete step is refused before anything compiles",
        "or is written (its later steps and rows would be overwritten): resume the newest,",
        "start a new run from it with `--init-from`, or add `--discard-later-steps`, which",
        "first moves the later steps and the metrics rows past it into",
        "`<run>/discarded-<time>/` (playable and exportable there).",
        "",
        "## Keys",
        "",
    ]
    for key, node in SCHEMA.fields.items():
        if isinstance(node, Section):
            lines += _section_markdown(node, key)
        elif isinstance(node, FreeForm):
            lines += [f"### `{key}`", "", f"Mapping str -> float, default `{{}}`: {node.doc}.", ""]
        else:
            lines += [f"### `{key}`", "", f"Default `{{}}`: {node.doc}.", ""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """`--write-docs PATH` writes docs/config.md; `--print [flags]` prints a resolved config."""
    parser = build_arg_parser()
    parser.prog = "python -m playground.config"
    parser.description = "Inspect the config: write its docs or print a resolved config."
    parser.add_argument("--write-docs", metavar="PATH", help="write the schema reference here")
    parser.add_argument("--print", action="store_true", help="print the resolved config")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        if args.write_docs:
            pathlib.Path(args.write_docs).write_text(schema_markdown())
            print(f"wrote {args.write_docs}")
        if args.print:
            cfg = _resolve_args(args)
            print(_dump_yaml(to_dict(cfg)), end="")
            derived = derive(cfg)
            for field in dataclasses.fields(derived):
                if field.name != "notes":
                    print(f"# derived.{field.name}: {getattr(derived, field.name)}")
            for note in derived.notes:
                print(f"# note: {note}")
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    if not (args.write_docs or args.print):
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
