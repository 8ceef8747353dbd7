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
from typing import Any

STEPS_DIRNAME = "checkpoints"
# a step directory orbax has finished: its name is the step and it holds this file
_COMPLETE_MARKER = "_CHECKPOINT_METADATA"


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
