"""Every key a task's config section declares is read by that task.

The resolved config of each registered task goes to its env (and to the reward plug-ins
it hosts) behind a proxy that records every leaf read; building the env and tracing a
reset and a step (jax.eval_shape: nothing compiles) must read every key of the task's
own sections. A key of another task is refused (tests/test_config_owners.py)."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from playground import config
from playground.algorithms.registry import load
from playground.rewards.base import make_reward_plugins
from playground.tasks import registry as tasks

pytestmark = pytest.mark.slow  # builds each env and traces its reset and step

#: read by the run loop and the registry, not by the env
READ_ELSEWHERE = {"env.task"}
#: read only in some configurations (documented with the key)
CONDITIONAL = {"playground:": {"env.episode_length"}}  # when Playground's config has none


class Reads:
    """A read-only view of a config that records the dotted path of every leaf read."""

    def __init__(self, node, seen: set[str], path: str = ""):
        self._node, self._seen, self._path = node, seen, path

    def _child(self, name):
        value = self._node[name]
        path = f"{self._path}{name}"
        self._seen.add(path)  # a mapping counts as read too (an empty free-form one is a leaf)
        if isinstance(value, ml_collections.ConfigDict | dict):
            return Reads(value, self._seen, path + ".")
        return value

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._child(name)
        except KeyError:
            raise AttributeError(name) from None

    __getitem__ = _child

    def get(self, name, default=None):
        return self._child(name) if name in self._node else default

    def __contains__(self, name):
        return name in self._node

    def keys(self):
        return list(self._node.keys())

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._node)

    def items(self):
        return [(k, self._child(k)) for k in self.keys()]

    def values(self):
        return [self._child(k) for k in self.keys()]


def _leaves(values, prefix=""):
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _tasks():
    names = list(tasks.TASKS)
    if importlib.util.find_spec("mujoco_playground") is not None:
        names.append("playground:CartpoleBalance")
    return names


@pytest.mark.parametrize("task", _tasks())
def test_every_key_of_a_task_section_is_read_by_the_task(task):
    entry = tasks.get_task(task)
    overrides = [("env.task", task)]
    if entry.reward_plugins:  # the hosted plug-ins' keys are read when they are on
        overrides += [(f"{name}.enabled", True) for name in entry.reward_plugins]
    cfg = config.resolve(None, overrides)
    owned = set(load(entry.config)) | set(entry.reward_plugins)
    values = config.to_dict(cfg)
    declared = {key for section in owned if section in values
                for key in _leaves({section: values[section]})} - READ_ELSEWHERE
    for prefix, keys in CONDITIONAL.items():
        declared -= keys if task.startswith(prefix) else set()

    seen: set[str] = set()
    proxy = Reads(cfg, seen)
    env = entry.make_env(proxy)
    state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    jax.eval_shape(env.step, state, jnp.zeros((env.action_size,), jnp.float32))
    for plugin in make_reward_plugins(env, proxy):  # reads `enabled`; init reads the sizes
        jax.eval_shape(plugin.init, jax.random.PRNGKey(0))

    assert declared - seen == set(), f"{task}: declared but never read"
