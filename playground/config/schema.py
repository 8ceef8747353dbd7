"""The schema of a run: its task's and its algorithm's sections plus the run loop's.

Which sections a run has depends on two keys read first, `env.task` and
`algorithm.name`: `assemble` takes the task's sections from the task registry and
the algorithm's from the algorithm registry (each a "module:attribute" reference to
an import-light module), adds the run loop's own `run` section and `quick_verify`,
and returns one root `Section`. A key that is not in it is unknown for that run.
This module knows no task and no algorithm by name; the registries hold them.
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib
from typing import Any

import ml_collections

from playground.algorithms import registry as algorithms
from playground.config.fields import (
    ConfigError,
    Field,
    FreeForm,
    Node,
    Partial,
    Section,
    at_least,
    check_field,
    check_free_form,
    describe,
    merge_nested,
    plain_free_form,
)
from playground.rewards import registry as rewards
from playground.tasks import registry as tasks

TASK_FIELD = Field(str, tasks.DEFAULT_TASK, "registry entry (playground/tasks/registry.py)")

ALGORITHM = Section(
    "The algorithm that trains the policy.",
    {"name": Field(str, algorithms.DEFAULT_ALGORITHM,
                   "registry entry (playground/algorithms/registry.py)")},
)

RUN = Section(
    "Seeds, logging, evaluation, checkpoints.",
    {
        "seed": Field(int, 0, "root random seed"),
        "name": Field(str, None, "null: <task>-<timestamp>", optional=True),
        "env_steps": Field(
            int, None, "env-step budget for any algorithm (--steps): ceil(env_steps / env "
            "steps per iteration) iterations, rounded up to whole iterations, in place of the "
            "algorithm's num_iterations; null: the algorithm's num_iterations",
            optional=True, check=at_least(1), resumable=True,
        ),
        "log_every": Field(int, 100000, "env steps between console lines",
                          check=at_least(1), resumable=True),
        "eval_every": Field(int, 50, "iterations between evaluations (0 = never)",
                           check=at_least(0, "0 = never"), resumable=True),
        "eval_envs": Field(int, 128, "envs per evaluation", check=at_least(1), resumable=True),
        "checkpoint_every": Field(
            int, 100, "iterations between checkpoints (0 = only at the end)",
            check=at_least(0, "0 = never"), resumable=True,
        ),
        "keep_checkpoints": Field(int, 3, "most recent checkpoints kept", check=at_least(1),
                                  resumable=True),
        "keep_best": Field(
            int, 1, "also keep this many best checkpoints, ranked by run.keep_best_by "
            "(0: none); <run dir>/best names the best",
            resumable=True,
        ),
        "keep_best_by": Field(
            str, "return", "what ranks checkpoints for keep_best: return "
            "(eval/episode_reward) or success_rate (eval/success_rate, ties broken by "
            "eval/episode_reward; only for a task that defines success)",
            choices=("return", "success_rate"), resumable=True,
        ),
        "checkpoint_dir": Field(str, "checkpoints", "root directory of run directories",
                                resumable=True),
        "resume": Field(
            str,
            None,
            'continue a run: a run dir, checkpoint step dir, or "latest" (newest under '
            "run.checkpoint_dir); its saved config is the base for --set",
            optional=True,
            resumable=True,
        ),
        "discard_later_steps": Field(
            bool, False, "with --resume of a step older than the run's newest: first "
            "move the later steps and the metrics rows past it into "
            "<run>/discarded-<time>/ (without it that resume is refused)",
            resumable=True,
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
        "device": Field(
            str, "auto", "platform to train on: cpu; gpu (exit 2 when this jax has no CUDA "
            "backend); auto: the GPU when this jax has CUDA and sees one, else the CPU (or "
            "what JAX_PLATFORMS names). A resume must run on the platform it trained on",
            choices=("auto", "cpu", "gpu"), resumable=True,
        ),
        "devices": Field(
            int, 0, "data-parallel devices of each process: 0 = all local devices, "
            "N = the first N", check=at_least(0, "0 = all"),
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
            resumable=True,
        ),
        "progress": Field(bool, True, "progress bar", resumable=True),
        "compilation_cache": Field(
            str,
            "~/.cache/playground/jax",
            "persistent XLA compilation cache directory (null disables)",
            optional=True,
            resumable=True,
        ),
        "tensorboard": Field(
            bool, True, "write TensorBoard event files into the run directory (scalars: "
            "every metrics.jsonl row at step = env_steps; the learning curve image at the end)",
            resumable=True,
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
            resumable=True,
        ),
    },
)

QUICK_VERIFY = Partial(
    "partial config (same shape as the root) applied on top of the YAML in --verify mode"
)

#: Sections every run has, whatever its task and algorithm.
RUN_LOOP_SECTIONS = ("algorithm", "run", "quick_verify")


def load_ref(ref: Any) -> Any:
    """The object a "module:attribute" string names; any other value as is."""
    if not isinstance(ref, str):
        return ref
    if not ref:
        return {}
    module_name, attribute = ref.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def hook(ref: Any, name: str):
    """Function `name` of the module that holds the sections `ref` names, or None."""
    if not isinstance(ref, str) or not ref:
        return getattr(ref, name, None)
    return getattr(importlib.import_module(ref.split(":")[0]), name, None)


def task_entry(task: str, source: str = "env.task") -> tasks.TaskEntry:
    """The registry entry of `task`; ConfigError (one line) for an unknown task."""
    try:
        return tasks.get_task(task)
    except KeyError as error:  # the registry's one-line message (unknown task, missing extra)
        raise ConfigError(f"{source}: {error.args[0]}") from None


def algorithm_entry(name: str, source: str = "algorithm.name") -> algorithms.AlgorithmEntry:
    """The registry entry of algorithm `name`; ConfigError (one line, naming the closest
    registered algorithm) when unknown."""
    try:
        return algorithms.get_algorithm(name)
    except KeyError:
        known = sorted(algorithms.ALGORITHMS)
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.0)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{source}: unknown algorithm {name!r}{hint}; registered: "
                          f"{', '.join(known)}") from None


def task_algorithm_defaults(task: str, algorithm: str) -> dict:
    """The partial config that `task` gives runs of `algorithm` ({} when none), a copy."""
    return copy.deepcopy(dict(load_ref(task_entry(task).algorithm_defaults)).get(algorithm, {}))


def run_defaults(task: str, algorithm: str) -> dict[str, Any]:
    """The defaults of a run: its sections' defaults < the task's defaults for its algorithm."""
    root = assemble(task, algorithm)
    try:
        values = merge(root, defaults(root), task_algorithm_defaults(task, algorithm))
    except ConfigError as error:
        raise ConfigError(f"task {task}'s defaults for {algorithm}: {error}") from None
    values["env"]["task"], values["algorithm"]["name"] = task, algorithm
    return values


def other_algorithm_sections(root: Section) -> set[str]:
    """The sections that registered algorithms declare and the run of `root` does not have:
    a recipe may hold them for other algorithms (they are skipped, not errors)."""
    declared = {name for entry in algorithms.ALGORITHMS.values() for name in load_ref(entry.config)}
    return declared - set(root.fields)


def assemble(task: str, algorithm: str) -> Section:
    """The root section of a run of `task` trained by `algorithm`."""
    return _assemble(task_entry(task), algorithm_entry(algorithm))


@functools.lru_cache(maxsize=64)
def _assemble(task: tasks.TaskEntry, algorithm: algorithms.AlgorithmEntry) -> Section:
    task_sections = dict(load_ref(task.config))
    env = task_sections.pop("env", Section(f"The {task.name} task.", {}))
    fields: dict[str, Node] = {
        "env": Section(env.doc, {"task": TASK_FIELD, **env.fields}),
        "algorithm": ALGORITHM,
    }
    plugin_sections = {name: load_ref(rewards.get_reward_plugin(name).config)
                       for name in task.reward_plugins}
    for owner, sections in ((f"algorithm {algorithm.name}", load_ref(algorithm.config)),
                            (f"task {task.name}", task_sections),
                            (f"task {task.name}'s reward plug-ins", plugin_sections)):
        for name, node in sections.items():
            if name in fields or name in RUN_LOOP_SECTIONS:
                raise ValueError(f"{owner} declares the section {name!r}, which is taken")
            fields[name] = node
    fields["run"] = RUN
    fields["quick_verify"] = QUICK_VERIFY
    return Section(f"task {task.name!r} with algorithm {algorithm.name!r}", fields)


def _get(values: Any, section: str, key: str) -> Any:
    part = values.get(section) if hasattr(values, "get") else None
    return part.get(key) if hasattr(part, "get") else None


def selection(values: Any) -> tuple[str, str]:
    """(task, algorithm) that `values` (a config or a partial one) names, defaults filled in."""
    task = _get(values, "env", "task")
    algorithm = _get(values, "algorithm", "name")
    return (tasks.DEFAULT_TASK if task is None else task,
            algorithms.DEFAULT_ALGORITHM if algorithm is None else algorithm)


def schema_of(values: Any) -> Section:
    """The root section of the run that `values` configures."""
    return assemble(*selection(values))


def owner_hooks(values: Any, name: str) -> list:
    """Hook `name` of the run's algorithm and task modules (those that define it)."""
    task, algorithm = selection(values)
    refs = (algorithm_entry(algorithm).config, task_entry(task).config)
    return [fn for fn in (hook(ref, name) for ref in refs) if fn is not None]


