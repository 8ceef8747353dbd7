"""GPU check: the humanoid's production recipe for a few iterations at 2048 and 8192 envs.

For a machine with one NVIDIA GPU. Each entry of `RUNS` trains configs/humanoid_walk.yaml
(the production recipe: [512, 256, 128] networks, unroll 20, 4 minibatches x 4 epochs,
domain randomization) through the trainer's own `Run`, in its own subprocess (its own
device memory and a fresh, empty XLA cache: compile time is a first run's), and reports:

  env steps/s   the median over the chunks after the first (each chunk = a few
                iterations between console lines; compile and eval excluded)
  compile       seconds to compile the training chunk and the evaluation (cold cache)
  peak memory   the device's `peak_bytes_in_use` at the end of the run, against the
                memory plan of benchmarks/RESULTS.md (results/memory_plan.json: a line
                fitted to the CPU backend's own memory analysis; the plan asks for
                "confirm on a GPU", and this is that check)

Writes gpu_check.json and gpu_check.md into --out (default benchmarks/results/) and
prints the markdown. The whole check runs in a few minutes (two compiles dominate).

`--dry-run` does the same on the CPU at tiny sizes: every run takes the config's
`quick_verify` sizes (4 envs, 10 iterations, the config `train.py --verify` compiles),
so with a warm XLA cache it takes seconds; tests/benchmarks/test_gpu_check.py runs it.

On the GPU machine (Python 3.12, jax with CUDA, flax, optax, orbax-checkpoint; no
mujoco, mujoco-mjx, brax, ml-collections), the missing packages travel as wheels:
`make gpu-wheels` here downloads them into .whl/ (gitignored, ~31 MB), then there:

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site python3 benchmarks/gpu_check.py --out $OUT

A SAC row is one more line in `RUNS` (its config and agent) once the SAC issue lands.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

import common

RESULTS = common.REPO_ROOT / "benchmarks" / "results"
HUMANOID = common.CONFIG_DIR / "humanoid_walk.yaml"


@dataclasses.dataclass(frozen=True)
class CheckRun:
    """One training run of the check: a config at a size, a few iterations."""

    name: str
    config: pathlib.Path
    num_envs: int
    iterations: int
    iterations_per_chunk: int = 5
    overrides: tuple[tuple[str, Any], ...] = ()


#: The runs, in order. Add one per line (e.g. SAC: its config, `("agent...", ...)` overrides).
RUNS = (
    CheckRun("ppo_humanoid_2048", HUMANOID, 2048, 30),
    CheckRun("ppo_humanoid_8192", HUMANOID, 8192, 15),
)


def run_config(run: CheckRun, dry_run: bool, checkpoint_dir: str, cache: str | None):
    """The trainer's config of one run: production sizes, or --verify's for a dry run."""
    from playground import config

    overrides: list[tuple[str, Any]] = [
        ("run.checkpoint_dir", checkpoint_dir), ("run.name", run.name),
        ("run.wandb.enabled", False), ("run.progress", False),
        ("run.compilation_cache", cache or ""),
    ]
    if not dry_run:  # log_every sets the chunk: iterations_per_chunk iterations per line
        steps = run.num_envs * 20  # unroll_length of the production recipe, checked below
        overrides += [("ppo.num_envs", run.num_envs), ("ppo.num_iterations", run.iterations),
                      ("run.log_every", steps * run.iterations_per_chunk), ("run.devices", 1),
                      *run.overrides]
    cfg = config.resolve(pathlib.Path(run.config), overrides=overrides, verify=dry_run)
    if not dry_run and int(cfg.ppo.unroll_length) != 20:
        common.bad_input(f"{run.config}: gpu_check assumes unroll_length 20")
    config.derive(cfg)
    return cfg


def worker(spec: dict[str, Any]) -> None:
    """One run in this process; its figures as one JSON line on stdout."""
    import jax

    from playground import runner
    from playground.compile_cache import configure_jax

    run = CheckRun(**{**spec["run"], "config": pathlib.Path(spec["run"]["config"]),
                      "overrides": tuple(map(tuple, spec["run"]["overrides"]))})
    cfg = run_config(run, spec["dry_run"], spec["checkpoint_dir"], spec["cache"])
    configure_jax(cfg)
    device = jax.local_devices()[0]
    t0 = time.monotonic()
    trainer = runner.Run(cfg, ["benchmarks/gpu_check.py", run.name],
                           log=lambda msg: print(msg, file=sys.stderr, flush=True))
    result = trainer.train()
    wall = time.monotonic() - t0
    rows = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "train/sps" in r]
    steady = [r["train/sps"] for r in rows[1:]] or [r["train/sps"] for r in rows]
    stats = device.memory_stats() or {}  # None on the CPU backend
    print(json.dumps({
        "name": run.name, "config": str(run.config), "num_envs": int(cfg.ppo.num_envs),
        "iterations": int(cfg.ppo.num_iterations),
        "env_steps": int(result.last_row.get("env_steps", 0)),
        "chunks": len(rows), "sps_chunks": [r["train/sps"] for r in rows],
        "env_steps_per_s": common.median(steady) if steady else None,
        "compile_s": result.compile_time, "wall_s": wall,
        "peak_bytes": stats.get("peak_bytes_in_use"), "bytes_limit": stats.get("bytes_limit"),
        "eval_reward": result.final_eval.get("eval/episode_reward"),
        "device": f"{device.platform}: {device.device_kind}",
    }))


def memory_plan() -> dict[str, float] | None:
    path = RESULTS / "memory_plan.json"
    try:
        plan = json.loads(path.read_text())
        return {"fixed_bytes": float(plan["fixed_bytes"]),
                "per_env_bytes": float(plan["per_env_bytes"])}
    except (OSError, KeyError, ValueError):
        return None


def run_one(run: CheckRun, dry_run: bool, tmp: pathlib.Path, cache: str | None,
            timeout_s: float) -> dict[str, Any]:
    spec = {"run": {**dataclasses.asdict(run), "config": str(run.config)}, "dry_run": dry_run,
            "checkpoint_dir": str(tmp / "checkpoints"), "cache": cache}
    env = dict(os.environ)
    if dry_run:
        env["JAX_PLATFORMS"] = "cpu"
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", json.dumps(spec)]
    common.log(f"{run.name}: {'dry run, ' if dry_run else ''}starting")
    try:
        proc = subprocess.run(cmd, cwd=common.REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"name": run.name, "error": f"timed out after {timeout_s:.0f}s"}
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode or not lines:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-600:]
        return {"name": run.name, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def to_markdown(result: dict[str, Any]) -> str:
    gb = 1e9
    rows = []
    for r in result["runs"]:
        if "error" in r:
            rows.append([r["name"], "", "", "", "", "", f"FAILED: {r['error']}"])
            continue
        plan = r.get("plan_bytes")
        peak = r.get("peak_bytes")
        verdict = ("n/a (no device memory stats)" if peak is None else
                   f"{peak / plan:.2f}x plan" if plan else "no plan")
        rows.append([r["name"], r["num_envs"], common.fmt_int(r["env_steps_per_s"] or 0),
                     f"{r['compile_s']:.1f}", "" if peak is None else f"{peak / gb:.2f}",
                     "" if plan is None else f"{plan / gb:.2f}", verdict])
    table = common.markdown_table(
        ["run", "envs", "env steps/s", "compile s", "peak GB", "plan GB", "memory"], rows)
    mode = ("DRY RUN on the CPU at --verify sizes: checks the script, not a measurement."
            if result["dry_run"] else "")
    return "\n\n".join(x for x in [
        f"Device: {result['device']}. {mode}".strip(), table,
        "env steps/s: median over the chunks after the first (compile and eval excluded); "
        f"compile: training chunk + evaluation, XLA cache {result['cache']}; peak: the device's "
        "peak_bytes_in_use; plan: benchmarks/results/memory_plan.json's fit "
        "(CPU-backend memory analysis).",
        f"Command: `{result['command']}`", result.get("machine_line", "")] if x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(RESULTS),
                   help="folder for gpu_check.json and gpu_check.md (e.g. $OUT)")
    p.add_argument("--dry-run", action="store_true",
                   help="on the CPU at the config's quick_verify sizes (tests the script)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these of RUNS")
    p.add_argument("--cache", default=None,
                   help="XLA cache dir (default: a fresh one, or the trainer's with --dry-run)")
    p.add_argument("--timeout", type=float, default=420.0, help="seconds per run")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    runs = [r for r in RUNS if not args.only or r.name in args.only]
    if not runs:
        common.bad_input(f"--only {args.only}: no such run; runs: {[r.name for r in RUNS]}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = memory_plan()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp_name:
        tmp = pathlib.Path(tmp_name)
        cache = args.cache or (common.DEFAULT_CACHE if args.dry_run else str(tmp / "xla-cache"))
        cache_note = cache if args.cache or args.dry_run else "fresh (cold: a first run's compile)"
        results = []
        for run in runs:
            r = run_one(run, args.dry_run, tmp, os.path.expanduser(cache), args.timeout)
            if plan and "num_envs" in r:
                r["plan_bytes"] = plan["fixed_bytes"] + plan["per_env_bytes"] * r["num_envs"]
            results.append(r)
            common.log(f"{run.name}: {json.dumps(r)[:300]}")
    device = next((r["device"] for r in results if "device" in r), "unknown")
    result: dict[str, Any] = {"benchmark": "gpu_check", "dry_run": args.dry_run,
                              "command": common.command_line("gpu_check.py"),
                              "device": device, "cache": cache_note, "runs": results}
    try:
        machine = common.machine_info()
        result["machine"], result["machine_line"] = machine, common.machine_line(machine)
    except Exception as error:  # noqa: BLE001 (a bare copy of the tree: no git, odd versions)
        result["machine_line"] = f"(machine info unavailable: {error})"
    common.publish(result, to_markdown, out / "gpu_check.json", title="GPU check")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
