"""The config of `playground:<EnvName>` tasks (MuJoCo Playground); import-light (no jax).

Timing, rewards and actions come from the Playground env's own config, so the env
section holds only its overrides (`env.playground`) and the fallback episode length.
"""

from __future__ import annotations

from playground.config import ConfigError, Field, FreeForm, Section, at_least

SECTIONS = {
    "env": Section(
        "A MuJoCo Playground env, configured by Playground's own default config for it.",
        {
            "episode_length": Field(
                int, 1000, "control steps before truncation, used only when the Playground "
                "config has no episode_length", check=at_least(1)),
            "playground": FreeForm(
                None,
                "overrides of the env's own Playground config (nested keys as dotted paths, "
                "e.g. reward_config.scales.upright); the env checks names and types",
                nested=True,
            ),
        },
    ),
    "domain_randomization": Section(
        "Playground's own randomizer for the env (when it has one); its ranges are "
        "Playground's.",
        {"enabled": Field(bool, True, "off: the nominal model every episode")},
    ),
}


def check(cfg) -> None:
    """Playground puts its model on process 0's device: no multi-host training."""
    if cfg.run.distributed.coordinator is not None:
        raise ConfigError(
            f"env.task {cfg.env.task}: MuJoCo Playground puts its model on process 0's device, "
            "so it cannot train multi-host (unset run.distributed)")
