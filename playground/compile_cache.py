"""Process-wide JAX settings from a config, set by a command line (never at import)."""

from __future__ import annotations

import os
import pathlib


def configure_jax(cfg) -> None:
    """The persistent compilation cache of `run.compilation_cache` (none when empty)."""
    import jax

    cache = cfg.run.compilation_cache
    if cache:
        path = pathlib.Path(os.path.expanduser(cache))
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
