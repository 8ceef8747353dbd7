"""MuJoCo Playground envs trained by our trainer with ONE set of defaults.

Each env is one fresh subprocess of the real CLI, exactly as a user runs it:

    .venv/bin/python playground/train.py --task playground:<Env> --seed S \
        --checkpoint-dir <TMP> --set run.progress=false [--set KEY=VALUE ...]

with `configs/playground.yaml` (the defaults of every `playground:` task) and nothing
tuned per env: the `--set` overrides, if any, are the same for every env. The eval
curve (`eval/episode_reward` every `run.eval_every` iterations: deterministic policy,
`run.eval_envs` episodes, the same ones at every evaluation) is read back from the run's
`metrics.jsonl`, with the env steps and run wall time (compile included) at which eval
return first reached `--solved` (default 900 of a dm_control maximum of 1000), the best
and the final eval return.

The best of ~30 evaluations on the same 32 episodes is a selected, optimistic number.
What a run delivers is the policy it keeps, so every run also saves a checkpoint at each
evaluation (`--set run.checkpoint_every=<run.eval_every> --set run.keep_best=1`: what to
save, not how to train; identical for every env), the benchmark checks that the step
the trainer kept as best is the best-eval step of the curve, and re-evaluates that kept
checkpoint on held-out episodes with the real CLI:

    .venv/bin/python playground/play.py playground:<Env> --agent trained \
        --checkpoint <run>/checkpoints/<step> --episodes 128 --seed 12345

Solved (held-out) = the kept checkpoint's mean return over those episodes >= `--solved`.
`--held-out-stochastic` replays it once more with `play.py --stochastic` (actions sampled
from the policy, as brax's `ppo.train` evaluates by default and MuJoCo Playground's
pipeline keeps), on the same episodes; the deterministic figure stays the bar.

    .venv/bin/python benchmarks/playground_envs.py --envs CartpoleBalance PointMass
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import common

from playground import runs
from playground.config import ConfigError

DEFAULT_ENVS = ["CartpoleBalance", "PointMass", "ReacherEasy", "FingerSpin", "BallInCup",
                "WalkerStand"]
#: The config every `playground:<Env>` task trains with.
CONFIG_FILE = common.CONFIG_DIR / "playground.yaml"
_EPISODE_LINE = re.compile(r"^episode (\d+): return (\S+)")


def checkpoint_sets(user_sets: list[str]) -> list[str]:
    """The `--set`s that make a run save a checkpoint at every evaluation and keep the best.

    A checkpoint carries eval metrics (what ranks it for `run.keep_best`) only when it is
    saved at an evaluation, so it saves every `run.eval_every` iterations (as resolved
    from the env config and `user_sets`).
    """
    cfg = common.resolve_config(CONFIG_FILE, common.parse_sets(user_sets))
    return [f"run.checkpoint_every={int(cfg.run.eval_every)}", "run.keep_best=1"]


def kept_best_step(steps: dict[int, dict[str, Any]]) -> tuple[int, float]:
    """(step, eval return) of the best-eval checkpoint among the kept ones.

    steps: {iteration: the metrics row saved with it} of every complete checkpoint step
    (a step saved outside an evaluation has no `eval/episode_reward` and never ranks).
    On a tie the earliest step wins, as `summarize` picks the earliest best point.
    """
    ranked = [(row["eval/episode_reward"], -step) for step, row in steps.items()
              if isinstance(row.get("eval/episode_reward"), (int, float))]
    if not ranked:
        raise ValueError("no kept checkpoint carries an eval return (was it saved at an eval?)")
    value, neg_step = max(ranked)
    return -neg_step, float(value)


def held_out_summary(stdout: str) -> dict[str, Any]:
    """Mean, std and min return over the episodes of one `play.py` run, from its stdout.

    play prints one `episode I: return R ...` line per episode and, last, its JSON summary;
    the per-episode returns (printed to 2 decimals) must agree with the summary's mean.
    """
    lines = stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    returns = [float(m.group(2)) for m in map(_EPISODE_LINE.match, lines) if m]
    if len(returns) != summary["episodes"]:
        raise ValueError(f"play printed {len(returns)} episode lines for "
                         f"{summary['episodes']} episodes")
    if abs(statistics.fmean(returns) - summary["mean_return"]) > 0.01:
        raise ValueError(f"episode returns average {statistics.fmean(returns):.3f}, play's "
                         f"summary says {summary['mean_return']:.3f}")
    return {"episodes": len(returns), "seed": summary["seed"],
            "mean_return": float(summary["mean_return"]), "std_return": common.spread(returns),
            "min_return": min(returns), "returns": returns, "source": summary["source"]}


def held_out_cell(held: dict[str, Any], solved: float) -> str:
    """`mean ± std (min M; K/N >= solved)`, saying so when every episode played the same."""
    returns = held["returns"]
    same = len(set(returns)) == 1  # an env whose reset draws nothing: one episode N times
    return (f"{held['mean_return']:.1f} ± {held['std_return']:.1f} (min {held['min_return']:.0f}; "
            f"{sum(r >= solved for r in returns)}/{len(returns)} episodes >= {solved:.0f}"
            f"{'; all identical' if same else ''})")


def play_held_out(env: str, step_dir: pathlib.Path, episodes: int, seed: int,
                  log_path: pathlib.Path, stochastic: bool = False) -> dict[str, Any]:
    """The real `play.py` CLI on one checkpoint step: its held-out return summary."""
    cmd = [sys.executable, "playground/play.py", f"playground:{env}", "--agent", "trained",
           "--checkpoint", str(step_dir), "--episodes", str(episodes), "--seed", str(seed)]
    cmd += ["--stochastic"] if stochastic else []
    proc = subprocess.run(cmd, cwd=common.REPO_ROOT, capture_output=True, text=True)
    log_path.write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        tail = " ".join((proc.stdout + proc.stderr)[-600:].split())
        raise SystemExit(f"error: play {env} {step_dir} exited {proc.returncode}: {tail}")
    return held_out_summary(proc.stdout)


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
    return {"env": env, "seed": seed, "process_s": process_s,
            **read_run(pathlib.Path(checkpoint_dir) / name)}


def read_run(run_dir: pathlib.Path) -> dict[str, Any]:
    """A finished run's eval curve [(env steps, run wall s, eval return)], its totals, and
    its kept checkpoint steps {iteration: the metrics row saved with it}."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    curve = [(int(r["env_steps"]), float(r["wall_time"]), float(r["eval/episode_reward"]))
             for r in rows if "eval/episode_reward" in r]
    steps_dir = run_dir / runs.STEPS_DIRNAME
    kept = {step: runs.read_metrics(steps_dir, step) for step in runs.complete_steps(steps_dir)}
    return {"curve": curve, "total_env_steps": int(rows[-1]["env_steps"]),
            "run_wall_s": float(rows[-1]["wall_time"]), "steps_dir": steps_dir, "kept": kept}


