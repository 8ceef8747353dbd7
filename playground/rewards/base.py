"""The reward plug-in protocol, and the registry that builds a run's plug-ins.

A reward plug-in adds a learned or shaped reward to any algorithm's data without
the algorithm naming it (AMP is one). An algorithm hosts a tuple of plug-ins:

    state = plugin.init(key)                                  # its part of the carry
    record = plugin.observe(state_before, state_after)         # per env step, in the unroll
    data, metrics = plugin.rewrite(state, data, records, scale)  # before the learner
    state, metrics = plugin.update(state, records, key)        # after the learner
    ok = plugin.finite(state)                                  # the NaN guard's share
    state = plugin.keep(ok, new_state, old_state)              # a discarded update
    warning = plugin.watch(metrics)                            # host side, per chunk

`records` are the observe results stacked [T, B, ...]; `data` is a
`playground.rollout.Transition` [T, B]. The registry maps a plug-in's name to
`enabled(cfg)` and a factory; `make_reward_plugins` builds the enabled ones.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any, Protocol

from playground.algorithms.registry import load
from playground.config import amp_enabled


class RewardPlugin(Protocol):
    name: str

    def init(self, key) -> Any: ...
    def observe(self, state_before, state_after) -> Any: ...
    def rewrite(self, state, data, records, reward_scaling) -> tuple[Any, dict]: ...
    def update(self, state, records, key) -> tuple[Any, dict]: ...
    def finite(self, state) -> Any: ...
    def keep(self, ok, new_state, old_state) -> Any: ...
    def watch(self, metrics: dict) -> str | None: ...


@dataclasses.dataclass(frozen=True)
class RewardPluginEntry:
    """`enabled(cfg) -> bool` says whether a run uses it; `factory` ("module:function")
    builds it: factory(env, cfg) -> RewardPlugin."""

    name: str
    enabled: Callable[[Any], bool]
    factory: str
    description: str


REWARD_PLUGINS: dict[str, RewardPluginEntry] = {}


def register(entry: RewardPluginEntry) -> RewardPluginEntry:
    REWARD_PLUGINS[entry.name] = entry
    return entry


class PluginWarning(UserWarning):
    """Raised while building a plug-in for something the user should read (a motion clip
    made for another model): the run loop prints it as a one-line warning."""


def make_reward_plugins(env, cfg, log=print) -> tuple[RewardPlugin, ...]:
    """The run's enabled plug-ins, in registry order; their PluginWarnings go to `log`."""
    plugins = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        for entry in REWARD_PLUGINS.values():
            if entry.enabled(cfg):
                plugins.append(load(entry.factory)(env, cfg))
    for warning in caught:
        if issubclass(warning.category, PluginWarning):
            log(f"warning: {warning.message}")
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    return tuple(plugins)


register(RewardPluginEntry(
    name="amp",
    enabled=amp_enabled,
    factory="playground.rewards.amp.plugin:make_amp_plugin",
    description="adversarial motion priors: a style reward from a discriminator",
))
