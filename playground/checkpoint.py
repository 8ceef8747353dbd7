"""Orbax save/restore of the whole training carry, with config, spec and metrics.

A checkpoint step under `<run_dir>/checkpoints/<iteration>/` holds four items:
`carry` (params, optimizer state, normalizer, env state, keys, counters: all a
run needs to continue), `config` (the resolved config), `spec` (the deploy
contract) and `metrics` (the last logged metrics).
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

ITEMS = ("carry", "config", "spec", "metrics")


def _to_json_ready(tree: Any) -> Any:
    """numpy scalars -> python numbers, recursively (JsonSave wants plain JSON)."""
    if isinstance(tree, dict):
        return {str(k): _to_json_ready(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_to_json_ready(v) for v in tree]
    if isinstance(tree, (np.generic, np.ndarray)):
        return tree.tolist()
    return tree


def _flatten(tree) -> dict[str, np.ndarray]:
    """{"path/to/leaf": array} for every non-empty leaf (orbax refuses zero-size arrays)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    flat = {}
    for path, leaf in leaves:
        arr = np.asarray(leaf)
        if arr.size:
            flat[jax.tree_util.keystr(path)] = arr
    return flat


def _unflatten(flat: dict[str, Any], abstract_tree):
    """Inverse of `_flatten` against the structure of `abstract_tree` (empty leaves: zeros)."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(abstract_tree)
    leaves = []
    for path, leaf in paths:
        key = jax.tree_util.keystr(path)
        leaves.append(np.asarray(flat[key]) if key in flat else np.zeros(leaf.shape, leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)


class Checkpointer:
    """Saves and restores the steps of one run directory."""

    def __init__(self, directory: pathlib.Path, keep: int = 3):
        self.directory = pathlib.Path(directory).resolve()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max(1, keep), create=True),
            item_names=ITEMS,
        )

    def save(self, step: int, carry, config: dict, spec: dict, metrics: dict) -> None:
        self.manager.save(
            int(step),
            args=ocp.args.Composite(
                carry=ocp.args.StandardSave(_flatten(carry)),
                config=ocp.args.JsonSave(_to_json_ready(config)),
                spec=ocp.args.JsonSave(_to_json_ready(spec)),
                metrics=ocp.args.JsonSave(_to_json_ready(metrics)),
            ),
            force=True,
        )

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def restore(directory: pathlib.Path, abstract_carry, step: int | None = None) -> dict[str, Any]:
    """Restore one step (newest if `step` is None): {"step", "carry", "config", "spec", "metrics"}.

    `abstract_carry` gives the tree structure, shapes and dtypes
    (e.g. `jax.eval_shape(train_fns.init, key)`).
    """
    manager = ocp.CheckpointManager(pathlib.Path(directory).resolve(), item_names=ITEMS)
    try:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {directory}")
        target = _flatten(
            jax.tree_util.tree_map(lambda x: np.zeros(x.shape, x.dtype), abstract_carry)
        )
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                carry=ocp.args.StandardRestore(target),
                config=ocp.args.JsonRestore(),
                spec=ocp.args.JsonRestore(),
                metrics=ocp.args.JsonRestore(),
            ),
        )
    finally:
        manager.close()
    return {
        "step": int(step),
        "carry": _unflatten(restored["carry"], abstract_carry),
        "config": restored["config"],
        "spec": restored["spec"],
        "metrics": restored["metrics"],
    }
