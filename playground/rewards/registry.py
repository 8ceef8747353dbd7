"""One registry entry per reward plug-in: its config section and its factory.

Import-light (no jax): the config layer adds a plug-in's section to the schema of a
task that hosts it (`TaskEntry.reward_plugins`), and a run uses a plug-in when that
section's `enabled` is true. Both references are "module:attribute", imported when
asked for.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RewardPluginEntry:
    """`config` names the plug-in's Section (its keys, `enabled` among them), in an
    import-light module; `factory(env, cfg) -> RewardPlugin` builds it for a run."""

    name: str
    config: str
    factory: str
    description: str


REWARD_PLUGINS: dict[str, RewardPluginEntry] = {}


def register(entry: RewardPluginEntry) -> RewardPluginEntry:
    """Add `entry` under its name (a test or a plug-in package may add its own)."""
    REWARD_PLUGINS[entry.name] = entry
    return entry


def get_reward_plugin(name: str) -> RewardPluginEntry:
    """The entry for `name`; KeyError (one-line message) names the known plug-ins."""
    if name not in REWARD_PLUGINS:
        raise KeyError(f"unknown reward plug-in {name!r}; known: {', '.join(sorted(REWARD_PLUGINS))}")
    return REWARD_PLUGINS[name]


def enabled(cfg, name: str) -> bool:
    """Whether the run uses plug-in `name`: its section is in the config and enabled."""
    section = cfg.get(name, None) if hasattr(cfg, "get") else None
    return bool(section is not None and section.enabled)


register(RewardPluginEntry(
    name="amp",
    config="playground.rewards.amp.config:SECTION",
    factory="playground.rewards.amp.plugin:make_amp_plugin",
    description="adversarial motion priors: a style reward from a discriminator",
))
