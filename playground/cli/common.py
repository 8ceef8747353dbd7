"""What the policy commands (play, sim2sim) do alike after their arguments parse."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable


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
