"""Orbax save/restore of the whole training carry, with config, spec and metrics.

A run directory `<checkpoint_dir>/<run>/` keeps its steps under `checkpoints/`;
one step `checkpoints/<iteration>/` is one atomic orbax checkpoint of three
items, `carry` (params, optimizer state, normalizer, env state, keys, counters:
all a run needs to continue exactly), `config` (the resolved config) and `spec`
(the deploy contract), plus orbax's own `metrics` (the row logged at that
iteration; it also ranks steps for "keep the best N").

Orbax writes a step into a temporary directory and renames it when complete,
so a kill mid-save leaves the last complete step intact; the leftover
temporary directory is removed the next time a `Checkpointer` opens the run.
"""

from __future__ import annotations

import math
import pathlib
import shutil
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from playground.distributed import barrier, is_primary
from playground.runs import (
    BEST_METRIC,
    BEST_RANKINGS,
    STEPS_DIRNAME,
    best_score,
    complete_steps,
    find_step,
    read_config,
    read_metrics,
)

__all__ = ["BEST_METRIC", "STEPS_DIRNAME", "Checkpointer", "complete_steps", "find_step",
           "read_config", "read_metrics", "restore", "restore_parts", "restore_trees",
           "saved_shapes"]

ITEMS = ("carry", "config", "spec")
_TMP_SUFFIX = ".orbax-checkpoint-tmp"  # orbax writes a step here, then renames it


# --------------------------------------------------------------------------- carry <-> flat dict


