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
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

from playground.paths import OutputError, check_output

STEPS_DIRNAME = "checkpoints"
# a step directory orbax has finished: its name is the step and it holds this file
_COMPLETE_MARKER = "_CHECKPOINT_METADATA"
#: What names the step `run.keep_best` keeps: `<run dir>/best`.
BEST_NAME = "best"
#: The logged metric that ranks checkpoints for `run.keep_best` (higher is better).
BEST_METRIC = "eval/episode_reward"
#: `run.keep_best_by` -> the logged metrics that rank checkpoints, compared in order (a tie
#: on the first is broken by the next); higher is better.
BEST_RANKINGS = {
    "return": (BEST_METRIC,),
    "success_rate": ("eval/success_rate", BEST_METRIC),
}
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


#: what a run writes in its own directory besides checkpoints (each must be a file if present)
RUN_FILES = ("config.yaml", "provenance.json", "metrics.jsonl", "learning_curve.png")
DISCARD_FLAG = "--discard-later-steps"


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


def best_score(metrics: dict[str, Any], by: str = "return") -> tuple[float, ...] | None:
    """The rank of a step's logged row under `run.keep_best_by` = `by` (BEST_RANKINGS):
    its metrics in order, compared as a tuple; None when the row lacks one (or one is not
    a finite number)."""
    values = tuple(metrics.get(name) for name in BEST_RANKINGS[by])
    if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return tuple(float(v) for v in values)
    return None


def keep_best_by(steps_dir: pathlib.Path, step: int) -> str:
    """The `run.keep_best_by` saved with one step ("return" for runs from before the key)."""
    return str(read_config(steps_dir, step).get("run", {}).get("keep_best_by", "return"))


def best_step(steps_dir: pathlib.Path, warn: Callable[[str], None] | None = None) -> int:
    """The restorable step ranked best by the run's `run.keep_best_by` (as saved with its
    newest step; `best_score`), the newest among equals: the one `run.keep_best` keeps.
    FileNotFoundError (one line) when no step logged what ranks it."""
    steps = restorable_steps(steps_dir, warn)
    by = keep_best_by(steps_dir, steps[-1]) if steps else "return"
    scored = []
    for step in steps:
        score = best_score(read_metrics(steps_dir, step), by)
        if score is not None:
            scored.append((score, step))
    if not scored:
        raise FileNotFoundError(
            f"{pathlib.Path(steps_dir).parent}/{BEST_NAME}: no checkpoint step logged "
            f"{' and '.join(BEST_RANKINGS[by])} (run.keep_best_by={by}; steps carry it when "
            "an eval ran at their iteration)")
    return max(scored)[1]


def _steps_dir_of(p: pathlib.Path) -> pathlib.Path:
    return p / STEPS_DIRNAME if (p / STEPS_DIRNAME).is_dir() else p


def find_step(path: str | os.PathLike, checkpoint_dir: str | os.PathLike | None = None,
              warn: Callable[[str], None] | None = None) -> tuple[pathlib.Path, int]:
    """(steps_dir, step) for a checkpoint named the ways a user names one.

    `path` is a run directory (`<checkpoint_dir>/<run>`), its `checkpoints/`
    directory, one step directory (`.../checkpoints/<iteration>`), `<run dir>/best`
    (the step `run.keep_best` keeps, ranked by `run.keep_best_by`: `best_step`), or
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


def check_run_outputs(checkpoint_dir: str, resume: str | None = None,
                      compilation_cache: str | None = None) -> None:
    """Every place a training run writes, checked before anything compiles or is written.

    A new run makes a directory under `checkpoint_dir`; a resumed run (`resume`: its step
    directory) writes in its own run directory and its checkpoints directory instead.
    OutputError (one line) names the first place that cannot be written.
    """
    if resume:
        steps_dir = pathlib.Path(os.path.expanduser(str(resume))).parent
        run_dir = steps_dir.parent
        check_output(run_dir, "--resume: run directory", directory=True)
        check_output(steps_dir, "--resume: checkpoints directory", directory=True)
        for name in RUN_FILES:
            if os.path.lexists(run_dir / name) and not (run_dir / name).is_file():
                raise OutputError(f"--resume: {run_dir / name} is not a regular file "
                                  "(the run writes it)")
    else:
        check_output(checkpoint_dir, "run.checkpoint_dir", directory=True)
    if compilation_cache:
        check_output(compilation_cache, "run.compilation_cache", directory=True)


def check_resume_step(steps_dir: pathlib.Path, step: int, discard: bool) -> None:
    """OutputError (one line) when `step` is older than the run's newest complete step and
    `discard` (--discard-later-steps) is off: training on from it would collide with the
    later steps and their logged rows. The newest step always passes."""
    later = [s for s in complete_steps(steps_dir) if s > step]
    if not later or discard:
        return
    run_dir = pathlib.Path(steps_dir).parent
    raise OutputError(
        f"{pathlib.Path(steps_dir) / str(step)} is not the run's newest step "
        f"(later: {', '.join(map(str, later))}): resume the newest with --resume {run_dir}, "
        f"start a new run from this step with --init-from {pathlib.Path(steps_dir) / str(step)}, "
        f"or add {DISCARD_FLAG} to move the later steps and the metrics rows past {step} "
        f"into {run_dir}/discarded-<time>/ and train on from {step}"
    )


def discard_later_steps(run_dir: pathlib.Path, step: int) -> str | None:
    """Move the complete steps after `step`, and the metrics rows logged after it, into
    `run_dir/discarded-<time>/` (with copies of config.yaml and provenance.json), so a
    resume from `step` loses nothing; a line saying what moved where, or None when no
    later step exists (rows past the newest step are recomputed, not discarded).

    Order for kill safety: the rows are written there first, then the steps are renamed
    (atomic each); `metrics.jsonl` is cut afterwards (by the caller's truncate_metrics).
    """
    run_dir = pathlib.Path(run_dir)
    steps_dir = run_dir / STEPS_DIRNAME
    later = [s for s in complete_steps(steps_dir) if s > step]
    if not later:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest, suffix = run_dir / f"discarded-{stamp}", 1
    while os.path.lexists(dest):
        dest, suffix = run_dir / f"discarded-{stamp}-{suffix}", suffix + 1
    (dest / STEPS_DIRNAME).mkdir(parents=True)
    for name in ("config.yaml", "provenance.json"):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, dest / name)
    rows = []
    metrics = run_dir / "metrics.jsonl"
    for line in (metrics.read_text().splitlines() if metrics.is_file() else []):
        try:
            if int(json.loads(line).get("iteration", 0)) > step:
                rows.append(line)
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            continue  # a torn line: truncate_metrics drops it too
    write_atomic(dest / "metrics.jsonl", "".join(f"{line}\n" for line in rows))
    for s in later:
        os.rename(steps_dir / str(s), dest / STEPS_DIRNAME / str(s))
    return (f"moved step(s) {', '.join(map(str, later))} and {len(rows)} metrics row(s) past "
            f"iteration {step} into {dest}/ (play, export or --init-from them there)")
