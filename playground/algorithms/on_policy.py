"""On-policy actor-critic learning, shared by PPO and A2C: the carry, init and the iteration
around an algorithm's update rule.

`OnPolicyLearner.train_step(carry) -> (carry, metrics)` does a whole iteration: an unroll
of `unroll_length` steps in all envs (`playground.rollout.unroll`), the hosted reward
plug-ins' rewrite, GAE, the algorithm's `update` on the flat batch, the
observation-normalizer update, the plug-ins' own updates, and a guard that discards a
non-finite update whole. An algorithm built on it names its config section (`SECTION`,
named after the algorithm, holding the keys read here) and defines `loss` and `update`; the
networks, the normalizer and GAE are PPO's (`playground.algorithms.ppo.networks`,
`playground.algorithms.ppo.losses.compute_gae`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from brax.training.acme import running_statistics
from flax import struct

from playground import rollout
from playground.algorithms.base import (
    bad_updates_stop_reason,
    count_bad_update,
    tree_all_finite,
    tree_select,
    update_normalizer,
)
from playground.algorithms.ppo import networks as ppo_networks
from playground.algorithms.ppo.losses import compute_gae
from playground.policy_spec import make_policy_spec
from playground.tasks import wrappers
from playground.tasks.base import Env, State


@struct.dataclass
class ActorCriticCarry:
    """Everything an on-policy run needs to continue exactly; what a checkpoint saves."""

    params: ppo_networks.PPOParams
    opt_state: Any
    normalizer: running_statistics.RunningStatisticsState
    env_state: State  # [B] batched
    episode: rollout.EpisodeStats
    key: jax.Array  # uint32[2], split by role each iteration
    iteration: jax.Array  # int32, iterations done
    bad_updates: jax.Array  # int32, consecutive discarded (non-finite) updates
    total_bad_updates: jax.Array  # int32
    rewards: Any = None  # {plug-in name: its state}; None without reward plug-ins


def make_optimizer(section) -> optax.GradientTransformation:
    """Adam at a constant step size, after global-norm gradient clipping (the section's
    `learning_rate` and `max_grad_norm`)."""
    clip = optax.clip_by_global_norm(float(section.max_grad_norm))
    return optax.chain(clip, optax.adam(float(section.learning_rate)))


def flat_batch(data, advantages: jax.Array, returns: jax.Array) -> dict:
    """The unroll as one flat batch for an update: [T, B, ...] -> [T*B, ...].

    Keys: obs (dict), action (the raw, pre-squash sample), log_prob (of that sample under
    the rollout's policy), advantages, returns.
    """

    def flat(x):
        return x.reshape((-1,) + x.shape[2:])  # [T, B, ...] -> [T*B, ...]

    return {
        "obs": jax.tree_util.tree_map(flat, data.obs),
        "action": flat(data.action),
        "log_prob": flat(data.extras["log_prob"]),
        "advantages": flat(advantages),
        "returns": flat(returns),
    }


class OnPolicyLearner:
    """An on-policy actor-critic for one env and config, hosting `plugins` (reward plug-ins).

    Subclasses set `SECTION` and define `loss` and `update` (from `evaluate_actions` and
    `gradient_step`); everything else is shared.
    """

    #: the config section of the algorithm (named after it; see `ppo_networks.algorithm_section`)
    SECTION = ""
    batched_fields = ("env_state", "episode")
    warm_start_parts = (".params", ".normalizer")

    def __init__(self, env: Env, cfg, derived, plugins: tuple = ()):
        del derived  # the sizes are all in the algorithm's section
        self.env, self.cfg, self.plugins = env, cfg, tuple(plugins)
        self.section = section = cfg[self.SECTION]
        self.num_envs = int(section.num_envs)
        self.unroll_length = int(section.unroll_length)
        self.train_episode_length = int(section.train_episode_length)
        self.reward_scaling = jnp.float32(section.reward_scaling)
        self.max_bad_updates = int(section.max_bad_updates)
        self.networks = ppo_networks.make_networks(cfg, env.observation_size, env.action_size)
        self.optimizer = make_optimizer(section)
        #: deterministic (normalizer, policy_params, obs) -> action (mode, squashed)
        self.deterministic_policy = ppo_networks.make_deterministic_policy(self.networks)
        #: stochastic (normalizer, policy_params, obs, key) -> action
        self.stochastic_policy = ppo_networks.make_stochastic_policy(self.networks)
        self._grad_fn = jax.value_and_grad(self.loss, has_aux=True)

    def loss(self, params, normalizer, batch: dict, key: jax.Array):
        """The algorithm's loss on a (mini)batch of `flat_batch`: (total [], {metric: []})."""
        raise NotImplementedError

    def update(self, params, opt_state, normalizer, batch: dict, key: jax.Array):
        """The algorithm's learning step on one iteration's `flat_batch`, with the rollout's
        normalizer: (params, opt_state, {metric: scalar})."""
        raise NotImplementedError

    def loss_weights(self) -> dict:
        """The loss keywords every actor-critic loss takes, from the algorithm's section:
        value_loss_coef, entropy_coef, normalize_advantages."""
        section = self.section
        return {"value_loss_coef": float(section.value_loss_coef),
                "entropy_coef": float(section.entropy_coef),
                "normalize_advantages": bool(section.normalize_advantages)}

    def evaluate_actions(self, params, normalizer, batch: dict, key: jax.Array):
        """Under `params`: (log-prob of the batch's raw actions, entropy, value), each [N]."""
        dist = self.networks.parametric_action_distribution
        logits = self.networks.policy_network.apply(normalizer, params.policy, batch["obs"])
        log_prob = dist.log_prob(logits, batch["action"])
        entropy = dist.entropy(logits, key)
        values = self.networks.value_network.apply(normalizer, params.value, batch["obs"])
        return log_prob, entropy, values

    def gradient_step(self, params, opt_state, normalizer, batch: dict, key: jax.Array):
        """One clipped Adam step on `loss` over `batch`: (params, opt_state, metrics), the
        metrics with the gradient's global norm (before clipping)."""
        (_, metrics), grads = self._grad_fn(params, normalizer, batch, key)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        metrics["grad_norm"] = optax.tree.norm(grads)
        return optax.apply_updates(params, updates), opt_state, metrics

    # --- the carry -------------------------------------------------------------------
    def init(self, key: jax.Array) -> ActorCriticCarry:
        key_params, key_env, key_run = jax.random.split(key, 3)
        params = ppo_networks.init_params(self.networks, key_params)
        return ActorCriticCarry(
            params=params,
            opt_state=self.optimizer.init(params),
            normalizer=ppo_networks.init_normalizer(self.env.observation_size),
            env_state=wrappers.reset_batch(self.env, key_env, self.num_envs),
            episode=rollout.init_episode_stats(self.num_envs, self.env),
            key=key_run,
            iteration=jnp.zeros((), jnp.int32),
            bad_updates=jnp.zeros((), jnp.int32),
            total_bad_updates=jnp.zeros((), jnp.int32),
            rewards={p.name: p.init(key) for p in self.plugins} if self.plugins else None,
        )

    def act(self, carry: ActorCriticCarry, obs: dict) -> jax.Array:
        return self.deterministic_policy(carry.normalizer, carry.params.policy, obs)

    def learner_state(self, carry: ActorCriticCarry):
        return (carry.params, carry.opt_state, carry.normalizer)

    def policy_spec(self, carry: ActorCriticCarry, config_dict: dict, provenance: dict) -> dict:
        return make_policy_spec(self.env, self.cfg, config_dict, carry.normalizer, provenance)

    def stop_reason(self, carry: ActorCriticCarry) -> str | None:
        return bad_updates_stop_reason(carry, self.max_bad_updates,
                                       f"{self.SECTION}.max_bad_updates")

    # --- the iteration ---------------------------------------------------------------
    def _sampling_policy(self, carry: ActorCriticCarry):
        """The unroll's policy: a raw (pre-squash) sample, recorded with its log-prob."""
        dist = self.networks.parametric_action_distribution
        policy_apply = self.networks.policy_network.apply

        def policy(obs, key):
            logits = policy_apply(carry.normalizer, carry.params.policy, obs)
            raw_action = dist.sample_no_postprocessing(logits, key)
            log_prob = dist.log_prob(logits, raw_action)
            return dist.postprocess(raw_action), raw_action, {"log_prob": log_prob}

        return policy

    def train_step(self, carry: ActorCriticCarry) -> tuple[ActorCriticCarry, dict]:
        section = self.section
        value_apply = self.networks.value_network.apply
        key, key_rollout, key_sgd = jax.random.split(carry.key, 3)
        env_state, episode, data, metrics, records = rollout.unroll(
            self.env, self._sampling_policy(carry), carry.env_state, carry.episode,
            key_rollout, self.unroll_length, reward_scaling=self.reward_scaling,
            train_episode_length=self.train_episode_length,
            observers=tuple(p.observe for p in self.plugins))
        if self.plugins:
            key, key_plugins = jax.random.split(key)
            plugin_keys = ([key_plugins] if len(self.plugins) == 1
                           else list(jax.random.split(key_plugins, len(self.plugins))))
            for plugin, record in zip(self.plugins, records, strict=True):
                data, plugin_metrics = plugin.rewrite(carry.rewards[plugin.name], data, record,
                                                      self.reward_scaling)
                metrics.update(plugin_metrics)

        # The update uses the normalizer the rollout acted with (PPO's importance ratio
        # starts at exactly 1); the statistics absorb this rollout after the update.
        normalizer = carry.normalizer
        values = value_apply(normalizer, carry.params.value, data.obs)
        next_values = value_apply(normalizer, carry.params.value, data.next_obs)
        advantages, returns = compute_gae(
            data.reward,
            values,
            next_values,
            data.termination,
            data.truncation,
            float(section.discount),
            float(section.gae_lambda),
        )
        batch = flat_batch(data, advantages, returns)
        params, opt_state, sgd_metrics = self.update(carry.params, carry.opt_state, normalizer,
                                                     batch, key_sgd)
        if section.normalize_observations:
            normalizer = update_normalizer(normalizer, data.obs, data.valid,
                                           ppo_networks.NORMALIZER_STD_MIN)

        rewards = carry.rewards
        if self.plugins:
            rewards = dict(rewards)
            for plugin, record, key_plugin in zip(self.plugins, records, plugin_keys, strict=True):
                rewards[plugin.name], plugin_metrics = plugin.update(
                    carry.rewards[plugin.name], record, key_plugin)
                sgd_metrics.update(plugin_metrics)

        # Learner NaN guard: a non-finite update is discarded whole.
        ok = (
            tree_all_finite(params)
            & tree_all_finite(sgd_metrics)
            & tree_all_finite((normalizer.mean, normalizer.std))
        )
        for plugin in self.plugins:
            ok = ok & plugin.finite(rewards[plugin.name])
        if self.plugins:
            rewards = {p.name: p.keep(ok, rewards[p.name], carry.rewards[p.name])
                       for p in self.plugins}
        params = tree_select(ok, params, carry.params)
        opt_state = tree_select(ok, opt_state, carry.opt_state)
        normalizer = tree_select(ok, normalizer, carry.normalizer)
        bad_updates, total_bad_updates, bad = count_bad_update(
            ok, carry.bad_updates, carry.total_bad_updates)

        new_carry = carry.replace(
            params=params,
            opt_state=opt_state,
            normalizer=normalizer,
            env_state=env_state,
            episode=episode,
            key=key,
            iteration=carry.iteration + 1,
            bad_updates=bad_updates,
            total_bad_updates=total_bad_updates,
            rewards=rewards,
        )
        metrics.update(sgd_metrics)
        metrics["bad_update"] = bad.astype(jnp.float32)
        metrics["advantage_mean"] = jnp.mean(advantages)
        metrics["value_mean"] = jnp.mean(values)
        return new_carry, metrics
