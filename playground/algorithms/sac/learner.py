"""SAC as an algorithm plug-in: its carry, init and jitted iteration.

`train_step(carry) -> (carry, metrics)` does a whole iteration: an unroll of
`unroll_length` steps in all envs (`playground.rollout.unroll`; uniform random actions
during the warm-up, else a sample of the tanh-normal actor), the transitions written
into the replay ring in the carry (`replay.py`), the observation-normalizer update, and
`updates_per_iteration` gradient updates once the ring holds `warmup_steps`
transitions. One update samples a batch, steps the twin critics towards the soft
clipped-double-Q target, the actor towards alpha log pi - min Q, the temperature
towards the target entropy (three Adam optimizers), then moves the target critics by
Polyak averaging. A non-finite update is discarded whole and counted (`bad_update`).

Multi-device: the ring is split with the envs (see `replay.py`); params, optimizer
states, temperature and target critics are replicated, so each update's gradient mean
over the split batch is one cross-device reduction.
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
from playground.algorithms.ppo.networks import (
    NORMALIZER_STD_MIN,
    init_normalizer,
    make_deterministic_policy,
)
from playground.algorithms.sac import networks as sac_networks
from playground.algorithms.sac import replay as replay_lib
from playground.algorithms.sac.config import refuse_reward_plugins
from playground.algorithms.sac.losses import (
    compute_actor_loss,
    compute_alpha_loss,
    compute_critic_loss,
    compute_critic_target,
    polyak_update,
)
from playground.policy_spec import make_actor_spec
from playground.tasks import wrappers
from playground.tasks.base import Env, State


@struct.dataclass
class SACOptState:
    """Adam states of the actor, the twin critics and log(alpha)."""

    policy: Any
    q: Any
    alpha: Any


@struct.dataclass
class SACCarry:
    """Everything a SAC run needs to continue exactly; what a checkpoint saves (the ring
    too, unless `sac.checkpoint_replay` is false)."""

    params: sac_networks.SACParams
    target_q: Any  # Polyak average of params.q
    log_alpha: jax.Array  # float32 [], log of the entropy temperature
    opt_state: SACOptState
    normalizer: running_statistics.RunningStatisticsState
    replay: replay_lib.Replay  # [E, C, ...] rings, split across devices with the envs
    env_state: State  # [E] batched
    episode: rollout.EpisodeStats
    key: jax.Array  # uint32[2], split by role each iteration
    iteration: jax.Array  # int32, iterations done
    bad_updates: jax.Array  # int32, consecutive discarded (non-finite) updates
    total_bad_updates: jax.Array  # int32


class SAC:
    """SAC for one env and config."""

    batched_fields = ("env_state", "episode", "replay")
    warm_start_parts = (".params", ".target_q", ".log_alpha", ".normalizer")

    def __init__(self, env: Env, cfg, derived, plugins: tuple = ()):
        refuse_reward_plugins(p.name for p in plugins)  # derive's check refuses them first
        sac = cfg.sac
        self.env, self.cfg = env, cfg
        self.num_envs = int(sac.num_envs)
        self.unroll_length = int(sac.unroll_length)
        self.train_episode_length = int(sac.train_episode_length)
        self.updates_per_iteration = int(derived.algorithm["updates_per_iteration"])
        self.rows_per_env = int(derived.algorithm["rows_per_env"])
        self.samples_per_env = int(derived.algorithm["samples_per_env"])
        self.warmup_steps = int(sac.warmup_steps)
        #: iterations that act uniformly at random (those starting before warmup_steps)
        self.warmup_iterations = -(-self.warmup_steps // (self.num_envs * self.unroll_length))
        self.n_step = int(sac.n_step)
        self.discount = float(sac.discount)
        self.tau = float(sac.tau)
        self.reward_scaling = jnp.float32(sac.reward_scaling)
        self.target_entropy = float(-env.action_size if sac.target_entropy is None
                                    else sac.target_entropy)
        self.max_bad_updates = int(sac.max_bad_updates)
        #: carry fields a checkpoint leaves out (restored as `init` makes them)
        self.unsaved_fields = () if sac.checkpoint_replay else ("replay",)
        self.networks = sac_networks.make_networks(cfg, env.observation_size, env.action_size)
        self.policy_optimizer = optax.adam(float(sac.learning_rate))
        self.q_optimizer = optax.adam(float(sac.learning_rate))
        self.alpha_optimizer = optax.adam(float(sac.alpha_learning_rate))
        #: deterministic (normalizer, policy_params, obs) -> tanh(mean)
        self.deterministic_policy = make_deterministic_policy(self.networks)

    # --- the carry -------------------------------------------------------------------
    def init(self, key: jax.Array) -> SACCarry:
        key_params, key_env, key_run = jax.random.split(key, 3)
        params = sac_networks.init_params(self.networks, key_params)
        log_alpha = jnp.log(jnp.float32(self.cfg.sac.init_alpha))
        return SACCarry(
            params=params,
            target_q=params.q,
            log_alpha=log_alpha,
            opt_state=SACOptState(policy=self.policy_optimizer.init(params.policy),
                                  q=self.q_optimizer.init(params.q),
                                  alpha=self.alpha_optimizer.init(log_alpha)),
            normalizer=init_normalizer(self.env.observation_size),
            replay=replay_lib.init_replay(self.num_envs, self.rows_per_env,
                                          self.env.observation_size, self.env.action_size),
            env_state=wrappers.reset_batch(self.env, key_env, self.num_envs),
            episode=rollout.init_episode_stats(self.num_envs, self.env),
            key=key_run,
            iteration=jnp.zeros((), jnp.int32),
            bad_updates=jnp.zeros((), jnp.int32),
            total_bad_updates=jnp.zeros((), jnp.int32),
        )

    def act(self, carry: SACCarry, obs: dict) -> jax.Array:
        return self.deterministic_policy(carry.normalizer, carry.params.policy, obs)

    def learner_state(self, carry: SACCarry):
        return (carry.params, carry.target_q, carry.log_alpha, carry.opt_state, carry.normalizer)

    def policy_spec(self, carry: SACCarry, config_dict: dict, provenance: dict) -> dict:
        sac = self.cfg.sac
        return make_actor_spec(
            self.env, self.cfg.env.task, config_dict, carry.normalizer, provenance,
            hidden=sac.policy_hidden, activation=sac.activation, squash="tanh",
            normalize=bool(sac.normalize_observations), obs_clip=float(sac.obs_clip))

    def stop_reason(self, carry: SACCarry) -> str | None:
        return bad_updates_stop_reason(carry, self.max_bad_updates, "sac.max_bad_updates")

    # --- the iteration ---------------------------------------------------------------
    def _sample_action(self, normalizer, policy_params, obs: dict, key: jax.Array):
        """(action in [-1, 1] drawn from pi(obs) by reparameterization, log pi(action)) [B]."""
        dist = self.networks.parametric_action_distribution
        logits = self.networks.policy_network.apply(normalizer, policy_params, obs)
        raw_action = dist.sample_no_postprocessing(logits, key)
        return dist.postprocess(raw_action), dist.log_prob(logits, raw_action)

    def _acting_policy(self, carry: SACCarry):
        """The unroll's policy: uniform in [-1, 1] during the warm-up, else a sample of pi."""
        random_phase = carry.iteration < self.warmup_iterations
        action_shape = (self.num_envs, self.env.action_size)

        def policy(obs, key):
            key_uniform, key_pi = jax.random.split(key)
            uniform = jax.random.uniform(key_uniform, action_shape, jnp.float32, -1.0, 1.0)
            sampled, _ = self._sample_action(carry.normalizer, carry.params.policy, obs, key_pi)
            action = jnp.where(random_phase, uniform, sampled)
            return action, action, {}

        return policy

    def _critic_loss(self, q_params, params, target_q, alpha, normalizer, batch, key):
        next_action, next_log_prob = self._sample_action(normalizer, params.policy,
                                                         batch["next_obs"], key)
        next_q = self.networks.q_network.apply(normalizer, target_q, batch["next_obs"],
                                               next_action)
        target = compute_critic_target(batch["returns"], batch["bootstrap"], next_q,
                                       next_log_prob, alpha)
        q = self.networks.q_network.apply(normalizer, q_params, batch["obs"], batch["action"])
        loss = compute_critic_loss(q, target, batch["weight"])
        return loss, {"critic_loss": loss, "q_mean": jnp.mean(q), "target_mean": jnp.mean(target)}

    def _actor_loss(self, policy_params, q_params, alpha, normalizer, batch, key):
        action, log_prob = self._sample_action(normalizer, policy_params, batch["obs"], key)
        q = self.networks.q_network.apply(normalizer, q_params, batch["obs"], action)
        loss = compute_actor_loss(log_prob, q, alpha, batch["weight"])
        return loss, log_prob

    def _update(self, state, key: jax.Array, normalizer, replay):
        """One gradient update of critics, actor and temperature, then the Polyak step.
        state: (params, target_q, log_alpha, opt_state)."""
        params, target_q, log_alpha, opt_state = state
        key_sample, key_critic, key_actor = jax.random.split(key, 3)
        batch = replay_lib.sample(replay, key_sample, self.samples_per_env, self.n_step,
                                  self.discount)
        alpha = jnp.exp(log_alpha)

        (_, critic_metrics), q_grads = jax.value_and_grad(self._critic_loss, has_aux=True)(
            params.q, params, target_q, alpha, normalizer, batch, key_critic)
        (actor_loss, log_prob), policy_grads = jax.value_and_grad(self._actor_loss, has_aux=True)(
            params.policy, params.q, alpha, normalizer, batch, key_actor)
        alpha_loss, alpha_grad = jax.value_and_grad(compute_alpha_loss)(
            log_alpha, log_prob, self.target_entropy, batch["weight"])

        q_updates, q_opt = self.q_optimizer.update(q_grads, opt_state.q, params.q)
        policy_updates, policy_opt = self.policy_optimizer.update(
            policy_grads, opt_state.policy, params.policy)
        alpha_update, alpha_opt = self.alpha_optimizer.update(alpha_grad, opt_state.alpha,
                                                              log_alpha)
        q_params = optax.apply_updates(params.q, q_updates)
        new_params = params.replace(policy=optax.apply_updates(params.policy, policy_updates),
                                    q=q_params)
        metrics = {
            **critic_metrics,
            "actor_loss": actor_loss,
            "alpha_loss": alpha_loss,
            "alpha": alpha,
            "entropy": -jnp.mean(log_prob),
            "critic_grad_norm": optax.tree.norm(q_grads),
            "actor_grad_norm": optax.tree.norm(policy_grads),
        }
        new_state = (new_params, polyak_update(target_q, q_params, self.tau),
                     optax.apply_updates(log_alpha, alpha_update),
                     SACOptState(policy=policy_opt, q=q_opt, alpha=alpha_opt))
        return new_state, metrics

    def _updates(self, state, key: jax.Array, normalizer, replay):
        """`updates_per_iteration` updates in a scan; metrics averaged over them."""
        def one(state, key_update):
            return self._update(state, key_update, normalizer, replay)

        state, metrics = jax.lax.scan(one, state, jax.random.split(key,
                                                                   self.updates_per_iteration))
        return state, jax.tree_util.tree_map(jnp.mean, metrics)

    def train_step(self, carry: SACCarry) -> tuple[SACCarry, dict]:
        key, key_rollout, key_updates = jax.random.split(carry.key, 3)
        env_state, episode, data, metrics, _ = rollout.unroll(
            self.env, self._acting_policy(carry), carry.env_state, carry.episode, key_rollout,
            self.unroll_length, reward_scaling=self.reward_scaling,
            train_episode_length=self.train_episode_length)
        replay = replay_lib.insert(carry.replay, data)

        normalizer = carry.normalizer
        if self.cfg.sac.normalize_observations:
            normalizer = update_normalizer(normalizer, data.obs, data.valid, NORMALIZER_STD_MIN)

        state = (carry.params, carry.target_q, carry.log_alpha, carry.opt_state)
        # updates begin once the ring holds the warm-up's transitions (after a resume
        # without the ring: once it has refilled that far)
        learning = replay_lib.size(replay) * self.num_envs >= self.warmup_steps
        abstract = jax.eval_shape(self._updates, state, key_updates, normalizer, replay)

        def skip(state, key, normalizer, replay):
            del key, normalizer, replay
            return state, jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype),
                                                 abstract[1])

        new_state, update_metrics = jax.lax.cond(learning, self._updates, skip, state,
                                                 key_updates, normalizer, replay)
        params, target_q, log_alpha, opt_state = new_state

        # Learner NaN guard: a non-finite update is discarded whole (the ring keeps the data).
        ok = (tree_all_finite(new_state) & tree_all_finite(update_metrics)
              & tree_all_finite((normalizer.mean, normalizer.std)))
        params = tree_select(ok, params, carry.params)
        target_q = tree_select(ok, target_q, carry.target_q)
        log_alpha = jnp.where(ok, log_alpha, carry.log_alpha)
        opt_state = tree_select(ok, opt_state, carry.opt_state)
        normalizer = tree_select(ok, normalizer, carry.normalizer)
        bad_updates, total_bad_updates, bad = count_bad_update(
            ok, carry.bad_updates, carry.total_bad_updates)

        new_carry = carry.replace(
            params=params, target_q=target_q, log_alpha=log_alpha, opt_state=opt_state,
            normalizer=normalizer, replay=replay, env_state=env_state, episode=episode, key=key,
            iteration=carry.iteration + 1, bad_updates=bad_updates,
            total_bad_updates=total_bad_updates,
        )
        metrics.update(update_metrics)
        metrics["learning"] = learning.astype(jnp.float32)
        metrics["replay_size"] = (replay_lib.size(replay) * self.num_envs).astype(jnp.float32)
        metrics["bad_update"] = bad.astype(jnp.float32)
        return new_carry, metrics


def make_sac(env: Env, cfg, derived, plugins: tuple = ()) -> SAC:
    """The registry's factory."""
    return SAC(env, cfg, derived, plugins)
