"""Where runs and their checkpoints live on disk: paths only (no jax, no orbax).

    <checkpoint_dir>/<run>/            config.yaml, provenance.json, metrics.jsonl, ...
    <checkpoint_dir>/<run>/checkpoints/<iteration>/   one complete orbax step

Kept free of heavy imports so the command line can resolve `--resume` and
refuse bad input before anything is compiled or written.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import time
from typing import Any

STEPS_DIRNAME = "checkpoints"
# a step directory orbax has finished: its name is the step and it holds this file
_COMPLETE_MARKER = "_CHECKPOINT_METADATA"


#: what a run writes in its own directory besides checkpoints (each must be a file if present)
RUN_FILES = ("config.yaml", "provenance.json", "metrics.jsonl", "learning_curve.png")
DISCARD_FLAG = "--discard-later-steps"


class OutputError(ValueError):
    """An output location a run cannot use, or a resume that would overwrite its own
    later work; the message is one line, for the command line to print."""


def complete_steps(steps_dir: pathlib.Path) -> list[int]:
    """Steps under `steps_dir` that orbax finished writing, ascending."""
    steps_dir = pathlib.Path(steps_dir)
    if not steps_dir.is_dir():
        return []
    return sorted(
        int(p.name) for p in steps_dir.iterdir()
        if p.name.isdigit() and (p / _COMPLETE_MARKER).is_file()
    )


def find_step(path: str | os.PathLike, checkpoint_dir: str | os.PathLike | None = None
              ) -> tuple[pathlib.Path, int]:
    """(steps_dir, step) for a checkpoint named the ways a user names one.

    `path` is a run directory (`<checkpoint_dir>/<run>`), its `checkpoints/`
    directory, one step directory (`.../checkpoints/<iteration>`), or `latest`:
    the newest complete step of any run under `checkpoint_dir`. A directory
    resolves to its newest complete step. FileNotFoundError (one line) otherwise.
    """
    if str(path) == "latest":
        root = pathlib.Path(os.path.expanduser(str(checkpoint_dir or "checkpoints")))
        found = [
            ((steps_dir / str(step) / _COMPLETE_MARKER).stat().st_mtime_ns, steps_dir, step)
            for steps_dir in (root.glob(f"*/{STEPS_DIRNAME}") if root.is_dir() else [])
            for step in complete_steps(steps_dir)[-1:]
        ]
        if not found:
            raise FileNotFoundError(f"latest: no complete checkpoint under {root}/")
        _, steps_dir, step = max(found, key=lambda item: item[0])
        return steps_dir.resolve(), step
    p = pathlib.Path(os.path.expanduser(str(path)))
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {path}: no such file or directory")
    if p.name.isdigit() and (p / _COMPLETE_MARKER).is_file():
        return p.parent.resolve(), int(p.name)
    if p.name.isdigit() and p.parent.name == STEPS_DIRNAME:
        raise FileNotFoundError(f"checkpoint {path}: incomplete step (its save was interrupted)")
    steps_dir = p / STEPS_DIRNAME if (p / STEPS_DIRNAME).is_dir() else p
    steps = complete_steps(steps_dir)
    if not steps:
        raise FileNotFoundError(
            f"checkpoint {path}: no complete checkpoint step in it (expected a run directory, "
            f"its {STEPS_DIRNAME}/ directory or {STEPS_DIRNAME}/<iteration>)"
        )
    return steps_dir.resolve(), steps[-1]


def read_config(steps_dir: pathlib.Path, step: int) -> dict[str, Any]:
    """The resolved config saved with one step (plain JSON; no orbax needed)."""
    return json.loads((pathlib.Path(steps_dir) / str(step) / "config" / "metadata").read_text())


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


def check_writable_dir(path: str | os.PathLike, what: str) -> None:
    """OutputError (one line) unless this process can create `path` as a directory (or it
    is one) and write in it: a file in its place or on its way, no write permission, or
    a read-only file system. Nothing is created."""
    target = pathlib.Path(os.path.expanduser(str(path)))
    probe = target
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    # what is in the way: the path itself, or the ancestor it would be created under
    blocker = "" if probe == target else f"its parent {probe} "
    if not probe.is_dir():
        kind = "a broken link" if not probe.exists() else "not a directory"
        raise OutputError(f"{what} {path}: {blocker}is {kind}")
    effective = os.access in os.supports_effective_ids
    if not os.access(probe, os.W_OK | os.X_OK, effective_ids=effective):
        raise OutputError(f"{what} {path}: {blocker}is not writable by this user "
                          "(permissions or a read-only file system)")


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
        check_writable_dir(run_dir, "--resume: run directory")
        check_writable_dir(steps_dir, "--resume: checkpoints directory")
        for name in RUN_FILES:
            if os.path.lexists(run_dir / name) and not (run_dir / name).is_file():
                raise OutputError(f"--resume: {run_dir / name} is not a regular file "
                                  "(the run writes it)")
    else:
        check_writable_dir(checkpoint_dir, "run.checkpoint_dir")
    if compilation_cache:
        check_writable_dir(compilation_cache, "run.compilation_cache")


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
