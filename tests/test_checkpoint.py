"""Checkpoint round trip: every leaf of a carry-like tree, including zero-size ones."""

import jax.numpy as jnp
import numpy as np
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
