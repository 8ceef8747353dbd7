"""The PPO training iteration: one jitted pure function over a named carry.

`train_step(carry) -> (carry, metrics)` does a whole iteration: rollout of
`unroll_length` steps in all envs (lax.scan), observation-normalizer update, GAE,
`num_epochs` x `num_minibatches` clipped-surrogate updates, and a guard that
discards non-finite updates. `train_chunk` runs K of them in one `lax.scan`;
Python only runs between chunks (logging, eval, checkpoints).

With `amp.enabled`, `TrainCarry.amp` holds the discriminator, its optimizer, the
feature normalizer and the policy replay buffer (`playground.rewards.amp`): the
rollout also records AMP (s, s') features from the pre-reset next state, one
Transition -> Transition rewrite adds `amp.weight` x style reward to the reward
before GAE, and the discriminator trains after the PPO epochs. Without AMP the
program is exactly the PPO one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from brax.training.acme import running_statistics
from flax import struct
from jax.extend import core as jax_core

from playground import config
from playground.algorithms.ppo import networks as ppo_networks
from playground.algorithms.ppo.losses import compute_gae, compute_ppo_loss
from playground.rewards.amp.discriminator import make_amp_learner
from playground.tasks import wrappers
from playground.tasks.base import Env, State


@struct.dataclass
class Transition:
    """One env step as the learner sees it. Leaves are [T, B, ...] after a rollout."""

    obs: dict[str, jax.Array]  # observation the action was taken from
    action: jax.Array  # [A] raw (pre-squash) sample, what log_prob refers to
    log_prob: jax.Array  # [] log pi_old(action | obs)
    reward: jax.Array  # [] scaled reward of this step
    termination: jax.Array  # [] 1.0: terminal, no bootstrap
    truncation: jax.Array  # [] 1.0: time limit, bootstrap from V(next_obs)
    next_obs: dict[str, jax.Array]  # true next observation, before any reset
    valid: jax.Array  # [] 1.0 if obs is finite (normalizer weight)


@struct.dataclass
class EpisodeStats:
    """Per-env running sums of the episode in progress. [B] each."""

    returns: jax.Array
    lengths: jax.Array


@struct.dataclass
class TrainCarry:
    """Everything a run needs to continue exactly; what a checkpoint saves."""

    params: ppo_networks.PPOParams
    opt_state: Any
    normalizer: running_statistics.RunningStatisticsState
    env_state: State  # [B] batched
    episode: EpisodeStats
    key: jax.Array  # uint32[2], split by role each iteration
    iteration: jax.Array  # int32, iterations done
    bad_updates: jax.Array  # int32, consecutive discarded (non-finite) updates
    total_bad_updates: jax.Array  # int32
    amp: Any = None  # AMP discriminator state; None when AMP is off


@dataclasses.dataclass(frozen=True)
class TrainFns:
    """The compiled-once functions of a run."""

    init: Callable[[jax.Array], TrainCarry]
    #: (carry, total_iterations: int32 scalar) -> (carry, per-iteration metrics)
    train_chunk: Callable[[TrainCarry, jax.Array], tuple[TrainCarry, dict]]
    evaluate: Callable[[TrainCarry], dict]
    networks: Any
    policy: Callable  # deterministic (normalizer, policy_params, obs) -> action
    sample_policy: Callable  # stochastic (normalizer, policy_params, obs, key) -> action
    amp: Any = None  # the run's AmpLearner (discriminator, features, reference clips) or None


def metric_name(env_key: str) -> str:
    """Logged name of an env metric: reward terms keep `reward/`, the rest go under `task/`."""
    return env_key if env_key.startswith("reward/") else f"task/{env_key}"


def _tree_all_finite(tree) -> jax.Array:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _select(pred, on_true, on_false):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def make_optimizer(cfg) -> optax.GradientTransformation:
    """Adam at a constant step size, after global-norm gradient clipping."""
    clip = optax.clip_by_global_norm(float(cfg.ppo.max_grad_norm))
    return optax.chain(clip, optax.adam(float(cfg.ppo.learning_rate)))


def make_train_fns(env: Env, cfg, derived) -> TrainFns:
    """Build init / train_chunk / evaluate for `env` under a resolved config."""
    ppo = cfg.ppo
    num_envs = int(ppo.num_envs)
    unroll = int(ppo.unroll_length)
    num_minibatches = int(ppo.num_minibatches)
    num_epochs = int(ppo.num_epochs)
    eval_envs = int(cfg.run.eval_envs)
    networks = ppo_networks.make_networks(cfg, env.observation_size, env.action_size)
    dist = networks.parametric_action_distribution
    policy_apply = networks.policy_network.apply
    value_apply = networks.value_network.apply
    optimizer = make_optimizer(cfg)
    train_episode_length = int(ppo.train_episode_length)
    deterministic_policy = ppo_networks.make_deterministic_policy(networks)
    reward_scaling = jnp.float32(ppo.reward_scaling)
    amp = make_amp_learner(env, cfg.amp) if config.amp_enabled(cfg) else None
    amp_weight = jnp.float32(cfg.amp.weight if amp is not None else 0.0)

    def init(key: jax.Array) -> TrainCarry:
        key_params, key_env, key_run = jax.random.split(key, 3)
        params = ppo_networks.init_params(networks, key_params)
        env_state = wrappers.reset_batch(env, key_env, num_envs)
        zeros = jnp.zeros((num_envs,), jnp.float32)
        return TrainCarry(
            params=params,
            opt_state=optimizer.init(params),
            normalizer=ppo_networks.init_normalizer(env.observation_size),
            env_state=env_state,
            episode=EpisodeStats(returns=zeros, lengths=zeros),
            key=key_run,
            iteration=jnp.zeros((), jnp.int32),
            bad_updates=jnp.zeros((), jnp.int32),
            total_bad_updates=jnp.zeros((), jnp.int32),
            amp=None if amp is None else amp.init(jax.random.fold_in(key, 0xA3F)),
        )

    def rollout(carry: TrainCarry, key: jax.Array):
        """Unroll the stochastic policy; returns new env/episode state, [T, B] data, metrics."""
        key, key_fresh = jax.random.split(key)
        fresh = wrappers.reset_batch(env, key_fresh, num_envs)  # episodes for envs that finish

        def one_step(c, key_t):
            env_state, episode = c
            obs = env_state.obs
            logits = policy_apply(carry.normalizer, carry.params.policy, obs)
            raw_action = dist.sample_no_postprocessing(logits, key_t)
            log_prob = dist.log_prob(logits, raw_action)
            nstate = wrappers.step_batch(env, env_state, dist.postprocess(raw_action))
            if train_episode_length:  # a time limit of training only: cut, bootstrapped
                cut = (episode.lengths + 1.0 >= train_episode_length) * (1.0 - nstate.done)
                nstate = nstate.replace(done=jnp.maximum(nstate.done, cut), info={
                    **nstate.info, "truncation": jnp.maximum(nstate.info["truncation"], cut)})
            truncation = nstate.info["truncation"]
            done = nstate.done
            transition = Transition(
                obs=obs,
                action=raw_action,
                log_prob=log_prob,
                reward=nstate.reward * reward_scaling,
                termination=done * (1.0 - truncation),
                truncation=truncation,
                next_obs=nstate.obs,
                valid=wrappers.finite_rows(obs),
            )
            returns = episode.returns + nstate.reward
            lengths = episode.lengths + 1.0
            step_metrics = {
                "episode_return_sum": jnp.sum(returns * done),
                "episode_length_sum": jnp.sum(lengths * done),
                "episodes": jnp.sum(done),
                "terminations": jnp.sum(transition.termination),
                **{metric_name(k): jnp.mean(v) for k, v in nstate.metrics.items()
                   if k != "nan_resets"},
                "nan_resets": jnp.sum(nstate.metrics["nan_resets"]),
            }
            episode = EpisodeStats(returns=returns * (1.0 - done), lengths=lengths * (1.0 - done))
            # AMP (s, s'): s' from the pre-reset nstate, so a pair never spans a reset
            amp_pair = None if amp is None else amp.features(env_state.data, nstate.data)
            return (wrappers.autoreset(nstate, fresh), episode), (transition, step_metrics, amp_pair)

        (env_state, episode), (data, step_metrics, amp_pairs) = jax.lax.scan(
            one_step, (carry.env_state, carry.episode), jax.random.split(key, unroll)
        )
        summed = {"episode_return_sum", "episode_length_sum", "episodes", "terminations", "nan_resets"}
        metrics = {k: (jnp.sum(v) if k in summed else jnp.mean(v)) for k, v in step_metrics.items()}
        return env_state, episode, data, metrics, amp_pairs

    def add_style_reward(amp_state, data: Transition, amp_pairs) -> tuple[Transition, dict]:
        """Transition -> Transition: reward + amp.weight x style reward (scaled like the task
        reward), from the discriminator the rollout ran under. amp_pairs: s, s', valid [T, B]."""
        s, s_next, valid = amp_pairs
        style = amp.style_reward(amp_state, s, s_next) * valid  # [T, B]
        data = data.replace(reward=data.reward + amp_weight * style * reward_scaling)
        return data, {"amp/style_reward": jnp.mean(style), "reward/style": jnp.mean(amp_weight * style)}

    def loss_fn(params, normalizer, mb: dict, key: jax.Array):
        logits = policy_apply(normalizer, params.policy, mb["obs"])
        new_log_prob = dist.log_prob(logits, mb["action"])
        entropy = dist.entropy(logits, key)
        new_values = value_apply(normalizer, params.value, mb["obs"])
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

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def sgd(params, opt_state, normalizer, batch: dict, key: jax.Array):
        """num_epochs passes of num_minibatches shuffled minibatches over [N] samples."""
        n = batch["log_prob"].shape[0]

        def minibatch_step(c, xs):
            params, opt_state = c
            mb, key_mb = xs
            (_, metrics), grads = grad_fn(params, normalizer, mb, key_mb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
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
            epoch, (params, opt_state), jax.random.split(key, num_epochs)
        )
        return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)

    def train_step(carry: TrainCarry) -> tuple[TrainCarry, dict]:
        key, key_rollout, key_sgd = jax.random.split(carry.key, 3)
        env_state, episode, data, metrics, amp_pairs = rollout(carry, key_rollout)
        if amp is not None:
            key, key_disc = jax.random.split(key)
            data, style_metrics = add_style_reward(carry.amp, data, amp_pairs)
            metrics.update(style_metrics)

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
            "log_prob": flat(data.log_prob),
            "advantages": flat(advantages),
            "returns": flat(returns),
        }
        params, opt_state, sgd_metrics = sgd(carry.params, carry.opt_state, normalizer, batch, key_sgd)
        if ppo.normalize_observations:
            # weight 0 alone is not enough: 0 * NaN is NaN, so zero the values too
            finite_obs = jax.tree_util.tree_map(
                lambda x: jnp.where(jnp.isfinite(x), x, 0.0), data.obs
            )
            normalizer = running_statistics.update(
                normalizer, finite_obs, weights=data.valid,
                std_min_value=ppo_networks.NORMALIZER_STD_MIN,
            )

        amp_state = carry.amp
        if amp is not None:
            s, s_next, valid = (flat(x) for x in amp_pairs)
            amp_state, amp_metrics = amp.update(carry.amp, s, s_next, valid, key_disc)
            sgd_metrics.update(amp_metrics)

        # Learner NaN guard: a non-finite update is discarded whole.
        ok = (
            _tree_all_finite(params)
            & _tree_all_finite(sgd_metrics)
            & _tree_all_finite((normalizer.mean, normalizer.std))
        )
        if amp is not None:
            ok = ok & _tree_all_finite((amp_state.params, amp_state.opt_state,
                                        amp_state.normalizer.mean, amp_state.normalizer.std))
            # the replay keeps its new (finite by construction) rows; copying it is costly
            amp_state = amp_state.replace(**{
                k: _select(ok, getattr(amp_state, k), getattr(carry.amp, k))
                for k in ("params", "opt_state", "normalizer")
            })
        params = _select(ok, params, carry.params)
        opt_state = _select(ok, opt_state, carry.opt_state)
        normalizer = _select(ok, normalizer, carry.normalizer)
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
            amp=amp_state,
        )
        metrics.update(sgd_metrics)
        metrics["bad_update"] = bad.astype(jnp.float32)
        metrics["advantage_mean"] = jnp.mean(advantages)
        metrics["value_mean"] = jnp.mean(values)
        metrics["active"] = jnp.float32(1.0)
        return new_carry, metrics

    def train_chunk(carry: TrainCarry, total_iterations: jax.Array) -> tuple[TrainCarry, dict]:
        """K = iterations_per_chunk iterations; iterations from `total_iterations` (an
        int32 scalar) on are skipped.

        Skipping (a scalar `lax.cond`) instead of a shorter last chunk keeps one
        compiled program for the whole run, and the total being an argument keeps it
        for any `ppo.num_iterations`: a run extended on resume, or a shorter run of the
        same config, loads it from the persistent cache. Skipped rows have
        metrics["active"] = 0.
        """
        # Trace train_step once (tracing MJX dominates warm start-up) and reuse its
        # jaxpr inside the cond, which also yields the metrics structure for `skip`.
        closed, out_shape = jax.make_jaxpr(train_step, return_shape=True)(carry)
        out_tree = jax.tree_util.tree_structure(out_shape)
        step_fn = jax_core.jaxpr_as_fun(closed)

        def traced_step(c):
            return jax.tree_util.tree_unflatten(out_tree, step_fn(*jax.tree_util.tree_leaves(c)))

        def maybe_step(c, _):
            def skip(c):
                return c, jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), out_shape[1])

            return jax.lax.cond(c.iteration < total_iterations, traced_step, skip, c)

        return jax.lax.scan(maybe_step, carry, None, length=int(derived.iterations_per_chunk))

    def evaluate(carry: TrainCarry, key: jax.Array) -> dict:
        """Deterministic policy, `eval_envs` fresh
        episodes of up to episode_length steps.

        Returns eval/* means over episodes: episode_reward, episode_length,
        survival_rate (never terminated), and each task metric averaged over the
        steps an episode was alive.
        """
        state = wrappers.reset_batch(env, key, eval_envs)
        metric_names = tuple(k for k in state.metrics if k != "nan_resets")
        zeros = jnp.zeros((eval_envs,), jnp.float32)

        def one_step(c, _):
            state, alive, fell, ret, length, sums = c
            action = deterministic_policy(carry.normalizer, carry.params.policy, state.obs)
            nstate = wrappers.step_batch(env, state, action)
            ret = ret + nstate.reward * alive
            length = length + alive
            sums = {k: sums[k] + nstate.metrics[k] * alive for k in metric_names}
            terminated = nstate.done * (1.0 - nstate.info["truncation"])
            fell = jnp.maximum(fell, terminated * alive)
            alive = alive * (1.0 - nstate.done)
            return (nstate, alive, fell, ret, length, sums), None

        init_c = (state, zeros + 1.0, zeros, zeros, zeros, {k: zeros for k in metric_names})
        (_, _, fell, ret, length, sums), _ = jax.lax.scan(
            one_step, init_c, None, length=int(env.episode_length)
        )
        out = {
            "eval/episode_reward": jnp.mean(ret),
            "eval/episode_length": jnp.mean(length),
            "eval/survival_rate": 1.0 - jnp.mean(fell),
        }
        per_step = jnp.maximum(length, 1.0)
        for k in metric_names:
            out[f"eval/{metric_name(k)}"] = jnp.mean(sums[k] / per_step)
        return out

    return TrainFns(
        init=init,
        train_chunk=train_chunk,
        evaluate=evaluate,
        networks=networks,
        policy=deterministic_policy,
        sample_policy=ppo_networks.make_stochastic_policy(networks),
        amp=amp,
    )
