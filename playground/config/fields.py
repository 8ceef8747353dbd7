"""Config types (Field, Section, FreeForm, Partial), ConfigError and the value checks."""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Callable
from typing import Any

import ml_collections


class ConfigError(Exception):
    """A config problem, explained in one line (key, value, and what was expected)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def print_error(error: Exception) -> None:
    """`error: ...` as one line on stderr, whatever the text (e.g. multi-line XML parser output)."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)




def list_or_value(value: Any) -> Any:
    """Lists (ConfigDict keeps tuples or lists) as plain lists, for messages."""
    return list(value) if isinstance(value, list | tuple) else value


@dataclasses.dataclass(frozen=True)
class Check:
    """A range check of one field, run by `derive`: "{key} must be {rule}, got {value}".

    Build one with `at_least`, `greater_than`, `in_range`, `widths_at_least` or
    `lower_at_least`; the rule also appears in docs/config.md.
    """

    ok: Callable[[Any], bool]
    rule: str  # e.g. ">= 1", "in (0, 1]"
    note: str = ""  # e.g. "0 = never", said after the rule
    subject: str = ""  # e.g. "widths": "{key} widths must be ..."
    shown: Callable[[Any], Any] = list_or_value

    def __call__(self, path: str, value: Any) -> None:
        if not self.ok(value):
            subject = f" {self.subject}" if self.subject else ""
            note = f" ({self.note})" if self.note else ""
            raise ConfigError(f"{path}{subject} must be {self.rule}{note}, got {self.shown(value)}")

    @property
    def text(self) -> str:
        """The rule as docs/config.md states it."""
        return f"{self.subject} {self.rule}".strip()


def at_least(lo: float, note: str = "") -> Check:
    """value >= lo."""
    return Check(lambda v: v >= lo, f">= {lo}", note)


def greater_than(lo: float) -> Check:
    """value > lo."""
    return Check(lambda v: v > lo, f"> {lo}")


def in_range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Check:
    """lo <= value <= hi; `lo_open`/`hi_open` exclude that end."""
    def ok(v):
        return (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    return Check(ok, f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}")


def widths_at_least(lo: int) -> Check:
    """Every item of a list (layer widths) >= lo."""
    return Check(lambda v: all(w >= lo for w in v), f">= {lo}", subject="widths")


def lower_at_least(lo: float) -> Check:
    """The lower end of a [lo, hi] interval >= lo."""
    return Check(lambda v: v[0] >= lo, f">= {lo}", shown=lambda v: v[0])


@dataclasses.dataclass(frozen=True)
class Field:
    """One typed leaf of the config tree.

    type: int, float, bool, str, list[int], list[float] or list[str].
    choices: allowed values of a str (an enumeration).
    optional: null (None) is allowed.
    interval: a [lo, hi] pair; the length is checked on load, lo <= hi by `derive`.
    check: a range check (`at_least(1)`, `in_range(0, 1, lo_open=True)`, ...), run by
        `derive`; null values of optional keys are not checked.
    resumable: a resumed run (`--resume`) may change it.
    """

    type: Any
    default: Any
    doc: str
    choices: tuple[str, ...] | None = None
    optional: bool = False
    interval: bool = False
    check: Check | None = None
    resumable: bool = False

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
    """A named group of keys; `resumable`: a resumed run may change any key in it."""

    doc: str
    fields: dict[str, Any]
    resumable: bool = False


Node = Field | FreeForm | Partial | Section



Node = Field | FreeForm | Partial | Section


def type_name(field: Field) -> str:
    if field.choices:
        name = "one of " + ", ".join(field.choices)
    elif typing.get_origin(field.type) is list:
        item = typing.get_args(field.type)[0].__name__
        name = f"[lo, hi] {item}" if field.interval else f"list[{item}]"
    else:
        name = field.type.__name__
    return f"{name} or null" if field.optional else name


def describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_scalar(path: str, expected: type, value: Any) -> Any:
    """`value` as `expected`: ints become floats; bools are never numbers."""
    if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected in (bool, str) and isinstance(value, expected):
        return value
    raise ConfigError(f"{path} expects {expected.__name__}, got {describe(value)}")


def check_field(path: str, field: Field, value: Any) -> Any:
    """The checked, converted value of `field` (lists are returned as new lists)."""
    if value is None:
        if field.optional:
            return None
        raise ConfigError(f"{path} expects {type_name(field)}, got null (not an optional key)")
    if typing.get_origin(field.type) is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path} expects {type_name(field)}, got {describe(value)}")
        (item_type,) = typing.get_args(field.type)
        items = [check_scalar(f"{path}[{i}]", item_type, v) for i, v in enumerate(value)]
        if field.interval and len(items) != 2:
            raise ConfigError(f"{path} expects [lo, hi] (2 values), got {list(value)!r}")
        return items
    value = check_scalar(path, field.type, value)
    if field.choices and value not in field.choices:
        raise ConfigError(f"{path} must be one of {', '.join(field.choices)}; got {value!r}")
    return value


def is_plain_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def merge_nested(base: dict, layer: dict) -> dict:
    """A new dict: `layer` laid on `base` key by key at every depth (neither is modified)."""
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_nested(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_free_form(path: str, node: FreeForm, value: Any) -> dict[str, Any]:
    if value is None:  # an empty YAML section
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path} expects a mapping of key: value, got {describe(value)}")
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if node.nested and isinstance(key, str) and "." in key:
            # `a.b: 1` is {a: {b: 1}}: expand, then check it as that mapping
            head, _, rest = key.partition(".")
            if head and rest:
                expanded = check_free_form(path, node, {head: {rest: item}})
                checked = merge_nested(checked, expanded)
                continue
        if not isinstance(key, str) or not key or "." in key:
            raise ConfigError(f"{path} keys must be non-empty strings without '.', got {key!r}")
        item_path = f"{path}.{key}"
        if node.nested and isinstance(item, dict | ml_collections.ConfigDict):
            checked = merge_nested(checked, {key: check_free_form(item_path, node, dict(item))})
        elif node.value_type is not None:
            checked[key] = check_scalar(item_path, node.value_type, item)
        elif is_plain_scalar(item):
            checked[key] = item
        elif isinstance(item, list | tuple) and all(is_plain_scalar(v) for v in item):
            checked[key] = list(item)
        else:
            kinds = "a scalar, a list of scalars or a mapping" if node.nested else (
                "a scalar or a list of scalars")
            raise ConfigError(f"{item_path} expects {kinds}, got {describe(item)}")
    return checked


def plain_free_form(values: Any) -> dict[str, Any]:
    """A free-form mapping (nested ConfigDicts included) as plain dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict | ml_collections.ConfigDict):
            out[key] = plain_free_form(value)
        else:
            out[key] = list(value) if isinstance(value, list | tuple) else value
    return out