def partial_schema(root: Section) -> Section:
    """The shape a `quick_verify` section is checked against: the root less itself."""
    return Section("", {k: v for k, v in root.fields.items() if not isinstance(v, Partial)})


def paths(section: Section, prefix: str = "") -> list[str]:
    """Every dotted key the schema declares (sections and leaves), for suggestions."""
    found = []
    for key, node in section.fields.items():
        path = f"{prefix}{key}"
        found.append(path)
        if isinstance(node, Section):
            found += paths(node, path + ".")
        elif isinstance(node, Partial):
            found += paths(partial_schema(section), path + ".")
    return found


def lookup(root: Section, dotted_key: str) -> Node:
    """The schema node of `dotted_key`; unknown keys raise with a suggestion.

    A key one level below a FreeForm mapping (any level below a nested one) returns
    that mapping.
    """
    node: Node = root
    parts = dotted_key.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, FreeForm):
            if depth == len(parts) - 1 or node.nested:
                return node
            mapping = ".".join(parts[:depth])
            raise ConfigError(f"{mapping} is a flat mapping: {dotted_key!r} is nested too deep")
        if isinstance(node, Partial):
            node = partial_schema(root)
        if not isinstance(node, Section) or part not in node.fields:
            if depth == 0 and part in other_algorithm_sections(root):
                raise unknown_key(root, dotted_key)  # e.g. ppo.num_envs -> a2c.num_envs
            raise unknown_key(root, ".".join(parts[: depth + 1]))
        node = node.fields[part]
    return node


