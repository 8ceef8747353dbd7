"""Where a run came from: git commit, dirty flag, lockfile hash, versions, command line."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys

from playground.serve.spec import file_sha256
from playground.tasks.registry import PROJECT_ROOT

PACKAGES = ("jax", "jaxlib", "brax", "flax", "mujoco", "mujoco-mjx", "optax", "orbax-checkpoint",
            "numpy", "ml-collections")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def collect(argv: list[str] | None = None) -> dict:
    """A JSON-ready record of code, environment and command for the run directory and spec."""
    lock = PROJECT_ROOT / "uv.lock"
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "lockfile_sha256": file_sha256(lock) if lock.exists() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "command": list(sys.argv if argv is None else argv),
    }
