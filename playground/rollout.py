"""The env unroll and the evaluator: what every algorithm does with an env, in one place.

`unroll` steps a batch of envs with a stochastic policy for `length` steps
(`lax.scan`) and returns [T, B] transitions; `make_evaluator` plays a
deterministic policy on fresh episodes and returns `eval/*` metrics. Both are pure
and jittable; an algorithm calls them inside its iteration, the run loop calls
the evaluator between chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from playground.tasks import wrappers
from playground.tasks.base import SUCCESS_METRIC, Env, State, fold_success, success_mode

#: unroll metrics that are counts (summed over the rollout); the others are means.
#: episode_success_sum: only for a task that defines success (`Env.success_mode`)
SUMMED_METRICS = ("episode_return_sum", "episode_length_sum", "episodes", "terminations",
                  "nan_resets", "episode_success_sum")
#: env metrics that are not logged as per-step means (counted or folded per episode instead)
_NOT_AVERAGED = ("nan_resets", SUCCESS_METRIC)


@struct.dataclass
class Transition:
    """One env step as a learner sees it. Leaves are [T, B, ...] after an unroll."""

    obs: dict[str, jax.Array]  # observation the action was taken from
    action: jax.Array  # [A] the action as the policy recorded it (e.g. PPO: pre-squash)
    reward: jax.Array  # [] reward of this step times the learner's reward scaling
    termination: jax.Array  # [] 1.0: terminal, no bootstrap
    truncation: jax.Array  # [] 1.0: time limit, bootstrap from the next observation
    next_obs: dict[str, jax.Array]  # true next observation, before any reset
    valid: jax.Array  # [] 1.0 if obs is finite (normalizer weight)
    extras: dict[str, jax.Array]  # what the policy recorded besides the action (log_prob)


@struct.dataclass
class EpisodeStats:
    """Per-env running sums of the episode in progress. [B] each."""

    returns: jax.Array
    lengths: jax.Array
    #: the episode's success so far (`fold_success`); None for a task without success
    successes: jax.Array | None = None


def init_episode_stats(num_envs: int, env: Env | None = None) -> EpisodeStats:
    """Zeros for `num_envs` fresh episodes; with `env` given, also their success when the
    task defines success (an algorithm passes its env so `unroll` can count successes)."""
    zeros = jnp.zeros((num_envs,), jnp.float32)
    tracked = env is not None and success_mode(env) is not None
    return EpisodeStats(returns=zeros, lengths=zeros, successes=zeros if tracked else None)


def metric_name(env_key: str) -> str:
    """Logged name of an env metric: reward terms keep `reward/`, the rest go under `task/`."""
    return env_key if env_key.startswith("reward/") else f"task/{env_key}"


#: (obs, key) -> (action for the env, action to record, {name: [..] recorded extras})
Policy = Callable[[dict[str, jax.Array], jax.Array], tuple[jax.Array, jax.Array, dict]]
#: (state before, state after the step, pre-reset) -> anything a reward plug-in records
Observer = Callable[[State, State], Any]


def unroll(env: Env, policy: Policy, env_state: State, episode: EpisodeStats, key: jax.Array,
           length: int, *, reward_scaling: jax.Array, train_episode_length: int = 0,
           observers: tuple[Observer, ...] = ()):
    """Step the [B] batch `length` times with `policy`; finished envs auto-reset.

    Returns (env_state, episode, Transition [T, B], metrics, observed), where metrics are
    summed (SUMMED_METRICS) or averaged over the unroll, and `observed` holds each
    observer's [T, B] records (a tuple, in `observers` order). `train_episode_length`
    > 0 ends training episodes after that many steps as bootstrapped time limits. For a
    task that defines success, `episode_success_sum` counts the episodes that ended
    successful (`episode` must come from `init_episode_stats(num_envs, env)`).
    """
    num_envs = env_state.done.shape[0]
    mode = success_mode(env)
    if mode is not None and episode.successes is None:
        raise ValueError(f"{type(env).__name__} defines success: make the episode stats with "
                         "init_episode_stats(num_envs, env)")
    key, key_fresh = jax.random.split(key)
    fresh = wrappers.reset_batch(env, key_fresh, num_envs)  # episodes for envs that finish

    def one_step(c, key_t):
        env_state, episode = c
        obs = env_state.obs
        env_action, action, extras = policy(obs, key_t)
        nstate = wrappers.step_batch(env, env_state, env_action)
        if train_episode_length:  # a time limit of training only: cut, bootstrapped
            cut = (episode.lengths + 1.0 >= train_episode_length) * (1.0 - nstate.done)
            nstate = nstate.replace(done=jnp.maximum(nstate.done, cut), info={
                **nstate.info, "truncation": jnp.maximum(nstate.info["truncation"], cut)})
        truncation = nstate.info["truncation"]
        done = nstate.done
        transition = Transition(
            obs=obs,
            action=action,
            reward=nstate.reward * reward_scaling,
            termination=done * (1.0 - truncation),
            truncation=truncation,
            next_obs=nstate.obs,
            valid=wrappers.finite_rows(obs),
            extras=extras,
        )
        returns = episode.returns + nstate.reward
        lengths = episode.lengths + 1.0
        step_metrics = {
            "episode_return_sum": jnp.sum(returns * done),
            "episode_length_sum": jnp.sum(lengths * done),
            "episodes": jnp.sum(done),
            "terminations": jnp.sum(transition.termination),
            **{metric_name(k): jnp.mean(v) for k, v in nstate.metrics.items()
               if k not in _NOT_AVERAGED},
            "nan_resets": jnp.sum(nstate.metrics["nan_resets"]),
        }
        successes = None
        if mode is not None:
            successes = fold_success(mode, episode.successes, nstate.metrics[SUCCESS_METRIC])
            step_metrics["episode_success_sum"] = jnp.sum(successes * done)
            successes = successes * (1.0 - done)
        episode = EpisodeStats(returns=returns * (1.0 - done), lengths=lengths * (1.0 - done),
                               successes=successes)
        # observers see the pre-reset nstate, so a recorded (s, s') never spans a reset
        observed = tuple(observe(env_state, nstate) for observe in observers)
        return (wrappers.autoreset(nstate, fresh), episode), (transition, step_metrics, observed)

    (env_state, episode), (data, step_metrics, observed) = jax.lax.scan(
        one_step, (env_state, episode), jax.random.split(key, length)
    )
    metrics = {k: (jnp.sum(v) if k in SUMMED_METRICS else jnp.mean(v))
               for k, v in step_metrics.items()}
    return env_state, episode, data, metrics, observed


def make_evaluator(env: Env, num_envs: int, act: Callable[[Any, dict], jax.Array]):
    """evaluate(carry, key) -> eval/* means over `num_envs` fresh episodes of up to the env's
    episode length, acting with `act(carry, obs)` (deterministic).

    eval/episode_reward, eval/episode_length, eval/survival_rate (never terminated), each
    task metric averaged over the steps an episode was alive, and, for a task that defines
    success (`Env.success_mode`), eval/success_rate (the fraction of successful episodes).
    """
    mode = success_mode(env)

    def evaluate(carry, key: jax.Array) -> dict:
        state = wrappers.reset_batch(env, key, num_envs)
        metric_names = tuple(k for k in state.metrics if k not in _NOT_AVERAGED)
        zeros = jnp.zeros((num_envs,), jnp.float32)

        def one_step(c, _):
            state, alive, fell, ret, length, sums, success = c
            nstate = wrappers.step_batch(env, state, act(carry, state.obs))
            ret = ret + nstate.reward * alive
            length = length + alive
            sums = {k: sums[k] + nstate.metrics[k] * alive for k in metric_names}
            if mode is not None:  # an ended episode keeps the success it ended with
                folded = fold_success(mode, success, nstate.metrics[SUCCESS_METRIC])
                success = jnp.where(alive > 0.0, folded, success)
            terminated = nstate.done * (1.0 - nstate.info["truncation"])
            fell = jnp.maximum(fell, terminated * alive)
            alive = alive * (1.0 - nstate.done)
            return (nstate, alive, fell, ret, length, sums, success), None

        init_c = (state, zeros + 1.0, zeros, zeros, zeros, {k: zeros for k in metric_names},
                  zeros if mode is not None else None)
        (_, _, fell, ret, length, sums, success), _ = jax.lax.scan(
            one_step, init_c, None, length=int(env.episode_length)
        )
        out = {
            "eval/episode_reward": jnp.mean(ret),
            "eval/episode_length": jnp.mean(length),
            "eval/survival_rate": 1.0 - jnp.mean(fell),
        }
        if mode is not None:
            out["eval/success_rate"] = jnp.mean(success)
        per_step = jnp.maximum(length, 1.0)
        for k in metric_names:
            out[f"eval/{metric_name(k)}"] = jnp.mean(sums[k] / per_step)
        return out

    return evaluate
