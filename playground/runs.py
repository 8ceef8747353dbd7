"""Where runs and their checkpoints live on disk: paths only (no jax, no orbax).

    <checkpoint_dir>/<run>/            config.yaml, provenance.json, metrics.jsonl, ...
    <checkpoint_dir>/<run>/checkpoints/<iteration>/   one complete orbax step

Kept free of heavy imports so the command line can resolve `--resume` and
refuse bad input before anything is compiled or written.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
from collections.abc import Callable
from typing import Any

STEPS_DIRNAME = "checkpoints"
# a step directory orbax has finished: its name is the step and it holds this file
_COMPLETE_MARKER = "_CHECKPOINT_METADATA"
#: What names the step `run.keep_best` keeps: `<run dir>/best`.
BEST_NAME = "best"
#: The logged metric that ranks checkpoints for `run.keep_best` (higher is better).
BEST_METRIC = "eval/episode_reward"
#: Files of a complete step that a restore reads: without one, orbax fails with its own
#: internal message ("Metadata file ... does not exist", "Error opening zarr driver").
REQUIRED_FILES = (
    _COMPLETE_MARKER,  # orbax finished the step
    "carry/_METADATA",  # the tree of saved leaves (read before any array)
    "carry/manifest.ocdbt",  # the index of the array data
    "config/metadata",  # the resolved config (JSON)
    "spec/metadata",  # the deploy contract (JSON)
)
#: The carry's array data: not checked file by file (the manifest names them), but there
#: must be some: in `carry/d/`, where orbax merges the processes' data, or, where a step
#: has no merged `d/`, in `carry/ocdbt.process_*/d/`. (`_sharding`, `array_metadatas/`,
#: `metrics/` and the commit_success.txt files are not needed to restore.)
DATA_DIR = "carry/d"


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def step_problem(step_dir: str | os.PathLike) -> str | None:
    """None when `step_dir` holds what a restore reads, else what it lacks (one phrase).

    Cheap (a few stat calls, no orbax): it catches an interrupted save, files deleted by
    hand and a disk that filled mid-save, not a single data file lost from `carry/d/` nor
    bit rot inside one (the restore itself reports those).
    """
    step_dir = pathlib.Path(step_dir)
    missing = [name for name in REQUIRED_FILES if not (step_dir / name).is_file()]
    data = step_dir / DATA_DIR
    holders = [data] if data.is_dir() else list(step_dir.glob("carry/ocdbt.process_*/d"))
    if not any(any(d.iterdir()) for d in holders):
        missing.append(f"{DATA_DIR}/")
    if not missing:
        return None
    if missing[0] == _COMPLETE_MARKER:
        return "incomplete (its save was interrupted)"
    return f"damaged (missing {', '.join(missing)})"


def complete_steps(steps_dir: pathlib.Path) -> list[int]:
    """Steps under `steps_dir` that orbax finished writing, ascending (damaged ones included)."""
    steps_dir = pathlib.Path(steps_dir)
    if not steps_dir.is_dir():
        return []
    return sorted(
        int(p.name) for p in steps_dir.iterdir()
        if p.name.isdigit() and (p / _COMPLETE_MARKER).is_file()
    )


def restorable_steps(steps_dir: pathlib.Path, warn: Callable[[str], None] | None = None
                     ) -> list[int]:
    """Complete steps under `steps_dir` that hold what a restore reads, ascending.

    Each complete step that does not (`step_problem`) is named in one `warn` line (default:
    stderr) and skipped, never deleted.
    """
    warn = warn or _warn
    good = []
    for step in complete_steps(steps_dir):
        problem = step_problem(pathlib.Path(steps_dir) / str(step))
        if problem is None:
            good.append(step)
        else:
            warn(f"skipping checkpoint {pathlib.Path(steps_dir) / str(step)}: {problem}")
    return good


def newest_restorable_step(steps_dir: pathlib.Path, warn: Callable[[str], None] | None = None
                           ) -> int | None:
    """The newest complete step under `steps_dir` that holds what a restore reads (None if
    none); each newer damaged step is named in one `warn` line (default: stderr), never
    deleted."""
    warn = warn or _warn
    for step in reversed(complete_steps(steps_dir)):
        problem = step_problem(pathlib.Path(steps_dir) / str(step))
        if problem is None:
            return step
        warn(f"skipping checkpoint {pathlib.Path(steps_dir) / str(step)}: {problem}")
    return None


def best_step(steps_dir: pathlib.Path, warn: Callable[[str], None] | None = None) -> int:
    """The restorable step with the highest logged BEST_METRIC (the newest among equals):
    the one `run.keep_best` keeps. FileNotFoundError (one line) when no step has it."""
    scored = []
    for step in restorable_steps(steps_dir, warn):
        value = read_metrics(steps_dir, step).get(BEST_METRIC)
        if isinstance(value, (int, float)) and math.isfinite(value):
            scored.append((float(value), step))
    if not scored:
        raise FileNotFoundError(
            f"{pathlib.Path(steps_dir).parent}/{BEST_NAME}: no checkpoint step logged "
            f"{BEST_METRIC} (steps carry it when an eval ran at their iteration)")
    return max(scored)[1]


def _steps_dir_of(p: pathlib.Path) -> pathlib.Path:
    return p / STEPS_DIRNAME if (p / STEPS_DIRNAME).is_dir() else p


def find_step(path: str | os.PathLike, checkpoint_dir: str | os.PathLike | None = None,
              warn: Callable[[str], None] | None = None) -> tuple[pathlib.Path, int]:
    """(steps_dir, step) for a checkpoint named the ways a user names one.

    `path` is a run directory (`<checkpoint_dir>/<run>`), its `checkpoints/`
    directory, one step directory (`.../checkpoints/<iteration>`), `<run dir>/best`
    (the step `run.keep_best` keeps: the highest logged `eval/episode_reward`), or
    `latest`: the newest step of any run under `checkpoint_dir`. A directory and
    `latest` resolve to their newest step that restores; a damaged step
    (`step_problem`) is named in one `warn` line (default: stderr) and skipped.
    FileNotFoundError (one line) otherwise, also for a damaged step named explicitly.
    """
    if str(path) == "latest":
        root = pathlib.Path(os.path.expanduser(str(checkpoint_dir or "checkpoints")))
        found = []
        for steps_dir in sorted(root.glob(f"*/{STEPS_DIRNAME}") if root.is_dir() else []):
            step = newest_restorable_step(steps_dir, warn)
            if step is not None:
                marker = steps_dir / str(step) / _COMPLETE_MARKER
                found.append((marker.stat().st_mtime_ns, steps_dir, step))
        if not found:
            raise FileNotFoundError(f"latest: no complete checkpoint under {root}/")
        _, steps_dir, step = max(found, key=lambda item: item[0])
        return steps_dir.resolve(), step
    p = pathlib.Path(os.path.expanduser(str(path)))
    if p.name == BEST_NAME and not p.exists() and p.parent.is_dir():
        steps_dir = _steps_dir_of(p.parent)
        return steps_dir.resolve(), best_step(steps_dir, warn)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {path}: no such file or directory")
    if p.name.isdigit() and ((p / _COMPLETE_MARKER).is_file() or p.parent.name == STEPS_DIRNAME):
        problem = step_problem(p)
        if problem is not None:
            raise FileNotFoundError(f"checkpoint {path}: {problem}")
        return p.parent.resolve(), int(p.name)
    steps_dir = _steps_dir_of(p)
    step = newest_restorable_step(steps_dir, warn)
    if step is None:
        raise FileNotFoundError(
            f"checkpoint {path}: no complete checkpoint step in it (expected a run directory, "
            f"its {STEPS_DIRNAME}/ directory, {STEPS_DIRNAME}/<iteration> or <run dir>/{BEST_NAME})"
        )
    return steps_dir.resolve(), step


def read_config(steps_dir: pathlib.Path, step: int) -> dict[str, Any]:
    """The resolved config saved with one step (plain JSON; no orbax needed)."""
    return json.loads((pathlib.Path(steps_dir) / str(step) / "config" / "metadata").read_text())


def read_spec(steps_dir: pathlib.Path, step: int) -> dict[str, Any]:
    """The deploy contract saved with one step (plain JSON; no orbax needed)."""
    return json.loads((pathlib.Path(steps_dir) / str(step) / "spec" / "metadata").read_text())


def read_metrics(steps_dir: pathlib.Path, step: int) -> dict[str, Any]:
    """The row logged with one step ({} when it has none)."""
    path = pathlib.Path(steps_dir) / str(step) / "metrics" / "metrics"
    return json.loads(path.read_text()) if path.is_file() else {}


def truncate_metrics(run_dir: pathlib.Path, iteration: int) -> int:
    """Drop rows of `metrics.jsonl` logged after `iteration` (and torn lines); rows dropped.

    A resumed run recomputes those iterations exactly, so their rows come back.
    The file is replaced atomically: a kill here loses nothing.
    """
    path = pathlib.Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a kill
            dropped += 1
            continue
        if int(row.get("iteration", 0)) <= iteration:
            kept.append(line)
        else:
            dropped += 1
    write_atomic(path, "".join(f"{line}\n" for line in kept))
    return dropped


def write_atomic(path: pathlib.Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old or the new file, never half."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
