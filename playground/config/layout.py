"""The trainer layout: JSON configs in `runtime` / `env` / `policy` / `algorithm` sections.

Some trainers configured by JSON (EmbodiChain's RL trainer among them) lay a run out as

    {"runtime": {"exp_name", "seed", "cuda", "iterations", "rollout_steps", ...},
     "env": {"id": TASK, "cfg": {...}},
     "policy": {"name": "actor_critic", "actor": {...}, "critic": {...}},
     "algorithm": {"name": "ppo", "cfg": {...}}}

`translate` maps such a file onto our keys, key by key, with the table in docs/config.md:
the run loop's part (runtime keys, env.id, policy) is declared here, the algorithm's part
(its iterations, envs, networks, `algorithm.cfg`) by the algorithm's config module as
`TRAINER_LAYOUT`. A key with no counterpart here is refused with one line that names it
and, where one exists, the key of ours that does the job. Sections of our own layout may
sit beside the four (e.g. `reward_weights`); a key set both ways must agree.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

from playground.config.fields import ConfigError, describe
from playground.config.schema import algorithm_entry, assemble, hook, merge, selection

#: The trainer layout's sections; a file holding any of them (or env.id / env.cfg /
#: algorithm.cfg) is read in this layout.
SECTIONS = ("runtime", "env", "policy", "algorithm")
_SECTION_KEYS = {"env": ("id", "cfg"), "algorithm": ("name", "cfg"),
                 "policy": ("name", "cfg", "actor", "critic")}


@dataclasses.dataclass(frozen=True)
class Computed:
    """A trainer-layout key whose value becomes ours by a rule.

    `compute(value, steps)` gets the file's value and the env steps of one of its
    iterations (env.cfg.num_envs x runtime.rollout_steps, None unless the file holds
    both) and returns our value; it raises ConfigError (naming our key) when the value
    has no meaning here. `key` None: the value is accepted and needs no key of ours.
    """

    key: str | None
    compute: Callable[[Any, int | None], Any]
    doc: str


def _exactly(expected: Any, why: str) -> Callable[[Any, int | None], None]:
    def accept(value, steps):
        if value != expected:
            raise ConfigError(f"only {json.dumps(expected)} has a meaning here ({why}); got "
                              f"{json.dumps(value)}")
    return accept


def _device(value, steps) -> str:
    if not isinstance(value, bool):
        raise ConfigError(f"expects true or false (our run.device: cpu, gpu or auto), got "
                          f"{describe(value)}")
    return "gpu" if value else "cpu"


def _iterations_of(our_key: str) -> Callable[[Any, int | None], int]:
    """Env steps between events -> whole iterations of the file's size (rounded up)."""
    def compute(value, steps):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"expects env steps (an int >= 0), got {describe(value)}")
        if steps is None:
            raise ConfigError(
                f"counts env steps, and without env.cfg.num_envs and runtime.rollout_steps in "
                f"the same file it has no iteration count: set {our_key} (iterations) instead")
        return math.ceil(value / steps)
    return compute


#: The run loop's part of the mapping: trainer-layout key -> our key or rule.
RUN_LOOP_KEYS: dict[str, str | Computed] = {
    "runtime.exp_name": "run.name",
    "runtime.seed": "run.seed",
    "runtime.cuda": Computed("run.device", _device, "true: `gpu`, false: `cpu`"),
    "runtime.headless": Computed(None, _exactly(True, "training never renders; watch a "
                                                "policy with play.py --video"),
                                 "only `true`: training never renders"),
    "runtime.eval_freq": Computed("run.eval_every", _iterations_of("run.eval_every"),
                                  "env steps / (env.cfg.num_envs x runtime.rollout_steps), "
                                  "rounded up"),
    "runtime.save_freq": Computed("run.checkpoint_every", _iterations_of("run.checkpoint_every"),
                                  "env steps / (env.cfg.num_envs x runtime.rollout_steps), "
                                  "rounded up"),
    "runtime.use_wandb": "run.wandb.enabled",
    "runtime.wandb_project_name": "run.wandb.project",
    "env.id": "env.task",
    "env.cfg.obs_mode": Computed(None, _exactly("state", "observations are the task's state "
                                                "vector; env.obs_history stacks frames"),
                                 "only `\"state\"`: observations are the task's state vector"),
    "policy.name": Computed(None, _exactly("actor_critic", "the policy is the algorithm's "
                                           "actor and critic MLPs, shaped by its network keys"),
                            "only `\"actor_critic\"`"),
    "policy.cfg": Computed(None, _exactly({}, "the algorithm's network keys shape the "
                                          "policy"), "only `{}`"),
    "policy.actor.type": Computed(None, _exactly("mlp", "policies here are MLPs"),
                                  "only `\"mlp\"`"),
    "policy.critic.type": Computed(None, _exactly("mlp", "value functions here are MLPs"),
                                   "only `\"mlp\"`"),
    "algorithm.name": "algorithm.name",
}
#: env.cfg.<key> that neither table names -> env.<key> of the task
ENV_CFG_PREFIX = "env.cfg."
#: the layout's own mappings: empty, they set nothing
_CONTAINERS = ("env.cfg", "algorithm.cfg", "policy.actor", "policy.critic")


def is_trainer_layout(data: dict) -> bool:
    """Does this file mapping use the trainer layout (not our own sections)?"""
    env, algorithm = data.get("env"), data.get("algorithm")
    return ("runtime" in data or "policy" in data
            or (isinstance(env, dict) and ("id" in env or "cfg" in env))
            or (isinstance(algorithm, dict) and "cfg" in algorithm))