def check_kept_best(kept: dict[int, dict[str, Any]], curve: list[tuple[int, float, float]]
                    ) -> tuple[int, int]:
    """(iteration, env steps) of the kept best checkpoint, checked against the eval curve.

    kept: {iteration: saved metrics row} of the complete steps; curve: (env steps, wall s,
    eval return) of every evaluation. ValueError unless the kept best is an evaluation
    whose return is the curve's best (ties: any of the best points).
    """
    step, value = kept_best_step(kept)
    env_steps = int(kept[step]["env_steps"])
    best = max(r for _, _, r in curve)
    at_step = [r for s, _, r in curve if s == env_steps]
    if value != best or at_step != [value]:
        raise ValueError(f"the kept best checkpoint (iteration {step}, {env_steps:,} env steps, "
                         f"eval {value:.1f}) is not the curve's best eval ({best:.1f})")
    return step, env_steps


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
    stochastic = any("held_out_stochastic" in run for run in result["runs"])
    for run in result["runs"]:
        s, h = run["summary"], run["held_out"]
        rows.append([
            run["env"], run["seed"], f"{s['best_return']:.1f}", common.fmt_int(s["best_env_steps"]),
            f"{s['final_return']:.1f}",
            f"yes at {common.fmt_int(s['solved_env_steps'])} steps, {s['solved_wall_s']:.0f} s"
            if s["solved"] else "no",
            f"{h['iteration']} ({common.fmt_int(h['env_steps'])} steps)",
            held_out_cell(h, result["solved"]),
            "**yes**" if h["solved"] else "no",
            *([held_out_cell(run["held_out_stochastic"], result["solved"])
               if "held_out_stochastic" in run else "not run"] if stochastic else []),
            common.fmt_int(run["total_env_steps"]), f"{run['run_wall_s']:.0f}",
        ])
    sets = ", ".join(f"`{s}`" for s in result["sets"]) or "none"
    plumbing = " ".join(f"`--set {s}`" for s in result["checkpoint_sets"])
    episodes = {run["held_out"]["episodes"] for run in result["runs"]}
    seeds = {run["held_out"]["seed"] for run in result["runs"]}
    curves = []
    for run in result["runs"]:
        points = ", ".join(f"{common.fmt_int(s)}: {r:.0f}" for s, _, r in run["curve"])
        curves.append(f"- {run['env']} seed {run['seed']}: {points}")
    return "\n".join([
        f"Command: `{result['command']}` (each env: `{result['train_command']}`); "
        f"same overrides for every env: {sets}; and, to save what is evaluated below, "
        f"{plumbing} for every env (benchmark plumbing: which checkpoints are written and "
        "kept, not a training setting; training is bit-for-bit the same without them).",
        "",
        common.machine_line(result["machine"]) + f" Load at start: `{result['uptime_start']}`; "
        f"at end: `{result['uptime_end']}`.",
        "",
        "Eval = the trainer's `eval/episode_reward` every `run.eval_every` iterations "
        "(deterministic policy, the same `run.eval_envs` episodes at every evaluation); "
        f"\"at some eval\" = eval return >= {result['solved']:.0f} (of 1000) at one of ~30 "
        "evaluations, a selected number. Kept = the checkpoint the trainer kept as its best "
        "by eval (`run.keep_best`; checked to be the curve's best point). Held-out = that "
        f"kept checkpoint played by `playground/play.py --agent trained --episodes "
        f"{'/'.join(map(str, sorted(episodes)))} --seed {'/'.join(map(str, sorted(seeds)))}` "
        "(episodes from another seed than any evaluation or selection used): mean ± std "
        "over episodes, the worst, how many reached the bar, and \"all identical\" where "
        "the env's reset draws nothing so every episode is the same one. Solved = held-out "
        f"mean >= {result['solved']:.0f}."
        + (" Held-out, stochastic policy = the same episodes played with `play.py "
           "--stochastic` (actions sampled from the policy, as brax's `ppo.train` evaluates "
           "by default and Playground's pipeline keeps); not the bar." if stochastic else "")
        + " Run wall time = from the "
        "start of the run (env built) to that evaluation, compile included.",
        "",
        common.markdown_table(
            ["env", "seed", "best eval return", "at env steps", "final eval return",
             f"eval >= {result['solved']:.0f} at some eval", "kept checkpoint (iteration)",
             "held-out return", f"solved (held-out >= {result['solved']:.0f})",
             *(["held-out return, stochastic policy"] if stochastic else []),
             "env steps", "run wall s"], rows),
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
    p.add_argument("--solved", type=float, default=900.0,
                   help="mean return counted as solved (held-out) / reached (eval)")
    p.add_argument("--held-out-episodes", type=int, default=128,
                   help="episodes that play.py runs the kept checkpoint for")
    p.add_argument("--held-out-seed", type=int, default=12345,
                   help="play.py's --seed: episodes no training evaluation saw")
    p.add_argument("--held-out-stochastic", action="store_true",
                   help="also replay the kept checkpoint with play.py --stochastic")
    p.add_argument("--logs", default=None, help="keep each run's console output in this dir")
    p.add_argument("--checkpoint-dir", default=None,
                   help="keep the runs (checkpoints, metrics) here instead of a temporary dir")
    p.add_argument("--json", help="write the result (and its markdown) here")
    p.add_argument("--note", action="append", default=[],
                   help="a line for the report's notes (e.g. a run stopped by hand); repeatable")
    p.add_argument("--merge", action="store_true",
                   help="keep the runs already in --json (same overrides) and add these")
    args = p.parse_args(argv)
    common.parse_sets(args.set)  # KEY=VALUE shape, one-line error otherwise
    if args.held_out_episodes < 1:
        common.bad_input(f"--held-out-episodes {args.held_out_episodes}: must be >= 1")
    try:
        plumbing = checkpoint_sets(args.set)
    except ConfigError as e:  # an unknown key or a bad value
        common.bad_input(str(e))

    result: dict[str, Any] = {
        "benchmark": "playground_envs",
        "command": common.command_line("playground_envs.py"),
        "train_command": ".venv/bin/python playground/train.py --task playground:<Env> "
                         "--seed S --checkpoint-dir TMP --set run.progress=false",
        "machine": common.machine_info(),
        "sets": list(args.set),
        "checkpoint_sets": plumbing,
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
        if earlier.get("checkpoint_sets") != plumbing:
            common.bad_input(f"--merge: {args.json} has no held-out evaluation with "
                             f"{plumbing} (an older format): rerun its envs instead")
        result["runs"] = earlier["runs"]
        result["command"] = f"{earlier['command']}; then {result['command']}"
        result["uptime_start"] = earlier["uptime_start"]
        result["notes"] = earlier.get("notes", []) + result["notes"]
    with tempfile.TemporaryDirectory(prefix="playground_envs_") as tmp_dir:
        tmp = args.checkpoint_dir or tmp_dir
        logs = pathlib.Path(args.logs or tmp)
        logs.mkdir(parents=True, exist_ok=True)
        for env in args.envs:
            for seed in args.seeds:
                common.log(f"{env} seed {seed}: training (log {logs / f'{env}-s{seed}.log'})")
                run = train_env(env, seed, args.set + plumbing, tmp, logs / f"{env}-s{seed}.log")
                run["summary"] = summarize(run, args.solved)
                s = run["summary"]
                common.log(f"{env} seed {seed}: best eval {s['best_return']:.1f} at "
                           f"{s['best_env_steps']:,} steps, final {s['final_return']:.1f}; "
                           f"{run['process_s']:.0f} s")
                steps_dir, kept = run.pop("steps_dir"), run.pop("kept")
                try:
                    iteration, env_steps = check_kept_best(kept, run["curve"])
                except ValueError as e:
                    raise SystemExit(f"error: {env} seed {seed}: {e}") from None
                common.log(f"{env} seed {seed}: playing the kept checkpoint (iteration "
                           f"{iteration}) for {args.held_out_episodes} held-out episodes")
                held = play_held_out(env, steps_dir / str(iteration), args.held_out_episodes,
                                     args.held_out_seed, logs / f"{env}-s{seed}-play.log")
                held.pop("source")  # a temporary path
                run["held_out"] = {"iteration": iteration, "env_steps": env_steps,
                                   "kept_iterations": sorted(kept), **held,
                                   "solved": held["mean_return"] >= args.solved}
                common.log(f"{env} seed {seed}: held-out {held['mean_return']:.1f} ± "
                           f"{held['std_return']:.1f} (min {held['min_return']:.0f}), "
                           f"{'solved' if run['held_out']['solved'] else 'not solved'}")
                if args.held_out_stochastic:
                    held = play_held_out(env, steps_dir / str(iteration), args.held_out_episodes,
                                         args.held_out_seed,
                                         logs / f"{env}-s{seed}-play-stochastic.log", True)
                    held.pop("source")
                    run["held_out_stochastic"] = {**held,
                                                  "solved": held["mean_return"] >= args.solved}
                    common.log(f"{env} seed {seed}: held-out, stochastic policy "
                               f"{held['mean_return']:.1f} ± {held['std_return']:.1f} "
                               f"(min {held['min_return']:.0f})")
                result["runs"].append(run)
                if args.json:  # partial results survive an interrupted sweep
                    common.write_json(args.json, result)
    result["uptime_end"] = common.uptime()
    return common.publish(result, to_markdown, args.json,
                          title="MuJoCo Playground envs with one set of defaults")


if __name__ == "__main__":
    main()
