"""AMP as a reward plug-in (`playground.rewards.base.RewardPlugin`).

Per env step it records the discriminator's (s, s') features from the pre-reset next
state; before the learner it adds `amp.weight` x style reward (scaled like the task
reward) from the discriminator the rollout ran under; after the learner it trains the
discriminator on the new transitions and the reference clips.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from playground.algorithms.base import tree_all_finite, tree_select
from playground.motion.library import ModelHashWarning
from playground.rewards.amp.discriminator import AmpState, SaturationWatch, make_amp_learner
from playground.rewards.base import PluginWarning


class AmpPlugin:
    """The AMP learner of a run, hosted by an algorithm through the plug-in protocol."""

    name = "amp"
    #: the state's parts a non-finite update rolls back (the replay keeps its new rows:
    #: finite by construction, and copying it is costly)
    GUARDED = ("params", "opt_state", "normalizer")

    def __init__(self, env, amp_cfg, reference=None):
        self.learner = make_amp_learner(env, amp_cfg, reference)
        self.weight = jnp.float32(amp_cfg.weight)
        self.saturation = SaturationWatch()

    def init(self, key: jax.Array) -> AmpState:
        return self.learner.init(jax.random.fold_in(key, 0xA3F))

    def observe(self, state_before, state_after):
        """[B] env states before / after one step -> (s, s', valid) [B]."""
        return self.learner.features(state_before.data, state_after.data)

    def rewrite(self, state: AmpState, data, records, reward_scaling):
        """Transition -> Transition: reward + amp.weight x style reward x reward scaling."""
        s, s_next, valid = records
        style = self.learner.style_reward(state, s, s_next) * valid  # [T, B]
        data = data.replace(reward=data.reward + self.weight * style * reward_scaling)
        return data, {"amp/style_reward": jnp.mean(style),
                      "reward/style": jnp.mean(self.weight * style)}

    def update(self, state: AmpState, records, key: jax.Array):
        s, s_next, valid = (x.reshape((-1,) + x.shape[2:]) for x in records)  # [T*B, ...]
        return self.learner.update(state, s, s_next, valid, key)

    def finite(self, state: AmpState) -> jax.Array:
        return tree_all_finite((state.params, state.opt_state, state.normalizer.mean,
                                 state.normalizer.std))

    def keep(self, ok, new_state: AmpState, old_state: AmpState) -> AmpState:
        return new_state.replace(**{k: tree_select(ok, getattr(new_state, k), getattr(old_state, k))
                                    for k in self.GUARDED})

    def watch(self, metrics: dict) -> str | None:
        """Per-iteration metrics of one chunk -> a saturation warning (once per streak)."""
        active = np.asarray(metrics["active"]) > 0
        return self.saturation.observe(np.asarray(metrics["amp/disc_accuracy"])[active],
                                       np.asarray(metrics["amp/style_reward"])[active])


def make_amp_plugin(env, cfg) -> AmpPlugin:
    """The registry's factory: the `amp` section of `cfg`; a clip made for another model
    is reported as a PluginWarning (one line in the run's log)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ModelHashWarning)
        plugin = AmpPlugin(env, cfg.amp)
    for warning in caught:
        category = PluginWarning if issubclass(warning.category, ModelHashWarning) \
            else warning.category
        warnings.warn(str(warning.message), category, stacklevel=2)
    return plugin
