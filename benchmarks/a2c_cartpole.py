"""Do the cart-pole's A2C defaults learn: `train.py --task cartpole_balance --algorithm a2c`
as a user runs it (the task's A2C defaults under configs/cartpole_balance.yaml), per seed.

    .venv/bin/python benchmarks/a2c_cartpole.py [--seeds 0 1 2] [--set KEY=VALUE ...]

Each seed is one CLI process; its evaluations (deterministic policy, 32 fresh episodes of
up to 500 steps, every `run.eval_every` rounded to whole chunks) are read back from the
run's metrics.jsonl. Reported: the eval return at each evaluation, the final and best
return, the env steps of the first evaluation at or above THRESHOLD, and the process's
wall time (start-up and compile included) and its compile time. Results:
benchmarks/results/a2c_cartpole.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import common

TRAIN = [sys.executable, str(common.REPO_ROOT / "playground" / "train.py")]
THRESHOLD = 475.0  # of 500: balanced for (nearly) the whole episode
RESULTS = common.REPO_ROOT / "benchmarks" / "results" / "a2c_cartpole.json"


def run_seed(seed: int, sets: list[tuple[str, str]], runs_dir: str) -> dict:
    args = ["--task", "cartpole_balance", "--algorithm", "a2c", "--seed", str(seed),
            "--checkpoint-dir", runs_dir, "--set", f"run.name=a2c-seed{seed}",
            "--set", "run.progress=false", "--no-wandb"]
    for key, value in sets:
        args += ["--set", f"{key}={value}"]
    common.log(f"seed {seed}: {' '.join(args)}")
    t0 = time.monotonic()
    proc = subprocess.run(TRAIN + args, capture_output=True, text=True, cwd=common.REPO_ROOT)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    compiled = re.search(r"compiled in ([0-9.]+)s", proc.stdout)
    rows = [json.loads(line) for line in
            (pathlib.Path(runs_dir) / f"a2c-seed{seed}" / "metrics.jsonl").read_text().splitlines()]
    evals = [(int(r["env_steps"]), float(r["eval/episode_reward"]))
             for r in rows if "eval/episode_reward" in r]
    reached = next((steps for steps, ret in evals if ret >= THRESHOLD), None)
    return {"seed": seed, "evals": evals, "final": evals[-1][1], "best": max(r for _, r in evals),
            "steps_to_threshold": reached, "wall_s": wall,
            "compile_s": float(compiled.group(1)) if compiled else None}


def to_markdown(result: dict) -> str:
    rows = [[r["seed"], f"{r['final']:.1f}", f"{r['best']:.1f}",
             common.fmt_int(r["steps_to_threshold"]) if r["steps_to_threshold"] else "never",
             f"{r['wall_s']:.0f}", f"{r['compile_s']:.0f}" if r["compile_s"] else "?"]
            for r in result["seeds"]]
    lines = [f"Command: `{result['command']}`. {common.machine_line(result['machine'])}",
             f"Load: `{result['load_before']}` at the start, `{result['load_after']}` at the end.",
             "", common.markdown_table(
                 ["seed", "final eval return", "best", f"env steps to >= {THRESHOLD:.0f}",
                  "wall s (process)", "compile s"], rows),
             "", "Eval return at each evaluation (env steps: return):", ""]
    for r in result["seeds"]:
        points = ", ".join(f"{common.fmt_int(s)}: {ret:.0f}" for s, ret in r["evals"])
        lines.append(f"- seed {r['seed']}: {points}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE",
                        help="extra trainer --set (repeatable)")
    parser.add_argument("--json", default=str(RESULTS), help="where to write the result")
    args = parser.parse_args()
    sets = common.parse_sets(args.sets)
    result = {"command": common.command_line("a2c_cartpole.py"), "machine": common.machine_info(),
              "load_before": common.uptime(), "threshold": THRESHOLD}
    with tempfile.TemporaryDirectory() as runs_dir:
        result["seeds"] = [run_seed(seed, sets, runs_dir) for seed in args.seeds]
    result["load_after"] = common.uptime()
    common.publish(result, to_markdown, args.json,
                   title="A2C on the cart-pole with the task's A2C defaults")


if __name__ == "__main__":
    main()
