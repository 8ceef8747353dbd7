"""One test over every registry entry: build, jit reset and step once, shapes, no NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import config
from playground.tasks import registry, wrappers

NUM_ENVS = 2


@pytest.mark.parametrize("task", sorted(registry.TASKS))
def test_task_resets_and_steps(task):
    cfg = config.resolve(None, [("env.task", task)], verify=True)
    env = registry.get_task(task).make_env(cfg)
    config.validate_reward_weights(cfg, env.reward_terms)  # the YAML's weights fit the env

    def rollout(key):
        state = wrappers.reset_batch(env, key, NUM_ENVS)
        fresh = wrappers.reset_batch(env, jax.random.fold_in(key, 1), NUM_ENVS)
        actions = jax.random.uniform(key, (3, NUM_ENVS, env.action_size), minval=-1, maxval=1)

        def body(s, a):
            ns = wrappers.step_batch(env, s, a)
            return wrappers.autoreset(ns, fresh), ns

        return state, jax.lax.scan(body, state, actions)[1]

    first, steps = jax.jit(rollout)(jax.random.PRNGKey(0))
    for name, size in env.observation_size.items():
        assert first.obs[name].shape == (NUM_ENVS, size)
        assert steps.obs[name].shape == (3, NUM_ENVS, size)
        assert steps.obs[name].dtype == jnp.float32
        assert np.isfinite(np.asarray(steps.obs[name])).all()
    assert steps.reward.shape == (3, NUM_ENVS) and np.isfinite(np.asarray(steps.reward)).all()
    assert steps.done.dtype == jnp.float32
    assert np.asarray(steps.metrics["nan_resets"]).sum() == 0
    for term in env.reward_terms:
        assert f"reward/{term}" in steps.metrics
    # reset and step produce the same pytree (so auto-reset can select between them)
    assert jax.tree_util.tree_structure(first) == jax.tree_util.tree_structure(
        jax.tree_util.tree_map(lambda x: x[0], steps)
    )
    spec = env.policy_spec()
    assert spec["ctrl_dt"] == pytest.approx(cfg.env.ctrl_dt)
    assert len(spec["actuator_names"]) == env.action_size


def test_every_task_has_its_yaml():
    for entry in registry.TASKS.values():
        assert entry.config_path.exists(), entry.config_path
        assert config.load_config_file(entry.config_path)["env"]["task"] == entry.name
