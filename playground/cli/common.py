"""What the policy commands (play, sim2sim) do alike after their arguments parse."""

from __future__ import annotations

import json
import os
import pathlib
import sys
from collections.abc import Callable, Iterable

from playground import paths  # paths only: bad input fails before jax


def run_and_print_summary(work: Callable[[], dict], *bad_input: type[Exception]) -> int:
    """Headless GL for the renderer and quiet XLA (side effects belong to the CLI), then
    `work()`; its summary goes to stdout as one JSON line (exit 0). Bad input found on the
    way (a config, a file, a checkpoint or bundle of another setup, `bad_input`): one line
    on stderr, exit 2."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from playground.config import ConfigError
    from playground.platforms import check_jax_platforms

    try:
        check_jax_platforms()  # JAX_PLATFORMS=cuda without a CUDA jax: one line, exit 2
        summary = work()
    except (ConfigError, FileNotFoundError, ValueError, *bad_input) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


def parse_video_size(text: str, error: type[Exception]) -> tuple[int, int]:
    """`--video-size HxW` -> (H, W); anything else raises `error` in one line."""
    try:
        height, width = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise error(f"--video-size {text!r}: expected HxW, e.g. 480x640") from None
    return height, width


def check_output_files(outputs: Iterable[tuple[str, pathlib.Path | None, str]],
                       error: type[Exception]) -> None:
    """For each given (flag, path, suffix): the file name's suffix, then that the file can be
    written (before anything is loaded); a problem raises `error` in one line."""
    for flag, path, suffix in outputs:
        if path is None:
            continue
        if path.suffix != suffix:
            raise error(f"{path}: expected a {suffix} file name")
        try:
            paths.check_output(path, flag)
        except paths.OutputError as e:
            raise error(str(e)) from None
