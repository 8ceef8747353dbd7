"""Play a policy in its MJX env: per-episode lines, one JSON summary, optional video and recording.

    python playground/play.py humanoid_walk --agent zero --episodes 8
    python playground/play.py humanoid_walk --agent trained --checkpoint PATH \\
        --episodes 16 --command 0.3,0,0 [--video out.mp4] [--record out.npz] [--seed S]

PATH is a training checkpoint (a run directory or `latest`: its newest step that
restores, damaged steps named on stderr and skipped; `<run dir>/best`: the step kept by
`run.keep_best`; its `checkpoints/` directory; one step directory) or an exported bundle
directory (policy.npz + policy_spec.json, written by `playground/export.py`; its
config.yaml, or `--config`, rebuilds the env, and the env's deploy contract must equal
the bundle's). The policy is loaded by `playground.policy` (no trainer is built). `--agent zero|random` give the floors:
zero holds the default pose, random draws uniform actions in [-1, 1].

A trained policy acts with its mode (the deterministic action that export and the robot
run). `--stochastic` (checkpoints only) samples each action from the policy's
distribution instead, as the trainer's rollouts do and as brax's `ppo.train` evaluates by
default (`deterministic_eval=False`, which MuJoCo Playground's pipeline keeps); the
samples are drawn from `--seed`, so a run repeats exactly.

Episodes run side by side (one vmapped env step per control step) with the task's own
randomization, observation noise, action latency and pushes, exactly as in training;
`--command VX,VY,YAW` holds one velocity command for the whole episode instead of the
task's resampled commands. An episode ends at its first `done` (fall or time limit).

The last stdout line is one JSON object: survival_rate (fraction of episodes that never
terminated), mean_episode_length, mean_return, the task's summary metrics (its env's
`summary_metrics`), action_rate (sum over joints of the squared action change per step)
and reward_terms (each weighted reward term per step), all but the first three averaged
over each episode's alive steps then over episodes (as the trainer's eval/* metrics are);
for a task that defines success (its env's `success_mode`, e.g. the cart-pole) also
success_rate, the fraction of episodes that succeeded (as eval/success_rate).
The locomotion tasks report vx_error (|commanded - actual| forward speed of the root in
the heading frame, m/s, per control step), vx_mean, vy_error, yaw_rate_error (rad/s),
yaw_rate_mean (the world yaw rate reached, rad/s) and foot_slip (mean horizontal speed of
feet in contact, m/s).

`--video` (alias `--render`, sim2sim's name) renders episode 0 with MuJoCo's offscreen
renderer (the CLI sets MUJOCO_GL=egl when unset; `MUJOCO_GL=osmesa` works too) and writes
an mp4. `--record` writes an npz with observations, actions, joint_targets, qpos, qvel
(each [episodes, steps, ...]), lengths, rewards, ctrl_dt, command and joint_names. Both
locations are checked before anything is loaded or played.

Exit codes: 0 played, 2 bad input (unknown task, missing or damaged checkpoint, bad
--command, an output location that cannot be written, ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from playground import paths, runs  # noqa: E402 (paths only: bad input fails before jax)
from playground.episodes import (  # noqa: E402
    episode_lengths,
    episode_line,
    parse_command,
    run_episodes,
    summarize,
    summary_metrics,
    write_record,
    write_video,
)

AGENTS = ("zero", "random", "trained")


class PlayError(ValueError):
    """Bad input for play; the message is one line."""


# --------------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr and exit 2, like every other bad input
        raise PlayError(message)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(
        prog="play.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("task", help="task name (e.g. humanoid_walk)")
    p.add_argument("--agent", choices=AGENTS, default="trained")
    p.add_argument("--checkpoint", help="checkpoint (run dir, step dir, 'latest', RUN/best) or "
                   "bundle dir")
    p.add_argument("--config", help="YAML for the env (zero/random agents, or a bundle without "
                   "config.yaml); default: the task's own YAML")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for the env (on the saved config of a policy)")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--steps", type=int, default=None,
                   help="control steps per episode at most (default: the task's episode_length)")
    p.add_argument("--command", default=None, metavar="VX,VY,YAW",
                   help="hold this velocity command (default: the task's random commands)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stochastic", action="store_true",
                   help="sample actions from the policy's distribution (checkpoints only)")
    p.add_argument("--video", "--render", dest="video", type=pathlib.Path,
                   help="write episode 0 as an mp4 (--render: the same)")
    p.add_argument("--video-size", "--render-size", dest="video_size", default="480x640",
                   metavar="HxW")
    p.add_argument("--record", type=pathlib.Path, help="write an npz of the episodes")
    p.add_argument("--checkpoint-dir", default="checkpoints", help="where 'latest' looks")
    args = p.parse_args(argv)
    if args.command is not None:
        try:
            args.command = parse_command(args.command)
        except ValueError as e:
            raise PlayError(str(e)) from None
    if args.episodes < 1:
        raise PlayError(f"--episodes {args.episodes}: must be >= 1")
    if args.steps is not None and args.steps < 1:
        raise PlayError(f"--steps {args.steps}: must be >= 1")
    if args.agent == "trained" and not args.checkpoint:
        raise PlayError("--agent trained needs --checkpoint PATH")
    if args.agent != "trained" and args.checkpoint:
        raise PlayError(f"--checkpoint is only for --agent trained (got --agent {args.agent})")
    if args.stochastic and args.agent != "trained":
        raise PlayError(f"--stochastic is only for --agent trained (got --agent {args.agent})")
    try:
        height, width = (int(x) for x in args.video_size.lower().split("x"))
    except ValueError:
        raise PlayError(f"--video-size {args.video_size!r}: expected HxW, e.g. 480x640") from None
    args.video_hw = (height, width)
    for flag, path, suffix in (("--video", args.video, ".mp4"), ("--record", args.record, ".npz")):
        if path is not None and path.suffix != suffix:
            raise PlayError(f"{path}: expected a {suffix} file name")
        if path is not None:
            try:
                paths.check_output(path, flag)
            except paths.OutputError as e:
                raise PlayError(str(e)) from None
    return args


# --------------------------------------------------------------------------- agents


@dataclasses.dataclass
class Agent:
    """An env built for the agent, and its batched policy obs -> actions [N, a] in [-1, 1]."""

    cfg: Any
    env: Any
    act: Callable[[dict, np.random.Generator], np.ndarray]
    source: str


def _floor_env(task: str, config_path, overrides: list[str]):
    """The env for zero/random actions: the task's own YAML, or `--config` (any saved or
    task config)."""
    from playground import config, policy

    pairs = [("env.task", task), *config.parse_sets(overrides)]
    cfg = config.resolve(None, pairs) if config_path is None else policy.config_file(config_path, pairs)
    return cfg, policy.make_env(cfg)


def _trained_agent(task: str, args) -> Agent:
    """A checkpoint's or a bundle's policy, in the env of its saved config."""
    from playground import config
    from playground import policy as policy_lib

    overrides = config.parse_sets(args.overrides)
    if policy_lib.is_bundle(args.checkpoint):
        if args.stochastic:
            raise PlayError(f"{args.checkpoint}: --stochastic needs a training checkpoint; a "
                            "bundle holds the deterministic policy only")
        loaded = policy_lib.load_bundle(args.checkpoint, [("env.task", task), *overrides],
                                        config_path=args.config)
        if loaded.cfg is None:
            raise PlayError(f"{args.checkpoint}: bundle without config.yaml; pass the training "
                            "config with --config")
    else:
        if args.config:
            raise PlayError("--config is for bundles and floors: a checkpoint carries its config")
        # a bad path fails here, before jax loads
        steps_dir, step = runs.find_step(args.checkpoint, args.checkpoint_dir)
        loaded = policy_lib.load_checkpoint(steps_dir, step, overrides)
        if loaded.cfg.env.task != task:
            raise PlayError(f"{args.checkpoint}: checkpoint of task {loaded.cfg.env.task!r}, "
                            f"not {task!r}")
    cfg = loaded.cfg
    env = policy_lib.make_env(cfg)
    policy_lib.check_contract(env.policy_spec(), loaded.spec, str(loaded.path))
    if args.stochastic:
        import jax

        sample = jax.jit(loaded.sample)
        keys = {"next": jax.random.PRNGKey(args.seed)}

        def act(obs, rng):
            keys["next"], key = jax.random.split(keys["next"])
            return np.asarray(sample(obs["state"], key))
    else:
        deterministic = loaded.act()

        def act(obs, rng):
            return deterministic(obs["state"])

    kind = "" if loaded.kind == "bundle" else \
        f" ({'stochastic' if args.stochastic else 'deterministic'} policy)"
    return Agent(cfg, env, act, f"{loaded.source}{kind}")


def make_agent(args) -> Agent:
    if args.agent == "trained":
        return _trained_agent(args.task, args)
    cfg, env = _floor_env(args.task, args.config, args.overrides)
    n = env.action_size
    if args.agent == "zero":
        act = lambda obs, rng: np.zeros((len(obs["state"]), n), np.float32)  # noqa: E731
    else:
        act = lambda obs, rng: rng.uniform(-1.0, 1.0, (len(obs["state"]), n)).astype(np.float32)  # noqa: E731
    return Agent(cfg, env, act, f"{args.agent} actions")


# --------------------------------------------------------------------------- main


def play(args, log=print) -> dict:
    """Build the agent, run the episodes, print per-episode lines; the summary dict."""
    agent = make_agent(args)  # bad paths and configs fail here, before any episode
    from playground.compile_cache import configure_jax

    configure_jax(agent.cfg)
    env = agent.env
    steps = int(args.steps or env.episode_length)
    log(f"play {args.task}: {args.episodes} episodes x up to {steps} steps, agent "
        f"{agent.source}, command {args.command or 'sampled by the task'}, seed {args.seed}")
    t0 = time.monotonic()
    marks = {steps * i // 4 for i in (1, 2, 3)}

    def progress(t):
        if t in marks:
            log(f"  step {t}/{steps} ({time.monotonic() - t0:.0f}s)")

    roll = run_episodes(env, agent.act, args.episodes, steps, args.seed, args.command, progress)
    from playground.tasks.base import success_mode

    rows, summary = summarize(roll, summary_metrics(env), success_mode(env))
    for row in rows:
        log(episode_line(row))
    if args.record:
        write_record(args.record, roll, env, args.command)
        log(f"recorded {args.record}")
    if args.video:
        length = int(episode_lengths(roll.done)[0])
        info = write_video(args.video, env, roll.qpos[:length, 0], args.video_hw)
        log(f"video {info['path']}: {info['frames']} frames at {info['fps']:.0f} fps")
    summary = {"task": args.task, "agent": args.agent, "source": agent.source,
               "stochastic": bool(args.stochastic),
               "command": list(args.command) if args.command else None, "seed": args.seed,
               "steps": steps, **summary, "wall_time_s": round(time.monotonic() - t0, 1)}
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from playground.config import ConfigError
    from playground.platforms import check_jax_platforms
    from playground.tasks.registry import get_task

    try:
        args = parse_args(argv)
        try:
            get_task(args.task)  # also playground:<EnvName>, which needs the optional extra
        except KeyError as e:
            raise PlayError(e.args[0]) from None
    except PlayError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # side effects belong to the CLI: headless GL for the renderer, quiet XLA
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        check_jax_platforms()  # JAX_PLATFORMS=cuda without a CUDA jax: one line, exit 2
        summary = play(args)
    except (ConfigError, FileNotFoundError, ValueError) as e:  # ValueError: PlayError, a bundle
        print(f"error: {e}", file=sys.stderr)                    # or checkpoint of another setup
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
