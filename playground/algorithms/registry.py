"""One registry entry per algorithm: its config sections and its factory.

Importing this module is cheap (no jax): the config layer reads an algorithm's
sections before anything compiles. Both are named as "module:attribute" and
imported when asked for, so an algorithm's jax code loads only when it runs.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any


def load(target: str) -> Any:
    """The object a "module:attribute" string names."""
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclasses.dataclass(frozen=True)
class AlgorithmEntry:
    """An algorithm: `config` names its {section: Section} mapping (an import-light
    module); `factory` names the function that builds it for an env and a config.

    The module holding the mapping defines `schedule(cfg) -> playground.config.Schedule`
    (how much one iteration does, for the run loop's chunking; it raises ConfigError for
    impossible combinations of its keys) and may define `check(cfg)` and `DERIVED_DOCS`
    ({name: doc} of the values its Schedule adds).
    """

    name: str
    config: str
    factory: str
    description: str


ALGORITHMS: dict[str, AlgorithmEntry] = {}

#: The algorithm of a run that names none (`algorithm.name`).
DEFAULT_ALGORITHM = "ppo"


def register(entry: AlgorithmEntry) -> AlgorithmEntry:
    """Add `entry` under its name (a test or a plug-in package may add its own)."""
    ALGORITHMS[entry.name] = entry
    return entry


def get_algorithm(name: str) -> AlgorithmEntry:
    """The entry for `name`; KeyError (one-line message) names the known algorithms."""
    if name not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; known: {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[name]


register(AlgorithmEntry(
    name="ppo",
    config="playground.algorithms.ppo.config:SECTIONS",
    factory="playground.algorithms.ppo.learner:make_ppo",
    description="proximal policy optimization (clipped surrogate, GAE), on-policy",
))
register(AlgorithmEntry(
    name="a2c",
    config="playground.algorithms.a2c.config:SECTIONS",
    factory="playground.algorithms.a2c.learner:make_a2c",
    description="synchronous advantage actor-critic (GAE, one gradient step per unroll), on-policy",
))
register(AlgorithmEntry(
    name="sac",
    config="playground.algorithms.sac.config:SECTIONS",
    factory="playground.algorithms.sac.learner:make_sac",
    description="soft actor-critic (twin Q, entropy tuning, device replay ring), off-policy",
))