def unknown_key(root: Section, path: str) -> ConfigError:
    """'unknown config key' naming the closest key of this run (or the section's keys)."""
    all_paths = paths(root)
    message = f"unknown config key {path!r}"
    leaf = path.rpartition(".")[2]
    same_leaf = [p for p in all_paths if p.rpartition(".")[2] == leaf]
    close = difflib.get_close_matches(
        path, same_leaf or all_paths, n=1, cutoff=0.0 if same_leaf else 0.6
    )
    top = path.removeprefix("quick_verify.").partition(".")[0]
    if top not in root.fields and root.doc:
        message += f" ({root.doc} has no section {top!r})"
    if close:
        return ConfigError(f"{message} (did you mean {close[0]!r}?)")
    parent = path.rpartition(".")[0]
    siblings = [p.rpartition(".")[2] for p in all_paths if p.rpartition(".")[0] == parent]
    if siblings:
        where = f"keys of {parent}" if parent else "top-level keys"
        message += f"; {where}: {', '.join(siblings)}"
    return ConfigError(message)


def merge(root: Section, base: dict, layer: Any, path: str = "",
          section: Section | None = None) -> dict:
    """A new dict: `base` with the values of the partial `layer` checked and laid on top.

    Neither input is modified. `base` may itself be partial (a quick_verify section).
    An empty YAML section (null) changes nothing.
    """
    section = root if section is None else section
    if layer is None:
        return dict(base)
    if not isinstance(layer, dict):
        raise ConfigError(f"{path or 'the config'} expects a mapping of keys, got {describe(layer)}")
    merged = dict(base)
    for key, value in layer.items():
        key_path = f"{path}.{key}" if path else str(key)
        node = section.fields.get(key) if isinstance(key, str) else None
        if node is None:
            raise unknown_key(root, key_path)
        if isinstance(node, Section):
            merged[key] = merge(root, base.get(key, {}), value, key_path, node)
        elif isinstance(node, Partial):
            merged[key] = merge(root, base.get(key, {}), value, key_path, partial_schema(root))
        elif isinstance(node, FreeForm):
            merged[key] = merge_nested(plain_free_form(base.get(key, {})),
                                       check_free_form(key_path, node, value))
        else:
            merged[key] = check_field(key_path, node, value)
    return merged


