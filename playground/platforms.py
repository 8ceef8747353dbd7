"""Is the accelerator that JAX_PLATFORMS asks for in this jax? Checked by every CLI first.

jax answers `JAX_PLATFORMS=cuda` on a CPU-only install with a bare `AssertionError`
from deep inside its backend set-up, at the first device touch. The CLIs call
`check_jax_platforms()` before anything touches a backend (and before
`jax.distributed.initialize`, which must come first), so the user gets one line:
what was asked, that this jax cannot do it, and how to get a jax that can. Nothing
here imports jax or starts a backend: jax finds its accelerators through plugins
(the `jax_plugins` namespace package and entry points), and their presence is read
from the installed files.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pkgutil

from playground.config import ConfigError

#: platform name in JAX_PLATFORMS -> substrings of the jax plugin names that provide it
_PROVIDERS = {"cuda": ("cuda",), "gpu": ("cuda", "rocm"), "rocm": ("rocm",), "tpu": ("tpu",)}
_INSTALL = {
    "cuda": "install a CUDA jax (`uv sync --extra cuda`, or pip install 'jax[cuda12]' / "
            "'jax[cuda13]' matching this jax)",
    "gpu": "install a CUDA jax (`uv sync --extra cuda`, or pip install 'jax[cuda12]' / "
           "'jax[cuda13]' matching this jax)",
    "rocm": "install jax's ROCm plugin matching this jax",
    "tpu": "install a TPU jax (pip install 'jax[tpu]')",
}


class PlatformError(ConfigError):
    """JAX_PLATFORMS names an accelerator this jax install has no backend for (exit 2)."""


def jax_plugins() -> set[str]:
    """Names of the jax backend plugins installed (e.g. {'xla_cuda12'}); imports no jax."""
    names: set[str] = set()
    try:
        spec = importlib.util.find_spec("jax_plugins")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        names |= {m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)}
    names |= {ep.name for ep in importlib.metadata.entry_points(group="jax_plugins")}
    if importlib.util.find_spec("libtpu") is not None:  # jax loads libtpu without a plugin
        names.add("libtpu")
    return names


def check_jax_platforms(value: str | None = None) -> None:
    """Raise `PlatformError` when JAX_PLATFORMS (or `value`) names an accelerator that no
    installed plugin provides. cpu, unknown names and an unset variable pass."""
    value = os.environ.get("JAX_PLATFORMS", "") if value is None else value
    wanted = [p.strip().lower() for p in value.split(",") if p.strip()]
    plugins = None
    for platform in wanted:
        if platform not in _PROVIDERS:
            continue
        plugins = jax_plugins() if plugins is None else plugins
        if not any(s in name for name in plugins for s in _PROVIDERS[platform]):
            version = importlib.metadata.version("jax")
            raise PlatformError(
                f"JAX_PLATFORMS={value}: this jax ({version}) has no {platform.upper()} backend; "
                f"{_INSTALL[platform]}, or unset JAX_PLATFORMS to run on the CPU")
