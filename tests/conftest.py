"""Suite-wide setup: one persistent XLA cache shared by in-process tests and CLI subprocesses.

Every function the suite compiles is compiled once per machine; later runs (and
the subprocess tests, which use the CLI's default cache) load it from disk.
"""

import os
import pathlib

import pytest

CACHE = pathlib.Path(os.path.expanduser("~/.cache/playground/jax"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # XLA's C++ chatter off in test logs


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache():
    import jax

    CACHE.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(CACHE))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    yield


PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
