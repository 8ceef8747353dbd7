"""Does AMP do its job: the same walking recipe trained with and without AMP, compared at
equal env steps by a measure that does not use the discriminator.

    nice -n 5 .venv/bin/python benchmarks/amp_vs_ppo.py train [--iterations N]   # start or resume both
    .venv/bin/python benchmarks/amp_vs_ppo.py evaluate [--step N] [--episodes 16]
    # another seed: train --seed 1 --checkpoint-dir checkpoints/amp_vs_ppo_seed1, then
    # evaluate --checkpoint-dir checkpoints/amp_vs_ppo_seed1 --name amp_vs_ppo_seed1

`train` runs `configs/humanoid_walk_cpu.yaml` twice side by side (so both suffer the same
load), same seed, one with `--enable-amp` and the shipped WildRobot clips, as
`checkpoints/amp_vs_ppo-ppo` and `checkpoints/amp_vs_ppo-amp`. When a run directory
already holds a checkpoint it is `--resume`d, so the runs go on across sessions; stop
them at any time (SIGTERM/SIGKILL: checkpoints are atomic). Their logs are appended to
`<run dir>.log`.

`evaluate` takes the newest checkpoint step both runs have (or `--step`) and plays each
policy with `playground/play.py`'s rollout code at a held command (vx 0.3 m/s, domain
randomization, observation noise, latency and pushes on, as in training), then reports
the mean over joints of the 1-D Wasserstein distance between the policy's joint angles
(alive steps after the first second) and the reference clips' at that speed
(`playground/motion/metrics.py`), with the task return, survival and vx error beside it.
A zero-action agent (the home pose, held) is the floor row. Results:
benchmarks/results/amp_vs_ppo.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import common  # noqa: F401  (repo on sys.path, quiet XLA: before jax)

RESULTS = common.REPO_ROOT / "benchmarks" / "results"
RECIPE = common.CONFIG_DIR / "humanoid_walk_cpu.yaml"
TRAIN = [sys.executable, str(common.REPO_ROOT / "playground" / "train.py")]
#: run name -> extra trainer flags; everything else is the recipe
RUNS = {"amp_vs_ppo-ppo": [], "amp_vs_ppo-amp": ["--enable-amp"]}
#: checkpoints every 100 iterations, all kept, so the two runs share many steps
RUN_FLAGS = ["--set", "run.checkpoint_every=100", "--set", "run.keep_checkpoints=1000",
             "--set", "run.progress=false", "--no-wandb"]
#: control steps dropped at the start of each episode (standing up into the gait)
SETTLE_STEPS = 50


def _complete_steps(run_dir: pathlib.Path) -> list[int]:
    from playground import runs

    steps_dir = run_dir / runs.STEPS_DIRNAME
    return runs.complete_steps(steps_dir) if steps_dir.is_dir() else []


def train_command(name: str, root: pathlib.Path, seed: int,
                  iterations: int | None = None) -> list[str]:
    """The trainer command of one run: resume it when it has a checkpoint, else start it;
    `iterations`: stop there (the recipe's learning rate is constant, so a run stopped
    at N is the same as one told to stop at N, and resumes further with a larger N)."""
    run_dir = root / name
    budget = [] if iterations is None else ["--num-iterations", str(iterations)]
    if _complete_steps(run_dir):
        return TRAIN + ["--resume", str(run_dir), "--checkpoint-dir", str(root),
                        "--set", "run.progress=false", *budget]
    if run_dir.exists():  # killed before its first checkpoint: nothing to keep
        shutil.rmtree(run_dir)
    return TRAIN + ["--config", str(RECIPE), "--checkpoint-dir", str(root),
                    "--set", f"run.name={name}", "--set", f"run.seed={seed}",
                    *RUN_FLAGS, *RUNS[name], *budget]


def train(args) -> int:
    root = pathlib.Path(args.checkpoint_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name in RUNS:
        cmd = train_command(name, root, args.seed, args.iterations)
        log = open(root / f"{name}.log", "a")  # noqa: SIM115 (closed when the run ends)
        log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
        log.flush()
        common.log(f"{name}: {' '.join(cmd[1:])}  (log {log.name})")
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)

    def stop(signum, _frame):
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = {}
    for name, (proc, log) in procs.items():
        codes[name] = proc.wait()
        log.close()
        steps = _complete_steps(root / name)
        common.log(f"{name}: exit {codes[name]}, newest checkpoint "
                   f"{steps[-1] if steps else 'none'}")
    return 0 if all(c in (0, -signal.SIGTERM, -signal.SIGINT) for c in codes.values()) else 1


# --------------------------------------------------------------------------- evaluate


def common_step(root: pathlib.Path, step: int | None) -> int:
    """The checkpoint step every run has: `step` if given (checked), else the newest."""
    shared = set.intersection(*(set(_complete_steps(root / name)) for name in RUNS))
    if step is not None:
        if step not in shared:
            raise SystemExit(f"error: step {step} is not a checkpoint of both runs "
                             f"(shared: {sorted(shared)[-5:]})")
        return step
    if not shared:
        raise SystemExit(f"error: no checkpoint step that both runs under {root} have "
                         "(run `amp_vs_ppo.py train` first)")
    return max(shared)


def play_agent(play_argv: list[str], episodes: int, steps: int, seed: int, command):
    """Roll out one agent with play.py's code: (summary, joint angles [K, n] of alive steps
    after SETTLE_STEPS, the env)."""
    import numpy as np

    from playground import episodes as episodes_lib
    from playground.cli.play import parse_args
    from playground.deploy.play import make_agent

    args = parse_args(play_argv)
    agent = make_agent(args)
    roll = episodes_lib.run_episodes(agent.env, agent.act, episodes, steps, seed, command)
    _, summary = episodes_lib.summarize(roll, episodes_lib.summary_metrics(agent.env))
    lengths = episodes_lib.episode_lengths(roll.done)  # [N]
    t = np.arange(roll.qpos.shape[0])[:, None]
    keep = (t >= SETTLE_STEPS) & (t < lengths[None, :])  # [T, N]
    joints = roll.qpos[:, :, np.asarray(agent.env.qpos_idx)]  # [T, N, n]
    return summary, joints[keep], agent.env


def evaluate(args) -> None:
    from playground.motion import library, metrics

    root = pathlib.Path(args.checkpoint_dir).resolve()
    step = common_step(root, args.step)
    common.configure_cache(common.DEFAULT_CACHE)  # the three agents step the same env program
    command = (args.vx, 0.0, 0.0)
    play_common = ["--episodes", str(args.episodes), "--steps", str(args.steps),
                   "--command", f"{args.vx},0,0", "--seed", str(args.seed)]
    agents = [(name.removeprefix("amp_vs_ppo-"),
               ["humanoid_walk", "--agent", "trained", "--checkpoint",
                str(root / name / "checkpoints" / str(step))]) for name in RUNS]
    agents.append(("zero action", ["humanoid_walk", "--agent", "zero", "--config",
                                   str(root / "amp_vs_ppo-ppo" / "config.yaml")]))
    rows, reference = [], None
    for label, argv in agents:
        common.log(f"{label}: {args.episodes} episodes x {args.steps} steps at vx {args.vx}")
        summary, joints, env = play_agent(argv + play_common, args.episodes, args.steps,
                                          args.seed, command)
        if reference is None:
            clips = library.load_motion_files([], default_dir=library.default_motion_dir(env.xml_path))
            reference = metrics.reference_joint_angles(clips, env.joint_names, args.vx)
        distance = (metrics.joint_distribution_distance(joints, reference)
                    if len(joints) else {"mean": None, "per_joint": None})
        row = {"agent": label, "w1_mean": distance["mean"], "w1_per_joint": distance["per_joint"],
               "samples": int(len(joints)), **{k: summary[k] for k in (
                   "mean_return", "survival_rate", "mean_episode_length", "vx_mean", "vx_error",
                   "yaw_rate_error", "foot_slip", "action_rate")}}
        rows.append(row)
        common.log(json.dumps({k: v for k, v in row.items() if k != "w1_per_joint"}))
    from playground import runs

    steps_dirs = {name: root / name / runs.STEPS_DIRNAME for name in RUNS}
    cfg_rows = {name: runs.read_metrics(steps_dirs[name], step) for name in RUNS}
    train_seeds = sorted({runs.read_config(steps_dirs[name], step)["run"]["seed"] for name in RUNS})
    result = {
        "name": args.name, "step": step, "train_seeds": train_seeds,
        "checkpoint_dir": str(root), "env_steps": cfg_rows["amp_vs_ppo-ppo"].get("env_steps"),
        "wall_time_s": {name.removeprefix("amp_vs_ppo-"): row.get("wall_time")
                        for name, row in cfg_rows.items()},
        "vx": args.vx, "episodes": args.episodes, "steps": args.steps, "seed": args.seed,
        "settle_steps": SETTLE_STEPS, "reference_frames": int(len(reference)),
        "joint_names": list(env.joint_names), "rows": rows,
        "train_command": ("nice -n 5 .venv/bin/python benchmarks/amp_vs_ppo.py train --seed "
                          f"{train_seeds[0]} --iterations {step}"
                          + ("" if root == common.REPO_ROOT / "checkpoints" else
                             f" --checkpoint-dir {os.path.relpath(root, common.REPO_ROOT)}")),
        "command": common.command_line("amp_vs_ppo.py"), "machine": common.machine_info(),
    }
    result["markdown"] = to_markdown(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text(result["markdown"] + "\n")
    common.write_json(RESULTS / f"{args.name}.json", result)
    print(result["markdown"])


def _f(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def to_markdown(r: dict) -> str:
    rows = [[row["agent"], _f(row["w1_mean"]), _f(row["mean_return"], 1),
             _f(row["survival_rate"], 2), _f(row["vx_mean"]), _f(row["vx_error"]),
             _f(row["foot_slip"])] for row in r["rows"]]
    env_steps = f"{r['env_steps']:,}" if r["env_steps"] else "?"
    return "\n".join([
        f"`configs/humanoid_walk_cpu.yaml`, training seed "
        f"{', '.join(str(x) for x in r.get('train_seeds', ['?']))}, with and without `--enable-amp` (shipped "
        f"WildRobot clips), both at iteration {r['step']} ({env_steps} env steps). "
        f"{r['episodes']} episodes x {r['steps']} steps at a held command vx {r['vx']} m/s, "
        "randomization, noise, latency and pushes on. W1: mean over the "
        f"{len(r['joint_names'])} joints of the 1-D Wasserstein distance (rad) between the "
        f"policy's joint angles (alive steps after the first {r['settle_steps']}) and the "
        f"reference clips' at vx {r['vx']} ({r['reference_frames']} frames); lower = closer "
        "to the reference. Return: task reward only (no style term).",
        "",
        common.markdown_table(["agent", "W1 to reference [rad]", "task return", "survival",
                               "vx mean", "vx error", "foot slip"], rows),
        "",
        common.machine_line(r["machine"]),
        "",
        f"Train (resumes where the runs stopped): `{r['train_command']}`  ",
        f"Evaluate: `{r['command']}`",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_train = sub.add_parser("train", help="start or resume both runs, side by side")
    p_train.add_argument("--seed", type=int, default=0)
    p_train.add_argument("--iterations", type=int, default=None,
                         help="stop both runs at this iteration (default: the recipe's)")
    p_eval = sub.add_parser("evaluate", help="compare both runs at one shared checkpoint step")
    p_eval.add_argument("--step", type=int, default=None, help="default: newest shared step")
    p_eval.add_argument("--vx", type=float, default=0.3)
    p_eval.add_argument("--episodes", type=int, default=16)
    p_eval.add_argument("--steps", type=int, default=500, help="control steps per episode")
    p_eval.add_argument("--seed", type=int, default=0, help="evaluation episodes' seed")
    p_eval.add_argument("--name", default="amp_vs_ppo",
                        help="results file name: benchmarks/results/NAME.{md,json}")
    for p in (p_train, p_eval):
        p.add_argument("--checkpoint-dir", default=str(common.REPO_ROOT / "checkpoints"))
    args = parser.parse_args()
    if args.cmd == "train":
        sys.exit(train(args))
    evaluate(args)


if __name__ == "__main__":
    main()
