"""One registry entry per task: env factory, YAML defaults, randomizer.

Importing this module is cheap (no jax, no mujoco): the config layer uses it to
find a task's YAML before anything compiles. Factories are imported lazily.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pathlib
from typing import Any

#: The repository root (holds `configs/` and the `playground/` package).
PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "configs"


@dataclasses.dataclass(frozen=True)
class TaskEntry:
    """A task: where its defaults live and how to build it.

    `factory` is "module:function"; the function takes the resolved config
    (ml_collections.ConfigDict) and returns a `playground.tasks.base.Env`.
    Domain randomization belongs to the env (`Env.reset` samples `info["sys"]`
    from `domain_randomization`), so the entry names the env's randomizer by
    the same factory.
    """

    name: str
    config_file: str  # file name under configs/
    factory: str
    description: str

    @property
    def config_path(self) -> pathlib.Path:
        return CONFIG_DIR / self.config_file

    def make_env(self, cfg: Any):
        module_name, fn_name = self.factory.split(":")
        return getattr(importlib.import_module(module_name), fn_name)(cfg)


TASKS: dict[str, TaskEntry] = {
    entry.name: entry
    for entry in (
        TaskEntry(
            name="humanoid_walk",
            config_file="humanoid_walk.yaml",
            factory="playground.tasks.locomotion.env:make_locomotion_env",
            description="17-joint small humanoid, velocity tracking (production GPU defaults)",
        ),
        TaskEntry(
            name="cartpole_balance",
            config_file="cartpole_balance.yaml",
            factory="playground.tasks.cartpole:make_cartpole_env",
            description="MJX cart-pole balance: the cheap classic task that learns in a CPU-minute",
        ),
    )
}


#: `playground:<EnvName>` names an env of MuJoCo Playground's registry (optional extra).
PLAYGROUND_PREFIX = "playground:"
PLAYGROUND_INSTALL = "pip install 'playground-rl-trainer[playground]' (in this checkout: uv sync --extra playground, or make install)"


def _playground_entry(name: str) -> TaskEntry:
    """One entry for every `playground:<EnvName>`: one shared YAML, one adapter factory.

    Only checks that the extra is installed (cheap: no import); the adapter checks the
    env name against Playground's registry when it loads the env.
    """
    env_name = name[len(PLAYGROUND_PREFIX):]
    if not env_name:
        raise KeyError(f"task {name!r} names no env; use playground:<EnvName>, e.g. "
                       "playground:CartpoleBalance")
    try:
        installed = importlib.util.find_spec("mujoco_playground") is not None
    except ImportError:
        installed = False
    if not installed:
        raise KeyError(f"task {name!r} needs MuJoCo Playground, an optional extra that is not "
                       f"installed: {PLAYGROUND_INSTALL}")
    return TaskEntry(
        name=name,
        config_file="playground.yaml",
        factory="playground.tasks.playground_adapter:make_playground_env",
        description=f"MuJoCo Playground's {env_name} with its default config",
    )


def get_task(name: str) -> TaskEntry:
    """The registry entry for `name`; KeyError (one-line message) names the known tasks."""
    if name.startswith(PLAYGROUND_PREFIX):
        return _playground_entry(name)
    if name not in TASKS:
        raise KeyError(
            f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}, "
            f"or {PLAYGROUND_PREFIX}<EnvName> (MuJoCo Playground)"
        )
    return TASKS[name]
