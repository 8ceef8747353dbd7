"""Loading: YAML files, `--set` overrides and shortcuts, resolution, saved configs, resume."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import pathlib
import re
import typing
from collections.abc import Sequence
from typing import Any

import ml_collections
import yaml

from playground import runs
from playground.config.fields import ConfigError, Field, Partial
from playground.config.schema import SCHEMA, _defaults, _locked, _lookup, _merge, to_dict
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


def load_yaml(path: str | pathlib.Path) -> dict[str, Any]:
    """The YAML mapping in `path` (empty file: {}), unchecked against the schema."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    data = _parse_yaml(text, str(path))
    if data is None:
        return {}
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
    except (FileNotFoundError, ValueError) as error:  # ValueError: unreadable JSON
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
    _check_task(values["env"]["task"], "env.task")
    return _locked(values)



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