def defaults(section: Section) -> dict[str, Any]:
    """Every default of `section` as plain dicts and lists (mappings empty)."""
    values: dict[str, Any] = {}
    for key, node in section.fields.items():
        if isinstance(node, Section):
            values[key] = defaults(node)
        elif isinstance(node, FreeForm | Partial):
            values[key] = {}
        else:
            values[key] = list(node.default) if isinstance(node.default, tuple) else node.default
    return values


def locked(values: dict[str, Any]) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict(values)
    cfg.lock()
    return cfg


def default_config(task: str | None = None, algorithm: str | None = None
                   ) -> ml_collections.ConfigDict:
    """A new locked ConfigDict of every default of a run (default task and algorithm): its
    sections' defaults, then the task's defaults for the algorithm."""
    task, algorithm = selection({"env": {"task": task}, "algorithm": {"name": algorithm}})
    return locked(run_defaults(task, algorithm))


def plain(section: Section, values: Any, root: Section | None = None) -> dict[str, Any]:
    """Plain nested dict in schema order, for the keys of `section` present in `values`.

    Keys the schema does not hold are left out.
    """
    root = section if root is None else root
    out: dict[str, Any] = {}
    for key, node in section.fields.items():
        if key not in values:
            continue
        value = values[key]
        if isinstance(node, Section):
            out[key] = plain(node, value, root)
        elif isinstance(node, Partial):
            out[key] = plain(partial_schema(root), value, root)
        elif isinstance(node, FreeForm):
            out[key] = plain_free_form(value)
        else:
            out[key] = list(value) if isinstance(value, list | tuple) else value
    return out


def to_dict(cfg: ml_collections.ConfigDict | dict) -> dict[str, Any]:
    """The config as plain nested dicts and lists, keys in schema order."""
    return plain(schema_of(cfg), cfg)


def resumable_keys(root: Section, prefix: str = "") -> list[str]:
    """Keys a resumed run may change ("section." for a whole section)."""
    keys = []
    for key, node in root.fields.items():
        if isinstance(node, Section):
            keys += [f"{prefix}{key}."] if node.resumable else resumable_keys(
                node, f"{prefix}{key}.")
        elif isinstance(node, Field) and node.resumable:
            keys.append(f"{prefix}{key}")
    return keys
