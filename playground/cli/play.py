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
import pathlib
import sys

from playground.cli.common import check_output_files, parse_video_size, run_and_print_summary
from playground.deploy.play import AGENTS, PlayError, play
from playground.episodes import parse_command


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
    args.video_hw = parse_video_size(args.video_size, PlayError)
    check_output_files([("--video", args.video, ".mp4"), ("--record", args.record, ".npz")],
                       PlayError)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
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
    return run_and_print_summary(lambda: play(args))
