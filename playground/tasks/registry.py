"""One registry entry per task: env factory, config sections, YAML recipe.

Importing this module is cheap (no jax, no mujoco): the config layer uses it to
find a task's sections and YAML before anything compiles. Factories and config
sections are named as "module:attribute" and imported when asked for.
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
    `config` is "module:attribute" of the task's {section name: Section} mapping, in an
    import-light module (its `env` section holds the env's keys; `env.task` is added by
    the config package); that module may define `check(cfg)` for checks across keys.
    Domain randomization is the env's own (`Env.reset` samples `info["sys"]`), so the
    entry has nothing else to name.
    """

    name: str
    config_file: str  # file name under configs/
    factory: str
    description: str
    config: str = ""  # "module:attribute" of the task's config sections
    #: reward plug-ins its env can host (`playground.rewards.registry` names); each adds
    #: its config section to this task's runs
    reward_plugins: tuple[str, ...] = ()
    #: "module:attribute" of {algorithm name: partial config}: this task's defaults for a
    #: run of that algorithm (e.g. tuned hyperparameters), above the sections' defaults and
    #: below the YAML; plain values in an import-light module (no algorithm is imported)
    algorithm_defaults: str = ""

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
            config="playground.tasks.locomotion.config:SECTIONS",
            reward_plugins=("amp",),  # a floating base and feet: AMP's features exist
            description="17-joint small humanoid, velocity tracking (production GPU defaults)",
        ),
        TaskEntry(
            name="cartpole_balance",
            config_file="cartpole_balance.yaml",
            factory="playground.tasks.cartpole:make_cartpole_env",
            config="playground.tasks.cartpole_config:SECTIONS",
            algorithm_defaults="playground.tasks.cartpole_config:ALGORITHM_DEFAULTS",
            description="MJX cart-pole balance: the cheap classic task that learns in a CPU-minute",
        ),
    )
}


#: `playground:<EnvName>` names an env of MuJoCo Playground's registry (optional extra).
PLAYGROUND_PREFIX = "playground:"
PLAYGROUND_INSTALL = "pip install 'playground-rl-trainer[playground]' (in this checkout: uv sync --extra playground, or make install)"


#: The task of a run that names none.
DEFAULT_TASK = "humanoid_walk"


def register(entry: TaskEntry) -> TaskEntry:
    """Add `entry` under its name (a test or a plug-in package may add its own)."""
    TASKS[entry.name] = entry
    return entry


def _playground_entry(name: str, check_installed: bool = True) -> TaskEntry:
    """One entry for every `playground:<EnvName>`: one shared YAML, one adapter factory.

    Only checks that the extra is installed (cheap: no import); the adapter checks the
    env name against Playground's registry when it loads the env.
    """
    env_name = name[len(PLAYGROUND_PREFIX):]
    if not env_name and check_installed:
        raise KeyError(f"task {name!r} names no env; use playground:<EnvName>, e.g. "
                       "playground:CartpoleBalance")
    try:
        installed = importlib.util.find_spec("mujoco_playground") is not None
    except ImportError:
        installed = False
    if check_installed and not installed:
        raise KeyError(f"task {name!r} needs MuJoCo Playground, an optional extra that is not "
                       f"installed: {PLAYGROUND_INSTALL}")
    return TaskEntry(
        name=name,
        config_file="playground.yaml",
        factory="playground.tasks.playground_adapter:make_playground_env",
        description=f"MuJoCo Playground's {env_name} with its default config",
        config="playground.tasks.playground_config:SECTIONS",
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


def documented_tasks() -> list[TaskEntry]:
    """Every registered task, then one entry for all `playground:<EnvName>` tasks (docs)."""
    family = dataclasses.replace(_playground_entry(f"{PLAYGROUND_PREFIX}<EnvName>",
                                                   check_installed=False),
                                 description="any env of MuJoCo Playground's registry")
    return [*TASKS.values(), family]
