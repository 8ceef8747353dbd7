"""Output locations checked before any work (no jax): a bad path fails in one line, first.

A command that writes (a training run's directory, a recording, a video, a bundle) checks
where it will write before it compiles, loads a policy or runs an episode, so a read-only
or mistyped location never loses the work done before the write.
"""

from __future__ import annotations

import os
import pathlib
import tempfile


class OutputError(ValueError):
    """An output location that cannot be written; the message is one line."""


def probe_write(directory: pathlib.Path) -> None:
    """Write and remove one empty temporary file in `directory` (OSError when it cannot):
    permission bits alone are not enough (root ignores them, a read-only mount or /proc
    does not show in them)."""
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
        pass


def check_output(path: str | os.PathLike, what: str, *, directory: bool = False) -> pathlib.Path:
    """`path` (expanded) if this process can create or replace it there; OutputError otherwise.

    `directory`: the output is a directory (made with its parents when missing) rather than
    a file. What is in the way is named: a file where a directory goes (the path or an
    ancestor it would be made under), a directory where a file goes, a broken link, or a
    place this process cannot write (`probe_write` in the directory that holds the
    output, or in its nearest existing ancestor). Nothing is left behind.
    """
    target = pathlib.Path(os.path.expanduser(str(path)))
    if target.is_dir() and not directory:
        raise OutputError(f"{what} {path}: is a directory, expected a file name")
    probe = target if directory else target.parent
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    where = "" if probe == target else f"its parent {probe} "
    if not probe.is_dir():
        kind = "a broken link" if not probe.exists() else "not a directory"
        raise OutputError(f"{what} {path}: {where}is {kind}")
    try:
        probe_write(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise OutputError(f"{what} {path}: {where}is not writable ({reason})") from None
    return target
