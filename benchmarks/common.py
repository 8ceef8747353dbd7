"""Shared plumbing of the benchmark scripts: paths, JAX cache, machine facts, tables.

Importing this module is the "edge" of a benchmark process: it puts the repository
on `sys.path` and quiets XLA's C++ logs before anything imports jax, so every
benchmark script imports it first. It never imports jax itself.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shlex
import statistics
import sys
import time
from typing import Any

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: The trainer's default persistent XLA cache (`run.compilation_cache`).
DEFAULT_CACHE = "~/.cache/playground/jax"
CONFIG_DIR = REPO_ROOT / "configs"


def configure_cache(path: str | None) -> None:
    """Point JAX's persistent compilation cache at `path` the way the trainer does.

    None disables the persistent cache for this process.
    """
    import jax

    if not path:
        jax.config.update("jax_enable_compilation_cache", False)
        return
    cache = pathlib.Path(os.path.expanduser(path))
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def resolve_config(config_file: str | pathlib.Path, overrides: list[tuple[str, Any]]):
    """The trainer's own config resolution (YAML < overrides), validated by `derive`."""
    from playground import config

    cfg = config.resolve(pathlib.Path(config_file), overrides=overrides, verify=False)
    config.derive(cfg)
    return cfg


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Where a measurement ran: cores, CPU, Python, package versions, git commit."""
    from playground import provenance

    prov = provenance.collect([])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "python": prov["python"],
        "platform": prov["platform"],
        "packages": prov["packages"],
        "git_commit": prov["git_commit"],
        "git_dirty": prov["git_dirty"],
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def command_line(script: str) -> str:
    """The command that reproduces this process, as a user would type it (minus --json)."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--json":
            skip = True
        elif not arg.startswith("--json="):
            args.append(arg)
    return shlex.join([".venv/bin/python", f"benchmarks/{script}", *args])


def machine_line(machine: dict[str, Any]) -> str:
    """One markdown line: date, cores, CPU, versions, commit."""
    pk = machine["packages"]
    versions = ", ".join(f"{name} {pk.get(name)}" for name in
                         ("jax", "jaxlib", "brax", "flax", "mujoco", "mujoco-mjx", "optax"))
    commit = (machine.get("git_commit") or "unknown")[:10]
    dirty = " + uncommitted changes" if machine.get("git_dirty") else ""
    return (f"Measured {machine['date_utc']} on {machine['nproc']} CPU cores "
            f"({machine['cpu_model']}), Python {machine['python']}; {versions}; "
            f"git {commit}{dirty}.")


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def spread(values: list[float]) -> float:
    """Population standard deviation (0 for a single value)."""
    return float(statistics.pstdev(values)) if len(values) > 1 else 0.0


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def write_json(path: str | pathlib.Path | None, result: dict[str, Any]) -> None:
    """Write the result (with its markdown section) where run_all.py collects it."""
    if path:
        pathlib.Path(path).write_text(json.dumps(result, indent=2, default=str))


def publish(result: dict[str, Any], to_markdown, json_path, title: str | None = None
            ) -> dict[str, Any]:
    """Attach the markdown section, print it, and write the JSON for run_all.py.

    title: also write the section as markdown next to the JSON (same name, `.md`).
    """
    result["markdown"] = to_markdown(result)
    print(result["markdown"])
    write_json(json_path, result)
    if json_path and title:
        pathlib.Path(json_path).with_suffix(".md").write_text(
            f"# {title}\n\n{result['markdown']}\n")
    return result


def uptime() -> str:
    """`uptime`'s line: the load the machine was under."""
    import subprocess

    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def bad_input(message: str) -> None:
    """Bad command-line input: one line on stderr, exit status 2 (argparse's)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def require_brax_trainers(script: str) -> None:
    """brax's ppo.train (a reference, not the product) needs jax < 0.10, which the product's
    ranges outgrow: one line (exit 2) naming the pinned env that has it, instead of an
    AttributeError (jax.device_put_replicated) deep inside a run."""
    import jax

    try:
        from brax.training.agents.ppo import train  # noqa: F401
    except ImportError as error:
        problem = f"brax's ppo.train does not import ({error})"
    else:
        if hasattr(jax, "device_put_replicated"):
            return
        problem = f"brax's ppo.train needs jax < 0.10 (this is jax {jax.__version__})"
    bad_input(f"{problem}: make venv-ref, then .venv-ref/bin/python benchmarks/{script} ...")


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the result."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_sets(items: list[str] | None) -> list[tuple[str, str]]:
    """`KEY=VALUE` strings (the trainer's `--set` syntax) -> override pairs; a malformed
    one is the trainer's one-line error and exit 2."""
    from playground import config

    try:
        return config.parse_sets(items or [])
    except config.ConfigError as error:
        bad_input(str(error))
