"""Checkpoint round trip: every leaf of a carry-like tree, including zero-size ones."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from playground import checkpoint


@struct.dataclass
class Carry:
    params: dict
    empty: jnp.ndarray  # e.g. mjx.Data.act for a model without activations
    key: jnp.ndarray
    count: jnp.ndarray
    amp: object = None


def _carry():
    return Carry(
        params={"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)},
        empty=jnp.zeros((4, 0)),
        key=jnp.array([1, 2], jnp.uint32),
        count=jnp.array(7, jnp.int32),
    )


def test_flatten_skips_empty_leaves_and_unflatten_restores_them():
    carry = _carry()
    flat = checkpoint._flatten(carry)
    assert not any(v.size == 0 for v in flat.values())
    back = checkpoint._unflatten(flat, carry)
    assert back.empty.shape == (4, 0) and back.amp is None
    np.testing.assert_array_equal(back.params["w"], carry.params["w"])
    assert back.key.dtype == np.uint32 and int(back.count) == 7


def test_save_then_restore_everything(tmp_path):
    carry = _carry()
    saver = checkpoint.Checkpointer(tmp_path / "ck", keep=2)
    for step in (1, 2, 3):
        saver.save(step, carry, {"ppo": {"lr": 1e-3}}, {"joint_names": ["a"]},
                   {"iteration": step, "x": np.float32(0.5)})
    saver.close()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir() if p.name.isdigit()) == ["2", "3"]
    out = checkpoint.restore(tmp_path / "ck", carry)
    assert out["step"] == 3 and out["config"] == {"ppo": {"lr": 1e-3}}
    assert out["spec"] == {"joint_names": ["a"]} and out["metrics"]["x"] == 0.5
    np.testing.assert_array_equal(out["carry"].params["b"], np.ones(3))
    assert checkpoint.restore(tmp_path / "ck", carry, step=2)["metrics"]["iteration"] == 2


def test_keeps_the_newest_k_and_the_best_n_together(tmp_path):
    carry = _carry()
    saver = checkpoint.Checkpointer(tmp_path / "ck", keep=2, keep_best=1)
    rewards = {1: 5.0, 2: 50.0, 3: 7.0, 4: None, 5: 6.0, 6: 1.0}  # None: not evaluated
    for step, reward in rewards.items():
        row = {"iteration": step} | ({} if reward is None else {checkpoint.BEST_METRIC: reward})
        saver.save(step, carry, {}, {}, row)
    saver.close()
    # newest two (5, 6) and the best (2); orbax's best-only option would have dropped 6
    assert checkpoint.complete_steps(tmp_path / "ck") == [2, 5, 6]
    assert checkpoint.read_metrics(tmp_path / "ck", 2)[checkpoint.BEST_METRIC] == 50.0


#: (eval/success_rate, eval/episode_reward) logged at each step; None: not evaluated
HISTORY = {1: (0.5, 900.0), 2: (0.75, 300.0), 3: (0.75, 100.0), 4: None, 5: (0.25, 990.0),
           6: (0.5, 10.0)}


@pytest.mark.parametrize("by, best", [("success_rate", 2), (None, 5)])
def test_keep_best_ranks_by_success_rate_with_ties_broken_by_return(tmp_path, by, best):
    """By success rate, steps 2 and 3 tie at 0.75 and the older 2 has the higher return: 2
    is kept (beside the newest two, 5 and 6) and is RUN/best. By return (the default; a run
    saved before run.keep_best_by existed: None) 5 (990) is, one of the newest anyway."""
    run_dir = tmp_path / "run"
    saver = checkpoint.Checkpointer(run_dir / checkpoint.STEPS_DIRNAME, keep=2, keep_best=1,
                                    best_by=by or "return")
    config = {"run": {"keep_best_by": by}} if by else {"run": {}}
    for step, logged in HISTORY.items():
        row = {"iteration": step} | ({} if logged is None else {
            "eval/success_rate": logged[0], checkpoint.BEST_METRIC: logged[1]})
        saver.save(step, _carry(), config, {}, row)
    saver.close()
    assert checkpoint.complete_steps(run_dir / checkpoint.STEPS_DIRNAME) == sorted({best, 5, 6})
    assert checkpoint.find_step(run_dir / "best")[1] == best


def test_opening_a_run_removes_leftovers_of_a_killed_save(tmp_path):
    saver = checkpoint.Checkpointer(tmp_path / "ck")
    saver.save(1, _carry(), {}, {}, {"iteration": 1})
    saver.close()
    leftover = tmp_path / "ck" / "2.orbax-checkpoint-tmp-1700000000000000"
    (leftover / "carry").mkdir(parents=True)  # what a kill mid-save leaves
    assert checkpoint.complete_steps(tmp_path / "ck") == [1]  # never taken for a checkpoint
    checkpoint.Checkpointer(tmp_path / "ck").close()
    assert not leftover.exists() and checkpoint.complete_steps(tmp_path / "ck") == [1]


def test_find_step_accepts_run_dir_steps_dir_step_dir_and_latest(tmp_path):
    run = tmp_path / "runs" / "r1"
    saver = checkpoint.Checkpointer(run / checkpoint.STEPS_DIRNAME)
    for step in (4, 8):
        saver.save(step, _carry(), {"seed": step}, {}, {"iteration": step})
    saver.close()
    steps_dir = (run / "checkpoints").resolve()
    assert checkpoint.find_step(run) == (steps_dir, 8)
    assert checkpoint.find_step(run / "checkpoints") == (steps_dir, 8)
    assert checkpoint.find_step(run / "checkpoints" / "4") == (steps_dir, 4)
    assert checkpoint.find_step("latest", tmp_path / "runs") == (steps_dir, 8)
    assert checkpoint.read_config(steps_dir, 4) == {"seed": 4}
    with pytest.raises(FileNotFoundError, match="no complete checkpoint step"):
        checkpoint.find_step(tmp_path)


def test_restore_names_a_leaf_of_another_shape(tmp_path):
    saver = checkpoint.Checkpointer(tmp_path / "ck")
    saver.save(1, _carry(), {}, {}, {})
    saver.close()
    other = _carry().replace(params={"w": jnp.zeros((2, 4)), "b": jnp.ones(3)})
    with pytest.raises(ValueError, match=r"\['w'\]"):
        checkpoint.restore(tmp_path / "ck", other)


@struct.dataclass
class EnvCarry:
    params: dict
    env_state: dict


def test_env_state_added_since_the_save_restores_as_zeros_and_other_gaps_are_errors(tmp_path):
    saved = EnvCarry(params={"w": jnp.ones(2)}, env_state={"phase": jnp.full(3, 0.5)})
    saver = checkpoint.Checkpointer(tmp_path / "ck")
    saver.save(1, saved, {}, {}, {})
    saver.close()
    newer = EnvCarry(params={"w": jnp.zeros(2)},
                     env_state={"phase": jnp.zeros(3), "yaw_rate_avg": jnp.ones(3)})
    out = checkpoint.restore(tmp_path / "ck", newer)
    assert out["added"] == [".env_state['yaw_rate_avg']"]
    np.testing.assert_array_equal(out["carry"].env_state["yaw_rate_avg"], np.zeros(3))
    np.testing.assert_array_equal(out["carry"].env_state["phase"], np.full(3, 0.5))
    np.testing.assert_array_equal(out["carry"].params["w"], np.ones(2))
    assert checkpoint.restore(tmp_path / "ck", saved)["added"] == []
    wider = EnvCarry(params={"w": jnp.zeros(2), "b": jnp.zeros(2)}, env_state=saved.env_state)
    with pytest.raises(ValueError, match=r"has no \.params\['b'\]: it belongs to another setup"):
        checkpoint.restore(tmp_path / "ck", wider)
