"""The env contract: two pure functions over an immutable State.

Every task (MJX robot, classic control, adapters) implements `Env`:
`reset(key) -> State` and `step(state, action) -> State`, both pure and jittable
for a single env; the trainer vmaps them. Static things (models, ids, limits) are
built in `__init__`; everything that changes, the rng included, lives in `State`.

Conventions every env follows (the trainer relies on them):
  * `obs` is a dict: `state` is what the actor sees (what a real robot senses),
    `privileged_state` is what the critic sees (may add simulator-only truths).
  * `done` is 1.0 when the episode ended at this step, by termination *or*
    truncation; `info["truncation"]` is 1.0 only for the time-limit case, so a
    truncated step bootstraps from V(s_T) and a terminated one does not.
  * `step` never resets: the obs it returns after `done` is the true (pre-reset)
    next observation. Auto-reset is the trainer's job (`playground.tasks.wrappers`).
  * `info["rng"]` is the env's key; `info["step"]` counts steps in the episode.
  * `metrics["reward/<term>"]` holds each weighted reward term of this step.
  * Success (optional): a task that defines per-episode success sets `success_mode` and
    writes its per-step signal, 1.0 or 0.0, to `metrics["success"]` (`SUCCESS_METRIC`,
    in `reset` too); the episode succeeds when the signal is 1.0 at its last step
    ("last") or at any of its steps ("ever"). The evaluator reports `eval/success_rate`,
    training `train/success_rate`, play and sim2sim `success_rate`: only for such tasks.
  * Domain-randomized model fields live in `info["sys"]` (a dict of arrays named
    like `mjx.Model` fields) and physics uses `model.replace(**info["sys"])`, so
    randomization is a vmap over model fields, never a swapped attribute.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

#: The per-step success signal in `State.metrics` of a task that defines success.
SUCCESS_METRIC = "success"
#: How an episode's success follows from its per-step signal: the signal at its last step,
#: or the signal at any step.
SUCCESS_MODES = ("last", "ever")


@struct.dataclass
class State:
    """One env's state. Batched states carry a leading [B] axis on every leaf."""

    data: Any  # mjx.Data (physics state)
    obs: dict[str, jax.Array]  # {"state": [obs_dim], "privileged_state": [priv_dim]}
    reward: jax.Array  # [] float32, weighted sum of the reward terms
    done: jax.Array  # [] float32, 1.0 if the episode ended at this step
    metrics: dict[str, jax.Array]  # [] float32 each: reward/<term> and task metrics
    info: dict[str, Any]  # rng, step, truncation, sys, task-specific carry


class Env:
    """Interface of a task. Subclasses set the attributes in `__init__`."""

    #: {"state": actor obs size, "privileged_state": critic obs size}
    observation_size: dict[str, int]
    #: number of action dims; actions live in [-1, 1]
    action_size: int
    #: names of the reward terms, in `reward_weights` order
    reward_terms: tuple[str, ...]
    #: names of task metrics that appear in `State.metrics` (besides reward/*)
    metric_names: tuple[str, ...] = ()
    #: (summary key, metric name) pairs play and sim2sim report for the task: the metric
    #: averaged over each episode's alive steps, then over episodes
    summary_metrics: tuple[tuple[str, str], ...] = ()
    #: None: the task defines no success; else one of SUCCESS_MODES, and every State's
    #: metrics hold the per-step signal SUCCESS_METRIC
    success_mode: str | None = None
    #: seconds between two `step` calls
    ctrl_dt: float
    #: seconds per physics step
    sim_dt: float
    #: the control steps after which an episode is truncated
    episode_length: int

    def reset(self, key: jax.Array) -> State:
        raise NotImplementedError

    def step(self, state: State, action: jax.Array) -> State:
        raise NotImplementedError

    def policy_spec(self) -> dict[str, Any]:
        """The env's half of the deploy contract (see `playground.policy_spec`)."""
        raise NotImplementedError


def success_mode(env: Any) -> str | None:
    """The env's `success_mode` (None: it defines no success); ValueError for another value."""
    mode = getattr(env, "success_mode", None)
    if mode is not None and mode not in SUCCESS_MODES:
        raise ValueError(f"{type(env).__name__}.success_mode={mode!r}: expected None or one of "
                         f"{', '.join(SUCCESS_MODES)}")
    return mode


def fold_success(mode: str, so_far: jax.Array, signal: jax.Array) -> jax.Array:
    """An episode's success after one more step, from its success so far and this step's
    signal ([B] each, 1.0 or 0.0): "last" keeps the newest signal, "ever" any 1.0 seen."""
    return jnp.maximum(so_far, signal) if mode == "ever" else signal
