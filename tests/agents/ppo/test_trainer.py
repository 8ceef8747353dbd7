"""The jitted PPO iteration end to end on the cheap classic task.

The cart-pole balance task must learn within a CPU-minute: from a random
policy's ~40-step episodes to a deterministic eval return above 300 (of 500).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import config, training

pytestmark = pytest.mark.slow  # a real (short) training run

EVAL_RETURN_THRESHOLD = 300.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"),
        ("ppo.num_iterations", 30),
        ("run.checkpoint_dir", str(tmp_path_factory.mktemp("ckpt"))),
        ("run.name", "learn"),
        ("run.progress", False),
    ])
    return training.Run(cfg, ["test"], log=lambda *_: None)


@pytest.fixture(scope="module")
def result(run):
    return run.train()


def test_cartpole_learns_within_a_cpu_minute(run, result):
    random_policy_eval = run.evaluate(jax.jit(run.fns.init)(run.key_init))
    assert result.final_eval["eval/episode_reward"] > EVAL_RETURN_THRESHOLD
    assert result.final_eval["eval/episode_reward"] > 3 * random_policy_eval["eval/episode_reward"]
    assert result.wall_time - result.compile_time < 60.0


def test_run_directory_holds_config_metrics_checkpoint(result):
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "provenance.json", "learning_curve.png",
            "checkpoints"} <= names
    assert (result.steps_dir / "30").is_dir()


def test_a_non_finite_update_is_discarded(run, result):
    """NaN params in the carry: the update is thrown away and counted, params stay."""
    carry = jax.device_get(result.carry)
    poisoned = jax.tree_util.tree_map(lambda x: np.full_like(x, np.nan), carry.params.value)
    carry = carry.replace(params=carry.params.replace(value=poisoned),
                          iteration=jnp.zeros((), jnp.int32))
    before = jax.device_get(carry.params)
    out, metrics = run._chunk(carry)
    assert int(out.bad_updates) == int(out.total_bad_updates) == run.derived.iterations_per_chunk
    leaves_before = jax.tree_util.tree_leaves(before.policy)
    leaves_after = jax.tree_util.tree_leaves(jax.device_get(out.params.policy))
    assert all(np.array_equal(a, b) for a, b in zip(leaves_before, leaves_after, strict=False))
    assert np.asarray(metrics["bad_update"]).tolist() == [1.0] * run.derived.iterations_per_chunk
