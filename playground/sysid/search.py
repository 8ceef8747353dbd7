"""Derivative-free search over the unit cube: the cross-entropy method and random search.

Both are one pure `generation(state, key) -> (state, metrics)` over a population
evaluated by a batched loss; the caller jits it once and calls it per generation.
Row 0 of every population is the current best guess (the CEM mean, the best point
found so far), so the best loss never rises and generation 0 scores the start point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp

F32 = jnp.float32


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """How the search samples (the CLI's --optimizer, --population, --elite-fraction, ...)."""

    optimizer: str = "cem"  # cem | random
    population: int = 256
    elite_fraction: float = 0.2
    #: weight of the elites' statistics in the new mean and std (1: forget the old ones)
    smoothing: float = 0.7
    init_std: float = 0.25  # of the unit cube, per dimension
    min_std: float = 0.01  # floor: the search keeps exploring a little

    @property
    def num_elites(self) -> int:
        return max(2, int(round(self.elite_fraction * self.population)))


@flax.struct.dataclass
class SearchState:
    mean: jax.Array  # [D] CEM sampling mean (random search: unused, kept equal to best)
    std: jax.Array  # [D]
    best: jax.Array  # [D] best point evaluated so far
    best_loss: jax.Array  # []


def init_state(start, cfg: SearchConfig) -> SearchState:
    start = jnp.asarray(start, F32)
    return SearchState(mean=start, std=jnp.full_like(start, cfg.init_std), best=start,
                       best_loss=jnp.asarray(jnp.inf, F32))


def compute_cem_update(mean, std, population, losses, num_elites: int, smoothing: float,
                       min_std: float):
    """New (mean [D], std [D]) from a population [N, D] and its losses [N].

    The `num_elites` lowest-loss rows give a mean and a standard deviation; each moves
    the old value by `smoothing` of the way: new = smoothing * elite + (1 - smoothing) * old.
    """
    _, idx = jax.lax.top_k(-losses, num_elites)
    elites = population[idx]
    new_mean = smoothing * elites.mean(axis=0) + (1.0 - smoothing) * mean
    new_std = smoothing * elites.std(axis=0) + (1.0 - smoothing) * std
    return new_mean, jnp.maximum(new_std, min_std)


def sample_population(state: SearchState, key: jax.Array, cfg: SearchConfig, dim: int):
    """[N, D] candidates in the unit cube; row 0 the current best guess."""
    n = cfg.population
    if cfg.optimizer == "cem":
        noise = jax.random.normal(key, (n, dim), F32)
        population = jnp.clip(state.mean + state.std * noise, 0.0, 1.0)
        first = state.mean
    else:
        population = jax.random.uniform(key, (n, dim), F32)
        first = state.best
    return population.at[0].set(first)


def make_generation(evaluate: Callable, cfg: SearchConfig, dim: int):
    """generation(state, key, data) -> (state, metrics); `evaluate(population [N, D], data)`
    -> [N] losses (`data`: whatever the loss reads, passed through)."""

    def generation(state: SearchState, key: jax.Array, data):
        population = sample_population(state, key, cfg, dim)
        losses = evaluate(population, data)
        i = jnp.argmin(losses)
        improved = losses[i] < state.best_loss
        best = jnp.where(improved, population[i], state.best)
        best_loss = jnp.minimum(losses[i], state.best_loss)
        if cfg.optimizer == "cem":
            mean, std = compute_cem_update(state.mean, state.std, population, losses,
                                           cfg.num_elites, cfg.smoothing, cfg.min_std)
        else:
            mean, std = best, state.std
        finite = jnp.isfinite(losses)
        metrics = {
            "best_loss": best_loss,
            "start_loss": losses[0],  # the loss of row 0 (generation 0: the model's values)
            "median_loss": jnp.median(jnp.where(finite, losses, jnp.max(jnp.where(finite, losses, 0)))),
            "std_mean": std.mean(),
            "diverged": jnp.sum(~finite),
        }
        return SearchState(mean=mean, std=std, best=best, best_loss=best_loss), metrics

    return generation
