"""Loading: YAML and JSON files, `--set` overrides and shortcuts, resolution, saved configs, resume."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import pathlib
import re
import typing
from collections.abc import Sequence
from typing import Any

import ml_collections
import yaml

from playground import runs
from playground.config import layout
from playground.config.fields import ConfigError, Field, Partial, Section, check_field
from playground.config.schema import (
    RUN,
    TASK_FIELD,
    _get,
    algorithm_entry,
    assemble,
    defaults,
    locked,
    lookup,
    merge,
    other_algorithm_sections,
    plain,
    resumable_keys,
    run_defaults,
    schema_of,
    selection,
    task_entry,
    to_dict,
)
from playground.tasks import registry


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


def _parse_json(text: str, source: str) -> Any:
    """JSON text -> values; a syntax error names `source`:line:column, a duplicate key its path."""
    duplicates: list[tuple[dict, str]] = []

    def pairs(items):
        mapping: dict[str, Any] = {}
        for key, value in items:
            if key in mapping and not duplicates:
                duplicates.append((mapping, key))
            mapping[key] = value
        return mapping

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from None
    if duplicates:
        mapping, key = duplicates[0]
        raise ConfigError(f"{source}: duplicate key {_path_of(data, mapping) + key!r}")
    return data


def _path_of(data: Any, target: dict, prefix: str = "") -> str | None:
    """The dotted path ("a.b.", "" at the top) of the mapping `target` inside `data`."""
    if data is target:
        return prefix
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(
        data, list) else ()
    for key, value in items:
        found = _path_of(value, target, f"{prefix}{key}.")
        if found is not None:
            return found
    return None


def load_config_file(path: str | pathlib.Path) -> dict[str, Any]:
    """The mapping of config sections in a YAML or (by its .json suffix) JSON file.

    A file in the trainer layout of JSON-configured trainers (`runtime` / `env: {id, cfg}` /
    `policy` / `algorithm: {name, cfg}`) is mapped onto our keys (`layout.translate`). The
    result is not yet checked against the schema (`resolve` does that).
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    is_json = path.suffix.lower() == ".json"
    data = _parse_json(text, str(path)) if is_json else _parse_yaml(text, str(path))
    if data is None and not is_json:  # empty or only comments: never the schema's defaults
        raise ConfigError(f"{path}: the config file is empty (nothing but comments or "
                          "whitespace); refusing to train on the schema's defaults")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of config sections, got {type(data).__name__}"
        )
    return layout.translate(data, str(path)) if layout.is_trainer_layout(data) else data


def save_config(cfg: ml_collections.ConfigDict | dict, path: str | pathlib.Path) -> None:
    """Writes the whole config as YAML; `--config path` resolves back to the same config."""
    text = _dump_yaml(to_dict(cfg))
    header = "# Resolved playground config. Reload with: --config <this file>\n"
    runs.write_atomic(pathlib.Path(path), header + text)

# --------------------------------------------------------------------------- overrides


