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
`playground.rollout.Transition` [T, B]. `playground.rewards.registry` names each
plug-in's config section and factory; `make_reward_plugins` builds a run's enabled ones.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

from playground.algorithms.registry import load
from playground.rewards import registry


class RewardPlugin(Protocol):
    name: str

    def init(self, key) -> Any: ...
    def observe(self, state_before, state_after) -> Any: ...
    def rewrite(self, state, data, records, reward_scaling) -> tuple[Any, dict]: ...
    def update(self, state, records, key) -> tuple[Any, dict]: ...
    def finite(self, state) -> Any: ...
    def keep(self, ok, new_state, old_state) -> Any: ...
    def watch(self, metrics: dict) -> str | None: ...


class PluginWarning(UserWarning):
    """Raised while building a plug-in for something the user should read (a motion clip
    made for another model): the run loop prints it as a one-line warning."""


def make_reward_plugins(env, cfg, log=print) -> tuple[RewardPlugin, ...]:
    """The run's enabled plug-ins, in registry order; their PluginWarnings go to `log`."""
    plugins = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        for entry in registry.REWARD_PLUGINS.values():
            if registry.enabled(cfg, entry.name):
                plugins.append(load(entry.factory)(env, cfg))
    for warning in caught:
        if issubclass(warning.category, PluginWarning):
            log(f"warning: {warning.message}")
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    return tuple(plugins)

