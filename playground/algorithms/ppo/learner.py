"""PPO as an algorithm plug-in: its carry, init and jitted iteration.

`train_step(carry) -> (carry, metrics)` does a whole iteration: an unroll of
`unroll_length` steps in all envs (`playground.rollout.unroll`), the hosted reward
plug-ins' rewrite, GAE, `num_epochs` x `num_minibatches` clipped-surrogate updates,
the observation-normalizer update, the plug-ins' own updates, and a guard that
discards a non-finite update whole. The run loop (`playground.runner`) scans it in
chunks and never looks inside.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from brax.training.acme import running_statistics
from flax import struct

from playground import rollout
from playground.algorithms.base import tree_all_finite, tree_select
from playground.algorithms.ppo import networks as ppo_networks
from playground.algorithms.ppo.losses import compute_gae, compute_ppo_loss
from playground.policy_spec import make_policy_spec
from playground.tasks import wrappers
from playground.tasks.base import Env, State


@struct.dataclass
class PPOCarry:
    """Everything a PPO run needs to continue exactly; what a checkpoint saves."""

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


def make_optimizer(cfg) -> optax.GradientTransformation:
    """Adam at a constant step size, after global-norm gradient clipping."""
    clip = optax.clip_by_global_norm(float(cfg.ppo.max_grad_norm))
    return optax.chain(clip, optax.adam(float(cfg.ppo.learning_rate)))


class PPO:
    """PPO for one env and config, hosting `plugins` (reward plug-ins)."""

    batched_fields = ("env_state", "episode")
    warm_start_parts = (".params", ".normalizer")

    def __init__(self, env: Env, cfg, derived, plugins: tuple = ()):
        del derived  # PPO's sizes are all in cfg.ppo
        self.env, self.cfg, self.plugins = env, cfg, tuple(plugins)
        ppo = cfg.ppo
        self.num_envs = int(ppo.num_envs)
        self.unroll_length = int(ppo.unroll_length)
        self.num_minibatches = int(ppo.num_minibatches)
        self.num_epochs = int(ppo.num_epochs)
        self.train_episode_length = int(ppo.train_episode_length)
        self.reward_scaling = jnp.float32(ppo.reward_scaling)
        self.max_bad_updates = int(ppo.max_bad_updates)
        self.networks = ppo_networks.make_networks(cfg, env.observation_size, env.action_size)
        self.optimizer = make_optimizer(cfg)
        #: deterministic (normalizer, policy_params, obs) -> action (mode, squashed)
        self.deterministic_policy = ppo_networks.make_deterministic_policy(self.networks)
        #: stochastic (normalizer, policy_params, obs, key) -> action
        self.stochastic_policy = ppo_networks.make_stochastic_policy(self.networks)
        self._grad_fn = jax.value_and_grad(self._loss, has_aux=True)

    # --- the carry -------------------------------------------------------------------
    def init(self, key: jax.Array) -> PPOCarry:
        key_params, key_env, key_run = jax.random.split(key, 3)
        params = ppo_networks.init_params(self.networks, key_params)
        return PPOCarry(
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

    def act(self, carry: PPOCarry, obs: dict) -> jax.Array:
        return self.deterministic_policy(carry.normalizer, carry.params.policy, obs)

    def learner_state(self, carry: PPOCarry):
        return (carry.params, carry.opt_state, carry.normalizer)

    def policy_spec(self, carry: PPOCarry, config_dict: dict, provenance: dict) -> dict:
        return make_policy_spec(self.env, self.cfg, config_dict, carry.normalizer, provenance)

    def stop_reason(self, carry: PPOCarry) -> str | None:
        bad = int(carry.bad_updates)
        if bad < self.max_bad_updates:
            return None
        return (f"{bad} non-finite updates in a row at iteration {int(carry.iteration)} "
                f"(ppo.max_bad_updates={self.max_bad_updates})")

    # --- the iteration ---------------------------------------------------------------
    def _sampling_policy(self, carry: PPOCarry):
        """The unroll's policy: a raw (pre-squash) sample, recorded with its log-prob."""
        dist = self.networks.parametric_action_distribution
        policy_apply = self.networks.policy_network.apply

        def policy(obs, key):
            logits = policy_apply(carry.normalizer, carry.params.policy, obs)
            raw_action = dist.sample_no_postprocessing(logits, key)
            log_prob = dist.log_prob(logits, raw_action)
            return dist.postprocess(raw_action), raw_action, {"log_prob": log_prob}

        return policy

    def _loss(self, params, normalizer, mb: dict, key: jax.Array):
        ppo = self.cfg.ppo
        dist = self.networks.parametric_action_distribution
        logits = self.networks.policy_network.apply(normalizer, params.policy, mb["obs"])
        new_log_prob = dist.log_prob(logits, mb["action"])
        entropy = dist.entropy(logits, key)
        new_values = self.networks.value_network.apply(normalizer, params.value, mb["obs"])
        return compute_ppo_loss(
            new_log_prob,
            mb["log_prob"],
            mb["advantages"],
            new_values,
            mb["returns"],
            entropy,
            clip_epsilon=float(ppo.clip_epsilon),
            value_loss_coef=float(ppo.value_loss_coef),
            entropy_coef=float(ppo.entropy_coef),
            normalize_advantages=bool(ppo.normalize_advantages),
        )

    def _sgd(self, params, opt_state, normalizer, batch: dict, key: jax.Array):
        """num_epochs passes of num_minibatches shuffled minibatches over [N] samples."""
        n = batch["log_prob"].shape[0]
        num_minibatches = self.num_minibatches

        def minibatch_step(c, xs):
            params, opt_state = c
            mb, key_mb = xs
            (_, metrics), grads = self._grad_fn(params, normalizer, mb, key_mb)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            metrics["grad_norm"] = optax.tree.norm(grads)
            return (optax.apply_updates(params, updates), opt_state), metrics

        def epoch(c, key_epoch):
            key_perm, key_mb = jax.random.split(key_epoch)
            perm = jax.random.permutation(key_perm, n)
            shuffled = jax.tree_util.tree_map(
                lambda x: x[perm].reshape((num_minibatches, n // num_minibatches) + x.shape[1:]),
                batch,
            )
            return jax.lax.scan(
                minibatch_step, c, (shuffled, jax.random.split(key_mb, num_minibatches))
            )

        (params, opt_state), metrics = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, self.num_epochs)
        )
        return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)

    def train_step(self, carry: PPOCarry) -> tuple[PPOCarry, dict]:
        ppo = self.cfg.ppo
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

        # The loss uses the normalizer the rollout acted with, so the importance ratio
        # starts at exactly 1; the statistics absorb this rollout after the update.
        normalizer = carry.normalizer
        values = value_apply(normalizer, carry.params.value, data.obs)
        next_values = value_apply(normalizer, carry.params.value, data.next_obs)
        advantages, returns = compute_gae(
            data.reward,
            values,
            next_values,
            data.termination,
            data.truncation,
            float(ppo.discount),
            float(ppo.gae_lambda),
        )

        def flat(x):
            return x.reshape((-1,) + x.shape[2:])  # [T, B, ...] -> [T*B, ...]

        batch = {
            "obs": jax.tree_util.tree_map(flat, data.obs),
            "action": flat(data.action),
            "log_prob": flat(data.extras["log_prob"]),
            "advantages": flat(advantages),
            "returns": flat(returns),
        }
        params, opt_state, sgd_metrics = self._sgd(carry.params, carry.opt_state, normalizer,
                                                   batch, key_sgd)
        if ppo.normalize_observations:
            # weight 0 alone is not enough: 0 * NaN is NaN, so zero the values too
            finite_obs = jax.tree_util.tree_map(
                lambda x: jnp.where(jnp.isfinite(x), x, 0.0), data.obs
            )
            normalizer = running_statistics.update(
                normalizer, finite_obs, weights=data.valid,
                std_min_value=ppo_networks.NORMALIZER_STD_MIN,
            )

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
        bad = (~ok).astype(jnp.int32)

        new_carry = carry.replace(
            params=params,
            opt_state=opt_state,
            normalizer=normalizer,
            env_state=env_state,
            episode=episode,
            key=key,
            iteration=carry.iteration + 1,
            bad_updates=(carry.bad_updates + bad) * bad,
            total_bad_updates=carry.total_bad_updates + bad,
            rewards=rewards,
        )
        metrics.update(sgd_metrics)
        metrics["bad_update"] = bad.astype(jnp.float32)
        metrics["advantage_mean"] = jnp.mean(advantages)
        metrics["value_mean"] = jnp.mean(values)
        return new_carry, metrics


def make_ppo(env: Env, cfg, derived, plugins: tuple = ()) -> PPO:
    """The registry's factory."""
    return PPO(env, cfg, derived, plugins)