def _to_json_ready(tree: Any) -> Any:
    """numpy scalars -> python numbers, non-finite floats -> strings (JSON has neither)."""
    if isinstance(tree, dict):
        return {str(k): _to_json_ready(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_to_json_ready(v) for v in tree]
    if isinstance(tree, (np.generic, np.ndarray)):
        return _to_json_ready(tree.tolist())
    if isinstance(tree, float) and not math.isfinite(tree):
        return str(tree)
    return tree


def _flatten(tree) -> dict[str, Any]:
    """{"path/to/leaf": array} for every non-empty leaf (orbax refuses zero-size arrays).

    Host arrays are copied: an async save must never read a buffer that the next
    (donating) training chunk reuses. `jax.Array` leaves are kept as they are (a
    global array may span other processes' devices): the caller passes a copy
    nothing donates (`runner.Run.snapshot`), and orbax writes this process's shards.
    """
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    flat = {}
    for path, leaf in leaves:
        arr = leaf if isinstance(leaf, jax.Array) else np.array(leaf, copy=True)
        if arr.size:
            flat[jax.tree_util.keystr(path)] = arr
    return flat


def _unflatten(flat: dict[str, Any], abstract_tree):
    """Inverse of `_flatten` against the structure of `abstract_tree` (empty leaves: zeros)."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(abstract_tree)
    leaves = []
    for path, leaf in paths:
        key = jax.tree_util.keystr(path)
        if key in flat:
            value = flat[key]
            value = value if isinstance(value, jax.Array) else np.asarray(value)
            if value.shape != tuple(leaf.shape) or value.dtype != leaf.dtype:
                raise ValueError(
                    f"checkpoint leaf {key} is {value.dtype}{list(value.shape)}, the run expects "
                    f"{leaf.dtype}{list(leaf.shape)}: the checkpoint belongs to another setup"
                )
            leaves.append(value)
        else:
            leaves.append(np.zeros(leaf.shape, leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _flatten_abstract(abstract_tree, shardings) -> dict[str, jax.ShapeDtypeStruct]:
    """{"path/to/leaf": ShapeDtypeStruct with its sharding}, keyed as `_flatten` keys."""
    leaves = jax.tree_util.tree_flatten_with_path(abstract_tree)[0]
    placed = jax.tree_util.tree_leaves(shardings)
    return {
        jax.tree_util.keystr(path): jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=where)
        for (path, leaf), where in zip(leaves, placed, strict=True)
    }


def _ranking(best_by: str):
    """Orbax's metric function for `run.keep_best_by`: a step's logged row -> its rank, a
    tuple (`runs.best_score`; a row without the ranking metrics ranks below all others)."""
    worst = (-math.inf,) * len(BEST_RANKINGS[best_by])

    def rank(metrics: dict) -> tuple[float, ...]:
        return best_score(metrics, best_by) or worst

    return rank


def _options(keep_last: int, keep_best: int, asynchronous: bool,
             best_by: str = "return") -> ocp.CheckpointManagerOptions:
    """Keep the newest `keep_last` steps AND the `keep_best` ranked by `best_by`.

    Orbax's best-checkpoint option alone may delete the newest step (it ranks
    only by the metric); the union of two preservation policies keeps both.
    """
    rank = _ranking(best_by)
    keep = [policies.LatestN(n=max(1, keep_last))]
    if keep_best > 0:
        keep.append(policies.BestN(get_metric_fn=rank, n=keep_best,
                                   keep_checkpoints_without_metrics=False))
    return ocp.CheckpointManagerOptions(
        create=True,
        enable_async_checkpointing=asynchronous,
        preservation_policy=policies.AnyPreservationPolicy(policies=keep),
        best_fn=rank,  # also what makes orbax write each step's metrics
        best_mode="max",
    )


def remove_leftovers(steps_dir: pathlib.Path) -> list[str]:
    """Delete what saves killed midway left (orbax's temporary step dirs); their names.

    Only the processes of the run that owns it write to it, so at start-up any
    temporary directory is a dead save. Done here, synchronously, rather than by orbax's
    background clean-up, so that it is finished when the run starts saving.
    """
    steps_dir = pathlib.Path(steps_dir)
    if not steps_dir.is_dir():
        return []
    removed = []
    for path in sorted(steps_dir.iterdir()):
        if _TMP_SUFFIX in path.name:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


class Checkpointer:
    """Saves the steps of one run directory; opening it removes leftovers of killed saves.

    With several processes every one opens it and calls `save` for the same
    steps (orbax synchronizes them); process 0 alone removes leftovers.
    """

    def __init__(self, directory: pathlib.Path, keep: int = 3, keep_best: int = 1,
                 asynchronous: bool = True, best_by: str = "return"):
        self.directory = pathlib.Path(directory).resolve()
        self.removed_leftovers = remove_leftovers(self.directory) if is_primary() else []
        barrier("playground-checkpoint-leftovers")  # nobody opens the steps while they go
        self.manager = ocp.CheckpointManager(
            self.directory, options=_options(keep, keep_best, asynchronous, best_by),
            item_names=ITEMS
        )

    def save(self, step: int, carry, config: dict, spec: dict, metrics: dict) -> None:
        """Starts saving one step (in the background when asynchronous); `carry` is copied first."""
        self.manager.save(
            int(step),
            args=ocp.args.Composite(
                carry=ocp.args.StandardSave(_flatten(carry)),
                config=ocp.args.JsonSave(_to_json_ready(config)),
                spec=ocp.args.JsonSave(_to_json_ready(spec)),
            ),
            metrics=_to_json_ready(metrics),
            force=True,
        )

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def _saved_leaves(directory: pathlib.Path, step: int) -> dict[str, Any]:
    """{flat key: array metadata} of one step's carry, read from its metadata only."""
    saved = ocp.PyTreeCheckpointHandler().metadata(directory / str(step) / "carry")
    return getattr(saved, "tree", saved)


def saved_shapes(directory: pathlib.Path, step: int) -> dict[str, tuple[int, ...]]:
    """{flat key: shape} of one step's carry leaves, from its metadata (no array is read)."""
    return {key: tuple(leaf.shape) for key, leaf in _saved_leaves(pathlib.Path(directory), step).items()}


def _restore_leaves(manager: ocp.CheckpointManager, step: int, target: dict[str, Any],
                    items: tuple[str, ...]) -> dict[str, Any]:
    """The carry leaves named in `target` (flat keys; the checkpoint's others are not
    read) and the JSON `items` of one step."""
    return manager.restore(step, args=ocp.args.Composite(
        carry=ocp.args.PyTreeRestore(
            item=target, partial_restore=True,
            restore_args=ocp.checkpoint_utils.construct_restore_args(target)),
        **{item: ocp.args.JsonRestore() for item in items},
    ))


#: Carry leaves a checkpoint may lack: env state a later version of an env added (e.g. a
#: running average a new reward term reads), and the success of the episodes in progress
#: (tracked since tasks define success); they start at zero, as at an env reset.
ADDED_STATE_PREFIXES = (".env_state.", ".env_state[", ".episode.successes")


def restore(directory: pathlib.Path, abstract_carry, step: int | None = None,
            shardings=None, legacy_path=None) -> dict[str, Any]:
    """Restore one step (newest if `step` is None): {"step", "carry", "config", "spec",
    "metrics", "added"}.

    `abstract_carry` gives the tree structure, shapes and dtypes
    (e.g. `jax.eval_shape(train_fns.init, key)`); a leaf of another shape or dtype, or a
    missing leaf outside the env state, is a ValueError naming it. Env-state leaves the
    checkpoint lacks (state added to the env since it was saved) come back as zeros and
    are listed under "added". The carry comes back as numpy arrays, or, with
    `shardings` (a tree like `abstract_carry`), as jax.Arrays placed in them, each
    process reading only the shards it holds (zero-size leaves stay numpy zeros).
    `legacy_path(key)` names where an older layout of the carry saved a leaf (None: same
    key): such leaves are read from there.
    """
    directory = pathlib.Path(directory).resolve()
    manager = ocp.CheckpointManager(directory, item_names=ITEMS)  # saves nothing, deletes nothing
    try:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {directory}")
        if shardings is None:
            target = _flatten(
                jax.tree_util.tree_map(lambda x: np.zeros(x.shape, x.dtype), abstract_carry)
            )
        else:
            target = {
                key: leaf for key, leaf in _flatten_abstract(abstract_carry, shardings).items()
                if math.prod(leaf.shape)
            }
        saved = _saved_leaves(directory, step)
        moved = {old: key for key in target if key not in saved
                 for old in [legacy_path(key) if legacy_path else None] if old in saved}
        target = {old: target[key] for old, key in moved.items()} | {
            key: leaf for key, leaf in target.items() if key not in moved.values()}
        added = sorted(key for key in target if key not in saved)
        lost = [key for key in added if not key.startswith(ADDED_STATE_PREFIXES)]
        if lost:
            raise ValueError(f"checkpoint {directory / str(step)} has no {lost[0]}: it belongs "
                             "to another setup")
        target = {key: leaf for key, leaf in target.items() if key in saved}
        restored = _restore_leaves(manager, step, target, ("config", "spec"))
        carry = {moved.get(key, key): value for key, value in restored["carry"].items()}
    finally:
        manager.close()
    return {
        "step": int(step),
        "carry": _unflatten(carry, abstract_carry),
        "config": restored["config"],
        "spec": restored["spec"],
        "metrics": read_metrics(directory, step),
        "added": added,
    }


def restore_parts(directory: pathlib.Path, step: int, prefixes: tuple[str, ...]
                  ) -> tuple[dict[str, np.ndarray], dict]:
    """The carry leaves whose flat key starts with one of `prefixes` (e.g. ".params"),
    as numpy, and the step's spec: what a warm start takes from another run. Only
    those leaves are read, whatever else the carry held (another env count, AMP on
    or off)."""
    directory = pathlib.Path(directory).resolve()
    manager = ocp.CheckpointManager(directory, item_names=ITEMS)
    try:
        target = {key: np.zeros(leaf.shape, leaf.dtype)
                  for key, leaf in _saved_leaves(directory, step).items()
                  if key.startswith(prefixes)}
        restored = _restore_leaves(manager, step, target, ("spec",))
    finally:
        manager.close()
    return {key: np.asarray(value) for key, value in restored["carry"].items()}, restored["spec"]


def restore_trees(directory: pathlib.Path, step: int, abstract: dict[str, Any]
                  ) -> tuple[dict[str, Any], dict]:
    """Parts of one step's carry, each named by its flat-key prefix (e.g. ".params.policy")
    and shaped like its abstract tree there (arrays or `jax.ShapeDtypeStruct`s), as numpy;
    and the step's spec. Only those
    leaves are read. A leaf the abstract tree has and the checkpoint lacks, or one of
    another shape or dtype, is a ValueError naming it."""
    flat, spec = restore_parts(directory, step, tuple(abstract))
    trees = {}
    for prefix, tree in abstract.items():
        part = {key[len(prefix):]: value for key, value in flat.items() if key.startswith(prefix)}
        tree = jax.tree_util.tree_map(lambda x: np.zeros(x.shape, x.dtype), tree)
        wanted = set(_flatten(tree))
        lost = sorted(wanted - set(part))
        if lost:
            raise ValueError(f"checkpoint {pathlib.Path(directory) / str(step)} has no "
                             f"{prefix}{lost[0]}: it belongs to another setup")
        trees[prefix] = _unflatten(part, tree)
    return trees, spec
