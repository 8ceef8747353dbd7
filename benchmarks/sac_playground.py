"""SAC on MuJoCo Playground's ReacherEasy and PointMass, beside our PPO's defaults' runs.

Each (env, seed) is one run of the real CLI, kept in `--runs-dir` (not a temporary dir) so
that a killed sweep loses little: runs save a checkpoint at every evaluation, and running
the same command again skips the finished runs, resumes an interrupted one from its newest
checkpoint (`train.py --resume RUN`, bit for bit the run that never stopped) and sets aside
a run killed before its first checkpoint.

    .venv/bin/python playground/train.py --task playground:<Env> --algorithm sac --seed S \\
        --checkpoint-dir RUNS --set run.name=<Env>-s<S> --set run.progress=false \\
        --set <each of RECIPE> [--set KEY=VALUE ...]

then, on the checkpoint the trainer kept as its best eval (checked against the curve),
the held-out figure of playground_envs.py (128 episodes of another seed):

    .venv/bin/python playground/play.py playground:<Env> --agent trained \\
        --checkpoint RUNS/<Env>-s<S>/checkpoints/<step> --episodes 128 --seed 12345

The PPO side is not re-run: it is the defaults' runs of benchmarks/results/
playground_envs.json (same envs and seeds, same held-out episodes). The report gives,
per run, the held-out return, the run's wall-clock (compile included) and env steps, and
the wall-clock per env step of both algorithms; `--png-dir` draws each env's eval return
against env steps and against wall-clock (SAC and PPO, mean and min..max over seeds).
Wall times depend on what else the machine ran: the load is logged at each run's end.

    .venv/bin/python benchmarks/sac_playground.py --runs-dir /tmp/sac_pg --seeds 0 1 2 \\
        --json benchmarks/results/sac_playground.json --png-dir benchmarks/figures
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import resource
import subprocess
import sys
import time
from typing import Any

import common
import playground_envs

from playground import runs
from playground.config import ConfigError

ENVS = ["ReacherEasy", "PointMass"]
#: SAC's settings for these envs on a CPU, before any --set: 32 envs x 8 steps per
#: iteration, 64 updates of 256 rows per iteration (0.25 per env step), 3-step returns,
#: [64, 64] networks (PPO's widths), 204,800 env steps; the ring holds the whole run.
RECIPE = ["sac.num_envs=32", "sac.unroll_length=8", "sac.num_iterations=800",
          "sac.batch_size=256", "sac.utd_ratio=0.25", "sac.buffer_size=204800",
          "sac.warmup_steps=4096", "sac.n_step=3", "sac.learning_rate=1e-3",
          "sac.policy_hidden=[64,64]", "sac.q_hidden=[64,64]", "run.eval_every=40"]
PPO_RESULTS = common.REPO_ROOT / "benchmarks" / "results" / "playground_envs.json"
#: Marks a finished (trained and held-out-evaluated) run in its directory.
RESULT_FILE = "sac_playground.json"
_COMPILED = re.compile(r"compiled in ([0-9.]+)s")


def run_state(run_dir: pathlib.Path) -> str:
    """'done' (its result is written), 'resume' (a checkpoint to go on from), 'fresh'."""
    if (run_dir / RESULT_FILE).is_file():
        return "done"
    if runs.complete_steps(run_dir / runs.STEPS_DIRNAME):
        return "resume"
    return "fresh"


def train_command(env: str, seed: int, sets: list[str], runs_dir: pathlib.Path) -> list[str]:
    """The CLI that trains (or resumes) one run into runs_dir/<env>-s<seed>."""
    run_dir = runs_dir / f"{env}-s{seed}"
    if run_state(run_dir) == "resume":
        # the saved config holds every setting; nothing may change on a resume
        return [sys.executable, "playground/train.py", "--resume", str(run_dir),
                "--set", "run.progress=false"]
    cmd = [sys.executable, "playground/train.py", "--task", f"playground:{env}",
           "--algorithm", "sac", "--seed", str(seed), "--checkpoint-dir", str(runs_dir),
           "--set", f"run.name={env}-s{seed}", "--set", "run.progress=false"]
    for item in sets:
        cmd += ["--set", item]
    return cmd


def train(env: str, seed: int, sets: list[str], runs_dir: pathlib.Path,
          log_path: pathlib.Path) -> tuple[float, float]:
    """Train (or resume) one run to its end; (wall, CPU) seconds of this session's process."""
    run_dir = runs_dir / f"{env}-s{seed}"
    if run_dir.exists() and run_state(run_dir) == "fresh":  # killed before a checkpoint
        aside = run_dir.with_name(f"{run_dir.name}.killed-{time.strftime('%Y%m%d-%H%M%S')}")
        run_dir.rename(aside)
        common.log(f"{env} seed {seed}: no checkpoint in {run_dir}: set aside as {aside.name}")
    cmd = train_command(env, seed, sets, runs_dir)
    common.log(f"{env} seed {seed}: {' '.join(cmd[1:])} (log {log_path})")
    t, cpu = time.perf_counter(), _children_cpu_s()
    with log_path.open("a") as log:
        code = subprocess.call(cmd, cwd=common.REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    if code:
        tail = " ".join(log_path.read_text()[-600:].split())
        raise SystemExit(f"error: {env} seed {seed} exited {code}: {tail}")
    return time.perf_counter() - t, _children_cpu_s() - cpu


def _children_cpu_s() -> float:
    """User + system CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sac_run(env: str, seed: int, sets: list[str], runs_dir: pathlib.Path, episodes: int,
            held_out_seed: int, solved: float) -> dict[str, Any]:
    """One SAC run, trained or resumed as needed, then held out; cached in its directory."""
    run_dir = runs_dir / f"{env}-s{seed}"
    if run_state(run_dir) == "done":
        common.log(f"{env} seed {seed}: finished earlier ({run_dir / RESULT_FILE})")
        run = json.loads((run_dir / RESULT_FILE).read_text())
        if run.get("sets", sets) != sets:
            common.bad_input(f"{run_dir} was trained with --set {run['sets']}, not {sets}: "
                             "give another --runs-dir")
        return run
    log_path = runs_dir / f"{env}-s{seed}.log"
    process_s, cpu_s = train(env, seed, sets, runs_dir, log_path)
    run = {"env": env, "seed": seed, "sets": sets, "process_s": process_s, "process_cpu_s": cpu_s,
           "uptime_end": common.uptime(),
           **playground_envs.read_run(run_dir)}
    run["summary"] = playground_envs.summarize(run, solved)
    steps_dir, kept = run.pop("steps_dir"), run.pop("kept")
    try:
        iteration, env_steps = playground_envs.check_kept_best(kept, run["curve"])
    except ValueError as e:
        raise SystemExit(f"error: {env} seed {seed}: {e}") from None
    common.log(f"{env} seed {seed}: best eval {run['summary']['best_return']:.1f}; playing "
               f"the kept checkpoint (iteration {iteration}) for {episodes} held-out episodes")
    held = playground_envs.play_held_out(env, steps_dir / str(iteration), episodes,
                                         held_out_seed, runs_dir / f"{env}-s{seed}-play.log")
    run["held_out"] = {"iteration": iteration, "env_steps": env_steps, **held,
                       "solved": held["mean_return"] >= solved}
    run["compile_s"] = compile_seconds(log_path)
    common.log(f"{env} seed {seed}: held-out {held['mean_return']:.1f} ± "
               f"{held['std_return']:.1f} (min {held['min_return']:.0f})")
    (run_dir / RESULT_FILE).write_text(json.dumps(run, indent=1))
    return run


def compile_seconds(log_path: pathlib.Path) -> list[float]:
    """The compile seconds of each training session, as the trainer printed them."""
    return [float(x) for x in _COMPILED.findall(log_path.read_text())]


def ppo_runs(envs: list[str], seeds: list[int]) -> list[dict[str, Any]]:
    """Our PPO's defaults' runs of the same envs and seeds (playground_envs.json)."""
    if not PPO_RESULTS.is_file():
        return []
    result = json.loads(PPO_RESULTS.read_text())
    return [r for r in result["runs"] if r["env"] in envs and r["seed"] in seeds]


def per_env_step_us(run: dict[str, Any]) -> float:
    """Run wall-clock (compile included) per env step, in microseconds."""
    return run["run_wall_s"] / run["total_env_steps"] * 1e6


def steady_us_per_env_step(curve: list[tuple[int, float, float]]) -> float | None:
    """Wall-clock per env step between the first and the last evaluation (compile and the
    first evaluation's chunk left out), in microseconds."""
    if len(curve) < 2:
        return None
    (s0, w0, _), (s1, w1, _) = curve[0], curve[-1]
    return (w1 - w0) / (s1 - s0) * 1e6


def plot(env: str, sac: list[dict[str, Any]], ppo: list[dict[str, Any]], png: pathlib.Path):
    """compare.png's figure (playground.compare.plot) for one env: SAC and PPO."""
    from playground import compare

    def entries(run):
        return [{"env_steps": s, "wall_time": w, compare.RETURN: r} for s, w, r in run["curve"]]

    curves = {"sac (ours)": [entries(r) for r in sac], "ppo (ours, defaults)":
              [entries(r) for r in ppo]}
    compare.plot({"curves": curves}, png, f"playground:{env}: eval return (32 episodes)")


def to_markdown(result: dict[str, Any]) -> str:
    solved = result["solved"]
    rows = []
    for algorithm, key in (("SAC", "runs"), ("PPO (defaults)", "ppo_runs")):
        for run in sorted(result[key], key=lambda r: (r["env"], r["seed"])):
            s, h = run["summary"], run["held_out"]
            steady = steady_us_per_env_step(run["curve"])
            rows.append([
                run["env"], algorithm, run["seed"],
                playground_envs.held_out_cell(h, solved),
                "**yes**" if h["solved"] else "no",
                f"{s['best_return']:.1f}", f"{h['iteration']} ({common.fmt_int(h['env_steps'])})",
                f"yes at {common.fmt_int(s['solved_env_steps'])} steps, {s['solved_wall_s']:.0f} s"
                if s["solved"] else "no",
                common.fmt_int(run["total_env_steps"]), f"{run['run_wall_s']:.0f}",
                " + ".join(f"{c:.0f}" for c in run.get("compile_s", [])) or "-",
                f"{run['process_cpu_s']:.0f}" if "process_cpu_s" in run else "-",
                f"{per_env_step_us(run):.1f}", f"{steady:.1f}" if steady else "-",
            ])
    curves = [f"- {r['env']} {name} seed {r['seed']}: " + ", ".join(
        f"{common.fmt_int(s)} ({w:.0f} s): {ret:.0f}" for s, w, ret in r["curve"])
        for name, key in (("SAC", "runs"), ("PPO", "ppo_runs"))
        for r in sorted(result[key], key=lambda r: (r["env"], r["seed"]))]
    loads = [f"- {r['env']} seed {r['seed']}: `{r['uptime_end']}`" for r in result["runs"]]
    sets = " ".join(f"`--set {s}`" for s in result["sets"]) or "none"
    return "\n".join([
        f"Command: `{result['command']}`; each run: `{result['train_command']}` with {sets} "
        f"and, for the held-out figure, {' '.join(f'`--set {s}`' for s in result['checkpoint_sets'])}.",
        "",
        common.machine_line(result["machine"]),
        "",
        f"Held-out = the kept best-eval checkpoint played by `playground/play.py --agent trained "
        f"--episodes {result['episodes']} --seed {result['held_out_seed']}`, as in "
        "playground_envs.py; solved = its mean >= "
        f"{solved:.0f}. Run wall = from the run's start to its end, compile included (PPO's compile is not "
        "recorded: its first evaluation came 13-61 s into its runs); "
        "us/env step = that wall per env step, and steady = between the first and the last "
        "evaluation (compile left out). PPO's rows are the defaults' runs of "
        "benchmarks/results/playground_envs.json (measured 2026-12-07 07:52-08:44 UTC, "
        "two streams on the 2 cores), not re-run here.",
        "",
        common.markdown_table(
            ["env", "algorithm", "seed", "held-out return", f"held-out >= {solved:.0f}",
             "best eval", "kept iteration (env steps)", f"eval >= {solved:.0f}",
             "env steps", "run wall s", "compile s (per session)",
             "train process CPU s (last session)", "us/env step",
             "steady us/env step"], rows),
        "",
        "Eval return by env steps (run wall s):",
        "",
        *curves,
        "",
        "Load at the end of each SAC run:",
        "",
        *loads,
        *(["", "Notes:", ""] + [f"- {n}" for n in result["notes"]] if result["notes"] else []),
    ])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=ENVS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--runs-dir", required=True,
                   help="where the runs live (kept: a rerun resumes or skips them)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every SAC run (the same for all), after RECIPE's; "
                        "repeatable")
    p.add_argument("--solved", type=float, default=900.0)
    p.add_argument("--held-out-episodes", type=int, default=128)
    p.add_argument("--held-out-seed", type=int, default=12345)
    p.add_argument("--json", help="write the result (and its markdown) here")
    p.add_argument("--png-dir", help="write sac_playground_<Env>.png here")
    p.add_argument("--note", action="append", default=[], help="a line for the notes")
    args = p.parse_args(argv)
    args.set = [*RECIPE, *args.set]
    common.parse_sets(args.set)
    if args.held_out_episodes < 1:
        common.bad_input(f"--held-out-episodes {args.held_out_episodes}: must be >= 1")
    try:
        sets = [*args.set, "algorithm.name=sac"]
        plumbing = playground_envs.checkpoint_sets(sets)
    except ConfigError as e:
        common.bad_input(str(e))
    runs_dir = pathlib.Path(args.runs_dir).expanduser().resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "benchmark": "sac_playground", "command": common.command_line("sac_playground.py"),
        "train_command": ".venv/bin/python playground/train.py --task playground:<Env> "
                         "--algorithm sac --seed S --checkpoint-dir RUNS "
                         "--set run.name=<Env>-s<S> --set run.progress=false",
        "machine": common.machine_info(), "sets": list(args.set), "checkpoint_sets": plumbing,
        "solved": args.solved, "episodes": args.held_out_episodes,
        "held_out_seed": args.held_out_seed, "runs": [], "notes": list(args.note),
        "ppo_runs": ppo_runs(args.envs, args.seeds),
    }
    for env in args.envs:
        for seed in args.seeds:
            result["runs"].append(sac_run(env, seed, args.set + plumbing, runs_dir,
                                          args.held_out_episodes, args.held_out_seed,
                                          args.solved))
            if args.json:  # partial results survive an interrupted sweep
                common.write_json(args.json, result)
    if args.png_dir:
        for env in args.envs:
            plot(env, [r for r in result["runs"] if r["env"] == env],
                 [r for r in result["ppo_runs"] if r["env"] == env],
                 pathlib.Path(args.png_dir) / f"sac_playground_{env}.png")
    return common.publish(result, to_markdown, args.json,
                          title="SAC on MuJoCo Playground's ReacherEasy and PointMass")


if __name__ == "__main__":
    main()
