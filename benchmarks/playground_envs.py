"""MuJoCo Playground envs trained by our trainer with ONE set of defaults.

Each env is one fresh subprocess of the real CLI, exactly as a user runs it:

    .venv/bin/python playground/train.py --task playground:<Env> --seed S \
        --checkpoint-dir <TMP> --set run.progress=false [--set KEY=VALUE ...]

with `configs/playground.yaml` (the defaults of every `playground:` task) and nothing
tuned per env: the `--set` overrides, if any, are the same for every env. The eval
curve (`eval/episode_reward` every `run.eval_every` iterations: deterministic policy,
`run.eval_envs` fresh episodes) is read back from the run's `metrics.jsonl`. Solved:
eval return >= `--solved` (default 900 of a dm_control maximum of 1000) at some
evaluation; reported with the env steps and run wall time (compile included) at which
it was first reached, the best and the final eval return.

    .venv/bin/python benchmarks/playground_envs.py --envs CartpoleBalance PointMass
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

import common

DEFAULT_ENVS = ["CartpoleBalance", "PointMass", "ReacherEasy", "FingerSpin", "BallInCup",
                "WalkerStand"]


def train_env(env: str, seed: int, sets: list[str], checkpoint_dir: str,
              log_path: pathlib.Path) -> dict[str, Any]:
    """One training subprocess; its eval curve and timings."""
    name = f"{env}-s{seed}"
    cmd = [sys.executable, "playground/train.py", "--task", f"playground:{env}",
           "--seed", str(seed), "--checkpoint-dir", checkpoint_dir,
           "--set", f"run.name={name}", "--set", "run.progress=false"]
    for item in sets:
        cmd += ["--set", item]
    t = time.perf_counter()
    with log_path.open("w") as log:
        code = subprocess.call(cmd, cwd=common.REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    process_s = time.perf_counter() - t
    if code:
        tail = log_path.read_text()[-600:]
        raise SystemExit(f"error: {env} seed {seed} exited {code}: {' '.join(tail.split())}")
    rows = [json.loads(line) for line in
            (pathlib.Path(checkpoint_dir) / name / "metrics.jsonl").read_text().splitlines()]
    curve = [(int(r["env_steps"]), float(r["wall_time"]), float(r["eval/episode_reward"]))
             for r in rows if "eval/episode_reward" in r]
    return {"env": env, "seed": seed, "process_s": process_s, "curve": curve,
            "total_env_steps": int(rows[-1]["env_steps"]), "run_wall_s": float(rows[-1]["wall_time"])}


def summarize(run: dict[str, Any], solved: float) -> dict[str, Any]:
    """Best, final and first-solved point of one run's eval curve."""
    curve = run["curve"]
    best = max(curve, key=lambda p: p[2])
    first = next((p for p in curve if p[2] >= solved), None)
    return {
        "best_return": best[2], "best_env_steps": best[0],
        "final_return": curve[-1][2],
        "solved": first is not None,
        "solved_env_steps": first[0] if first else None,
        "solved_wall_s": first[1] if first else None,
    }


def to_markdown(result: dict[str, Any]) -> str:
    rows = []
    for run in result["runs"]:
        s = run["summary"]
        rows.append([
            run["env"], run["seed"], f"{s['best_return']:.1f}", common.fmt_int(s["best_env_steps"]),
            f"{s['final_return']:.1f}",
            f"**yes** at {common.fmt_int(s['solved_env_steps'])} steps, {s['solved_wall_s']:.0f} s"
            if s["solved"] else "no",
            common.fmt_int(run["total_env_steps"]), f"{run['run_wall_s']:.0f}",
        ])
    sets = ", ".join(f"`{s}`" for s in result["sets"]) or "none"
    curves = []
    for run in result["runs"]:
        points = ", ".join(f"{common.fmt_int(s)}: {r:.0f}" for s, _, r in run["curve"])
        curves.append(f"- {run['env']} seed {run['seed']}: {points}")
    return "\n".join([
        f"Command: `{result['command']}` (each env: `{result['train_command']}`); "
        f"same overrides for every env: {sets}.",
        "",
        common.machine_line(result["machine"]) + f" Load at start: `{result['uptime_start']}`; "
        f"at end: `{result['uptime_end']}`.",
        "",
        f"Solved = eval return >= {result['solved']:.0f} (of 1000) at some evaluation "
        "(deterministic policy, fresh episodes). Run wall time = from the start of the run "
        "(env built) to that evaluation, compile included; the process adds imports.",
        "",
        common.markdown_table(
            ["env", "seed", "best eval return", "at env steps", "final eval return",
             f"solved (>= {result['solved']:.0f})", "env steps", "run wall s"], rows),
        "",
        "Eval return by env steps:",
        "",
        *curves,
        *(["", "Notes:", ""] + [f"- {note}" for note in result["notes"]] if result.get("notes")
          else []),
    ])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=DEFAULT_ENVS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override passed to every env's run (the same for all); repeatable")
    p.add_argument("--solved", type=float, default=900.0, help="eval return counted as solved")
    p.add_argument("--logs", default=None, help="keep each run's console output in this dir")
    p.add_argument("--json", help="write the result (and its markdown) here")
    p.add_argument("--note", action="append", default=[],
                   help="a line for the report's notes (e.g. a run stopped by hand); repeatable")
    p.add_argument("--merge", action="store_true",
                   help="keep the runs already in --json (same overrides) and add these")
    args = p.parse_args(argv)
    common.parse_sets(args.set)  # KEY=VALUE shape, one-line error otherwise

    result: dict[str, Any] = {
        "benchmark": "playground_envs",
        "command": common.command_line("playground_envs.py"),
        "train_command": ".venv/bin/python playground/train.py --task playground:<Env> "
                         "--seed S --checkpoint-dir TMP --set run.progress=false",
        "machine": common.machine_info(),
        "sets": list(args.set),
        "solved": args.solved,
        "uptime_start": common.uptime(),
        "runs": [],
        "notes": list(args.note),
    }
    if args.merge and args.json and pathlib.Path(args.json).exists():
        earlier = json.loads(pathlib.Path(args.json).read_text())
        if earlier["sets"] != result["sets"]:
            common.bad_input(f"--merge: {args.json} ran with --set {earlier['sets']}, "
                             f"not {result['sets']}")
        result["runs"] = earlier["runs"]
        result["command"] = f"{earlier['command']}; then {result['command']}"
        result["uptime_start"] = earlier["uptime_start"]
        result["notes"] = earlier.get("notes", []) + result["notes"]
    with tempfile.TemporaryDirectory(prefix="playground_envs_") as tmp:
        logs = pathlib.Path(args.logs or tmp)
        logs.mkdir(parents=True, exist_ok=True)
        for env in args.envs:
            for seed in args.seeds:
                common.log(f"{env} seed {seed}: training (log {logs / f'{env}-s{seed}.log'})")
                run = train_env(env, seed, args.set, tmp, logs / f"{env}-s{seed}.log")
                run["summary"] = summarize(run, args.solved)
                s = run["summary"]
                common.log(f"{env} seed {seed}: best {s['best_return']:.1f} at "
                           f"{s['best_env_steps']:,} steps, final {s['final_return']:.1f}, "
                           f"{'solved' if s['solved'] else 'not solved'}; "
                           f"{run['process_s']:.0f} s")
                result["runs"].append(run)
                if args.json:  # partial results survive an interrupted sweep
                    common.write_json(args.json, result)
    result["uptime_end"] = common.uptime()
    return common.publish(result, to_markdown, args.json,
                          title="MuJoCo Playground envs with one set of defaults")


if __name__ == "__main__":
    main()
