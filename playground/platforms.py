"""Which platform jax runs on: `run.device` (`--device`) and JAX_PLATFORMS, checked first.

jax answers `JAX_PLATFORMS=cuda` on a CPU-only install with a bare `AssertionError`
from deep inside its backend set-up, at the first device touch. The CLIs call
`check_jax_platforms()` (train.py: `select_platform(cfg.run.device)`) before anything
touches a backend (and before `jax.distributed.initialize`, which must come first), so
the user gets one line: what was asked, that this jax cannot do it, and how to get a jax
that can. Those checks import no jax and start no backend: jax finds its accelerators
through plugins (the `jax_plugins` namespace package and entry points), and their
presence is read from the installed files. `use_platform` and `device_line` are the
later steps of the command line, after the heavy imports.
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


def check_jax_platforms(value: str | None = None, asked_by: str | None = None) -> None:
    """Raise `PlatformError` when JAX_PLATFORMS (or `value`) names an accelerator that no
    installed plugin provides. cpu, unknown names and an unset variable pass. `asked_by`
    names the setting that asked (default: JAX_PLATFORMS=<value>)."""
    value = os.environ.get("JAX_PLATFORMS", "") if value is None else value
    wanted = [p.strip().lower() for p in value.split(",") if p.strip()]
    plugins = None
    for platform in wanted:
        if platform not in _PROVIDERS:
            continue
        plugins = jax_plugins() if plugins is None else plugins
        if not any(s in name for name in plugins for s in _PROVIDERS[platform]):
            version = importlib.metadata.version("jax")
            instead = "pass --device cpu" if asked_by else "unset JAX_PLATFORMS"
            raise PlatformError(
                f"{asked_by or f'JAX_PLATFORMS={value}'}: this jax ({version}) has no "
                f"{platform.upper()} backend; {_INSTALL[platform]}, or {instead} to run on the CPU")


#: run.device -> the platform it asks jax for, and the JAX_PLATFORMS values that agree
_DEVICES = {"cpu": ("cpu", ("cpu",)), "gpu": ("cuda", ("cuda", "gpu"))}


def select_platform(device: str) -> str | None:
    """The jax platform `run.device` asks for: "cpu", "cuda", or None for auto (then
    JAX_PLATFORMS as set, else jax's own choice: its GPU when this jax has CUDA and sees
    one, else the CPU). PlatformError (one line) for gpu on a jax without CUDA, or for
    a JAX_PLATFORMS that names another platform. Imports no jax."""
    current = os.environ.get("JAX_PLATFORMS", "").strip()
    if device == "auto":
        check_jax_platforms(current)
        return None
    platform, agreeing = _DEVICES[device]
    first = current.split(",")[0].strip().lower()
    if current and first not in agreeing:
        raise PlatformError(f"--device {device} (run.device) and JAX_PLATFORMS={current} ask for "
                            "different platforms: unset JAX_PLATFORMS or pass --device auto")
    check_jax_platforms(platform, asked_by=f"--device {device} (run.device)")
    return platform


def use_platform(platform: str | None) -> None:
    """Make jax start `platform` (from `select_platform`; None: leave jax's choice). Call it
    before anything touches a device: jax starts its backends once per process."""
    if platform is not None:
        import jax

        jax.config.update("jax_platforms", platform)


def device_line(devices: int = 0) -> str:
    """'device: cpu x1': the platform jax started and the devices the run uses (`devices`:
    run.devices, 0 = all). Starts the backends: PlatformError (one line) when the platform
    asked for has no usable device (a CUDA jax on a machine without a visible GPU)."""
    import jax

    try:
        local = jax.local_devices()
    except RuntimeError as error:  # e.g. "Unable to initialize backend 'cuda': ..."
        raise PlatformError(f"jax cannot start the platform asked for: "
                            f"{str(error).splitlines()[0]}") from None
    used = min(int(devices) or len(local), len(local))
    line = f"device: {local[0].platform} x{used}"
    if used < len(local):
        line += f" (of {len(local)})"
    if jax.process_count() > 1:
        line += f" per process, {jax.process_count()} processes"
    return line
