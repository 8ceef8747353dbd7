"""Output locations checked before any work (no jax): a bad path fails in one line, first.

A command that writes a file (a recording, a video, a bundle directory) checks where it
will write before it loads a policy or runs an episode, so a read-only or mistyped
location never loses the work done before the write.
"""

from __future__ import annotations

import os
import pathlib
import tempfile


class OutputError(ValueError):
    """An output location that cannot be written; the message is one line."""


def check_output(path: str | os.PathLike, what: str, *, directory: bool = False) -> pathlib.Path:
    """`path` (expanded) if this process can create or replace it there; OutputError otherwise.

    `directory`: the output is a directory (created with its parents when missing) rather
    than a file. The check writes and removes one empty temporary file in the directory
    that will hold the output, or in its nearest existing ancestor when that directory does
    not exist yet: permission bits alone are not enough (root ignores them, a read-only
    mount does not show in them). Nothing else is created.
    """
    path = pathlib.Path(os.path.expanduser(str(path)))
    if path.exists():
        if directory and not path.is_dir():
            raise OutputError(f"{what} {path}: exists and is not a directory")
        if not directory and path.is_dir():
            raise OutputError(f"{what} {path}: is a directory, expected a file name")
    probe_dir = path if directory and path.is_dir() else path.parent
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise OutputError(f"{what} {path}: {probe_dir} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".write-check-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise OutputError(f"{what} {path}: cannot write in {probe_dir} ({reason})") from None
    return path