def parse_set(text: str) -> tuple[str, str]:
    """`KEY=VALUE` (one `--set`) -> (key, raw value); the value keeps any later '='."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    return key.strip(), raw


def parse_sets(texts: Sequence[str]) -> list[tuple[str, str]]:
    """Several `KEY=VALUE` texts -> override pairs for `resolve` / `from_saved`."""
    return [parse_set(text) for text in texts]


def _parse_value(root: Section, key: str, raw: Any) -> Any:
    """A `--set` value: YAML scalar/flow text; a str key keeps text that reads as a number."""
    if not isinstance(raw, str):
        return raw
    value = _parse_yaml(raw, f"--set {key}")
    node = lookup(root, key)
    wants_str = isinstance(node, Field) and node.type is str
    if wants_str and isinstance(value, bool | int | float):
        return raw.strip()
    return value


def _override_selection(overrides: Sequence[tuple[str, Any]]) -> dict:
    """The `env.task` / `algorithm.name` the overrides set (last one wins), as a partial config."""
    chosen: dict[str, dict] = {}
    for key, raw in overrides:
        for section, field in (("env", "task"), ("algorithm", "name")):
            if key == f"{section}.{field}":
                value = raw
                if isinstance(raw, str):  # YAML text as for any --set ('playground:' quoted)
                    value = _parse_yaml(raw, f"--set {key}")
                    value = raw.strip() if isinstance(value, bool | int | float) else value
                chosen.setdefault(section, {})[field] = check_field(key, TASK_FIELD, value)
    return chosen


def _selected(*layers: Any) -> dict:
    """The selection keys of the last layer that sets each (a partial config)."""
    task, algorithm = None, None
    for layer in layers:
        if isinstance(layer, dict):
            layer_task, layer_algorithm = _get(layer, "env", "task"), _get(layer, "algorithm", "name")
            task = task if layer_task is None else layer_task
            algorithm = algorithm if layer_algorithm is None else layer_algorithm
    return {"env": {"task": task}, "algorithm": {"name": algorithm}}


def apply_overrides(
    cfg_dict: dict | ml_collections.ConfigDict, overrides: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """A new plain dict: `cfg_dict` with each (dotted key, value) applied in order.

    A str value is YAML text as given to `--set` ("1e-4", "[64, 64]", "null");
    any other value is used as is. Every value is checked against the schema of the
    run that `cfg_dict` and the overrides select (their final env.task, algorithm.name).
    """
    root = schema_of(_selected(dict(cfg_dict), _override_selection(overrides)))
    values = plain(root, cfg_dict)
    for key, raw in overrides:
        node = lookup(root, key)
        if isinstance(node, Partial) or key.startswith("quick_verify."):
            raise ConfigError(
                f"cannot --set {key}: quick_verify comes from the YAML file and is applied "
                "before the command line; set the key itself instead"
            )
        layer: Any = _parse_value(root, key, raw)
        for part in reversed(key.split(".")):
            layer = {part: layer}
        values = merge(root, values, layer)
    return values


def _without_sections(data: dict, names: set[str]) -> dict:
    """A recipe (and its quick_verify) less the top-level sections `names`."""
    kept = {key: value for key, value in data.items() if key not in names}
    if isinstance(kept.get("quick_verify"), dict):
        kept["quick_verify"] = _without_sections(kept["quick_verify"], names)
    return kept


def _layer(root: Section, values: dict, layer: dict, source: str) -> dict:
    try:
        return merge(root, values, layer)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def _dotted(values: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(values, dict) and values:
        out: dict[str, Any] = {}
        for key, value in values.items():
            out.update(_dotted(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: values}


def _saved_values(root: Section, saved: dict, source: str) -> dict:
    """A saved config laid on the run's defaults, less the keys this run does not own.

    Configs saved before sections became per task hold every key of the old global
    schema; the keys their task or algorithm does not read were ignored, so they are
    dropped here (only for saved configs: a user's YAML gets no such leniency).
    """
    return _layer(root, defaults(root), plain(root, _without_removed_keys(saved, source)), source)


def resume_changes(saved: dict, resolved: dict) -> list[str]:
    """What a resume changes ("key: old -> new"); ConfigError for a key that may not change.

    Only the resumable keys of the run's schema (docs/config.md) may change. `saved` may
    come from an older schema that lacked some keys: it is laid on today's defaults first,
    so a key the checkpoint never had compares as its default.
    """
    old_selection, new_selection = selection(saved), selection(resolved)
    for key, old, new in zip(("env.task", "algorithm.name"), old_selection, new_selection,
                             strict=True):
        if old != new:
            raise ConfigError(
                f"--resume: {key} cannot change when resuming ({old!r} -> {new!r}): it changes "
                "shapes or the learning problem; start a new run")
    root = schema_of(resolved)
    resumable = resumable_keys(root)
    saved = _saved_values(root, to_dict(saved), "--resume: saved config")
    old, new = _dotted(plain(root, saved)), _dotted(plain(root, resolved))
    changes = []
    for key in sorted(set(old) | set(new)):
        if key.startswith("quick_verify") or old.get(key) == new.get(key):
            continue
        allowed = any(key == k or (k.endswith(".") and key.startswith(k)) for k in resumable)
        if not allowed:
            raise ConfigError(
                f"--resume: {key} cannot change when resuming ({old.get(key)!r} -> "
                f"{new.get(key)!r}): it changes shapes or the learning problem; start a new run "
                "(resumable keys: see docs/config.md)"
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


def _saved_schema(saved_values: dict, overrides: Sequence[tuple[str, Any]], source: str) -> Section:
    task, algorithm = selection(_selected(saved_values, _override_selection(overrides)))
    task_entry(task, f"{source}: env.task")
    return assemble(task, algorithm)


def from_saved(saved_values: dict, overrides: Sequence[tuple[str, Any]] = (),
               source: str = "saved config") -> ml_collections.ConfigDict:
    """A locked config from one saved with a checkpoint, `overrides` applied on top.

    Keys of the saved config that the run's task and algorithm do not own are dropped.
    """
    root = _saved_schema(saved_values, overrides, source)
    return locked(apply_overrides(_saved_values(root, saved_values, source), overrides))


def _run_overrides(overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The `run` section as the command line sets it: what a resume needs before it knows
    the resumed run's task and algorithm (whose sections check the other overrides)."""
    root = Section("", {"run": RUN})
    values = defaults(root)
    for key, raw in overrides:
        if key.startswith("run."):
            layer: Any = _parse_value(root, key, raw)
            for part in reversed(key.split(".")):
                layer = {part: layer}
            values = merge(root, values, layer)
    return values


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
    root = _saved_schema(saved_values, (), source)
    saved = _saved_values(root, saved_values, source)
    values = apply_overrides(saved, overrides)
    values["run"]["resume"] = str(steps_dir / str(step))
    resume_changes(saved, values)
    task_entry(values["env"]["task"])
    return locked(values)


def resolve(
    config_path: str | pathlib.Path | None,
    overrides: Sequence[tuple[str, Any]] = (),
    verify: bool = False,
) -> ml_collections.ConfigDict:
    """The locked config: defaults < the task's defaults for the algorithm < the YAML or JSON
    file (less other algorithms' sections) < quick_verify (if verify) < overrides in order.

    `env.task` and `algorithm.name` are read first (from the same layers, in the same
    order); their sections make the schema that every other key is checked against.
    With `run.resume` set (`--resume`), the resumed checkpoint's saved config
    replaces defaults and YAML, and only resumable keys may change.
    """
    try:
        chosen = _override_selection(overrides)
        task, algorithm = selection(chosen)
        task_entry(task)
        algorithm_entry(algorithm)
        run_line = _run_overrides(overrides)
    except ConfigError as error:
        raise ConfigError(f"command line: {error}") from None
    if run_line["run"]["resume"] is not None:
        return _resolve_resume(config_path, overrides, verify, run_line)
    if config_path is None:
        config_path = task_entry(task).config_path
        source = str(config_path.relative_to(registry.PROJECT_ROOT))
    else:
        source = str(config_path)
    data = load_config_file(config_path)
    quick = data.get("quick_verify") if verify else None
    task, algorithm = selection(_selected(data, quick, chosen))
    task_entry(task)
    algorithm_entry(algorithm)
    root = assemble(task, algorithm)
    data = _without_sections(data, other_algorithm_sections(root))
    values = _layer(root, run_defaults(task, algorithm), data, source)
    if verify:
        values = merge(root, values, values["quick_verify"])
    try:  # checked against the run's own task and algorithm, whichever layer chose them
        values = apply_overrides(values, overrides)
    except ConfigError as error:
        raise ConfigError(f"command line: {error}") from None
    if values["run"]["resume"] is not None:
        raise ConfigError(f"{source}: run.resume belongs on the command line (--resume PATH)")
    if values["run"]["discard_later_steps"]:
        raise ConfigError("run.discard_later_steps applies only with --resume of an older step")
    return locked(values)


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
    Shortcut("--algorithm", "algorithm.name", "NAME",
             help="algorithm from the registry (ppo, a2c, ...)"),
    Shortcut("--steps", "run.env_steps", "N",
             help="env-step budget for any algorithm (rounded up to whole iterations)"),
    Shortcut("--num-envs", "ppo.num_envs", "N"),
    Shortcut("--num-iterations", "ppo.num_iterations", "N"),
    Shortcut("--seed", "run.seed", "N"),
    Shortcut("--device", "run.device", "DEVICE",
             help="cpu, gpu, or auto (the GPU when this jax has CUDA and sees one, else CPU)"),
    Shortcut("--checkpoint-dir", "run.checkpoint_dir", "DIR"),
    Shortcut("--no-wandb", "run.wandb.enabled", None, "false"),
    Shortcut("--no-tensorboard", "run.tensorboard", None, "false"),
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
            pair = parse_set(values)
        else:
            pair = (self.key, self.value if self.value is not None else values)
        setattr(namespace, self.dest, (*getattr(namespace, self.dest), pair))


def build_arg_parser() -> argparse.ArgumentParser:
    """--config, --set (repeatable), the shortcuts, and --verify."""
    parser = argparse.ArgumentParser(
        description="Train a policy. Values: schema defaults < YAML or JSON file < quick_verify "
        "(--verify) < --set and shortcuts, in command-line order. See docs/config.md.",
        allow_abbrev=False,
    )
    parser.set_defaults(overrides=())
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="YAML or JSON (.json) file (default: configs/<task>.yaml of the final env.task)",
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
