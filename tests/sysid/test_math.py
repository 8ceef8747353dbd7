"""The fit's math against numbers worked out by hand: loss, CEM update, search layout."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from playground.sysid.replay import compute_huber, compute_replay_loss
from playground.sysid.robot import Layout
from playground.sysid.search import SearchConfig, compute_cem_update, init_state, make_generation


def test_huber_and_replay_loss():
    # delta 0.1: 0.05 inside -> 0.05^2 / 2 = 0.00125; -0.3 outside -> 0.1 (0.3 - 0.05) = 0.025
    e = jnp.array([0.05, -0.3, 0.0])
    assert np.allclose(compute_huber(e, 0.1), [0.00125, 0.025, 0.0])
    sim = jnp.array([[0.05, -0.3], [0.0, 0.0]])
    # mean over the 4 entries: (0.00125 + 0.025 + 0 + 0) / 4 = 0.0065625
    assert float(compute_replay_loss(sim, jnp.zeros((2, 2)), 0.1)) == pytest.approx(0.0065625)
    # a replay that blew up scores +inf, never NaN (the search must not pick it)
    assert float(compute_replay_loss(sim.at[0, 0].set(jnp.nan), jnp.zeros((2, 2)), 0.1)) == np.inf


def test_cem_update_by_hand():
    population = jnp.array([[0.0, 1.0], [0.2, 0.5], [0.4, 0.7], [1.0, 0.0]])
    losses = jnp.array([3.0, 1.0, 2.0, 9.0])
    # elites (2 lowest losses): rows 1, 2 -> mean [0.3, 0.6], std (population) [0.1, 0.1]
    # smoothing 0.5 from mean [0.5, 0.5], std [0.2, 0.4]:
    #   mean = 0.5 [0.3, 0.6] + 0.5 [0.5, 0.5] = [0.4, 0.55]
    #   std  = 0.5 [0.1, 0.1] + 0.5 [0.2, 0.4] = [0.15, 0.25]
    mean, std = compute_cem_update(jnp.array([0.5, 0.5]), jnp.array([0.2, 0.4]), population,
                                   losses, num_elites=2, smoothing=0.5, min_std=0.01)
    assert np.allclose(mean, [0.4, 0.55]) and np.allclose(std, [0.15, 0.25])
    # the floor: std never drops below min_std
    _, std = compute_cem_update(mean, jnp.zeros(2), population[:2] * 0 + 0.3, losses[:2], 2, 1.0,
                                0.05)
    assert np.allclose(std, [0.05, 0.05])


def test_layout_maps_the_unit_cube_to_bounds():
    # two joints sharing one unit; kp on a log scale in [6, 24], frictionloss linear in [0, 0.1]
    layout = Layout(joints=("a", "b"), params=("kp", "frictionloss"), units=("g",),
                    unit_of_joint=np.array([0, 0]), nominal=np.array([[12.0, 0.02]] * 2),
                    lower=np.array([[6.0, 0.0]] * 2), upper=np.array([[24.0, 0.1]] * 2))
    # z = 0.5: kp = 6 (24 / 6)^0.5 = 12; frictionloss = 0 + 0.1 * 0.5 = 0.05
    assert np.allclose(layout.values(np.array([0.5, 0.5])), [[12.0, 0.05], [12.0, 0.05]])
    # z = 0.25: kp = 6 * 4^0.25 = 8.485; z outside [0, 1] is clipped to the bounds
    assert np.allclose(layout.values(np.array([0.25, 1.7])), [[6 * 4 ** 0.25, 0.1]] * 2)
    # point() inverts values(): kp 12 -> log(2) / log(4) = 0.5; 0.02 -> 0.2
    assert np.allclose(layout.point(layout.nominal), [0.5, 0.2])
    assert np.allclose(layout.values(jnp.array([0.5, 0.2]), jnp), layout.nominal)


@pytest.mark.parametrize("optimizer", ["cem", "random"])
def test_search_finds_the_minimum_of_a_bowl(optimizer):
    """A quadratic bowl at [0.2, 0.7]: row 0 keeps the best guess, the best loss never rises."""
    import jax

    cfg = SearchConfig(optimizer=optimizer, population=64, elite_fraction=0.2, smoothing=0.8)
    target = jnp.array([0.2, 0.7])
    generation = jax.jit(make_generation(
        lambda population, data: jnp.sum((population - data) ** 2, axis=1), cfg, 2))
    state = init_state(np.array([0.9, 0.1]), cfg)
    key = jax.random.PRNGKey(0)
    best = []
    for _ in range(12):
        key, k = jax.random.split(key)
        state, metrics = generation(state, k, target)
        best.append(float(metrics["best_loss"]))
    assert best[0] <= 0.85 and all(b2 <= b1 for b1, b2 in zip(best, best[1:], strict=False))
    assert best[-1] < (1e-3 if optimizer == "cem" else 1e-2)