def algorithm_keys(algorithm: str) -> dict[str, str | Computed]:
    """The trainer-layout keys algorithm `algorithm` maps (its config module's TRAINER_LAYOUT)."""
    return dict(hook(algorithm_entry(algorithm).config, "TRAINER_LAYOUT") or {})


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    """{dotted key: leaf}; an empty mapping is a leaf (so `"cfg": {}` is seen)."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def _their_keys(data: dict, source: str) -> dict[str, Any]:
    """The four sections as {dotted key: value}; their shape is checked here."""
    flat: dict[str, Any] = {}
    for section in SECTIONS:
        if section not in data:
            continue
        values = data[section]
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: {section} expects a mapping, got {describe(values)}")
        allowed = _SECTION_KEYS.get(section)
        for key in values:
            if allowed is not None and key not in allowed:
                hint = f"; put {key} under env.cfg" if section == "env" else ""
                raise ConfigError(f"{source}: {section}.{key}: the trainer layout's {section} "
                                  f"holds {', '.join(allowed)}{hint}")
        for key, value in _flatten(values, section).items():
            # a newer spelling of the same networks: policy.actor.network_cfg.hidden_sizes
            for part in ("policy.actor", "policy.critic"):
                key = key.replace(f"{part}.network_cfg.", f"{part}.")
            flat[key] = value
    if "env.id" not in flat and any(k.startswith(ENV_CFG_PREFIX) for k in flat):
        raise ConfigError(f"{source}: env.cfg needs env.id (our env.task): its keys are the "
                          "task's own")
    return flat


def _steps_per_iteration(flat: dict[str, Any]) -> int | None:
    """Env steps of one of the file's iterations, when it states both factors."""
    envs, steps = flat.get("env.cfg.num_envs"), flat.get("runtime.rollout_steps")
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (envs, steps)):
        return envs * steps
    return None


def _nested(dotted: str, value: Any) -> dict:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def _rule(key: str, table: dict) -> str | Computed | None:
    """How trainer-layout `key` becomes ours (None: it has no counterpart)."""
    if key in table:
        return table[key]
    if key in RUN_LOOP_KEYS:
        return RUN_LOOP_KEYS[key]
    if key.startswith(ENV_CFG_PREFIX):
        return "env." + key.removeprefix(ENV_CFG_PREFIX)
    return None


def _refusal(key: str, algorithm: str, table: dict) -> tuple[str, str]:
    """(the unknown part of `key`, e.g. runtime.events, and why it is refused)."""
    known = (*RUN_LOOP_KEYS, *table)
    parts = key.split(".")
    name = next(".".join(parts[:n]) for n in range(1, len(parts) + 1)
                if not any(k == ".".join(parts[:n]) or k.startswith(".".join(parts[:n]) + ".")
                           for k in known))
    section = "algorithm.cfg" if key.startswith("algorithm.cfg.") else parts[0]
    mapped = sorted(k.removeprefix(f"{section}.") for k in known if k.startswith(f"{section}."))
    if section == "algorithm.cfg":
        return name, (f"no {algorithm} setting of that name (algorithm {algorithm} maps "
                      f"{', '.join(mapped) or 'none'}); set {algorithm}'s own keys by their "
                      "names (docs/config.md)")
    return name, (f"no counterpart here (with algorithm {algorithm}, {section} maps "
                  f"{', '.join(mapped) or 'nothing'}; docs/config.md)")


def translate(data: dict, source: str) -> dict:
    """The partial config (our sections) that a trainer-layout file means.

    Each key is checked against the schema of the task and algorithm the file names
    (env.id, algorithm.name; our defaults where it names none); ConfigError (one line)
    names the file, the file's key and ours.
    """
    flat = _their_keys(data, source)
    task, algorithm = selection({"env": {"task": flat.get("env.id")},
                                 "algorithm": {"name": flat.get("algorithm.name")}})
    for key, name, value in (("env.id", "env.task", task), ("algorithm.name", "algorithm.name",
                                                            algorithm)):
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} (our {name}) expects str, got {describe(value)}")
    try:
        root = assemble(task, algorithm)
    except ConfigError as error:  # an unknown task or algorithm, named by the registry
        ours, _, message = str(error).partition(": ")
        key = "env.id" if ours == "env.task" else "algorithm.name"
        raise ConfigError(f"{source}: {key} (our {ours}): {message}") from None
    table = algorithm_keys(algorithm)
    steps = _steps_per_iteration(flat)
    own = {key: value for key, value in data.items() if key not in SECTIONS}
    try:
        values = merge(root, {}, own)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    set_by = {k[1:]: (f"this file's own {k[1:].partition('.')[0]} section", v)
              for k, v in _flatten(own, "").items()}
    for key, value in flat.items():
        if value == {} and key in _CONTAINERS:
            continue  # an empty section sets nothing
        rule = _rule(key, table)
        if rule is None:
            name, why = _refusal(key, algorithm, table)
            raise ConfigError(f"{source}: {name}: {why}")
        ours = rule.key if isinstance(rule, Computed) else rule
        try:
            if isinstance(rule, Computed):
                value = rule.compute(value, steps)
            if ours is None:
                continue
            if ours in set_by and set_by[ours][1] != value:
                other, other_value = set_by[ours]
                raise ConfigError(f"{value!r} here, but {other} sets it to {other_value!r}; "
                                  "they must agree")
            values = merge(root, values, _nested(ours, value))
        except ConfigError as error:
            name = key if ours is None else f"{key} (our {ours})"
            raise ConfigError(f"{source}: {name}: {error}") from None
        set_by[ours] = (key, value)
    return values
