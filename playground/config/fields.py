"""Config types (Field, Section, FreeForm, Partial), ConfigError and the value checks."""

from __future__ import annotations

import dataclasses
import sys
import typing
from typing import Any

import ml_collections


class ConfigError(Exception):
    """A config problem, explained in one line (key, value, and what was expected)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def print_error(error: Exception) -> None:
    """`error: ...` as one line on stderr, whatever the text (e.g. multi-line XML parser output)."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)




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



Node = Field | FreeForm | Partial | Section


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
