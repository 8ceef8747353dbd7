"""sim2sim: a served policy drives the robot in plain MuJoCo (C, not MJX).

    python playground/sim2sim.py --server tcp://127.0.0.1:5555 [--latency-ms 20] [--video out.mp4]
    python playground/sim2sim.py --bundle policies/humanoid_walk_cpu --episodes 16 \\
        --command 0.3,0,0 --latency-ms 20

The robot side is exactly what a real robot runs: `ObservationBuilder(spec)` turns named
sensor readings into the observation, `PolicyClient` asks the server once per control
period (deadline `--timeout-ms`, default one control period), and `SafetyFilter` turns the
reply into joint targets (`default_pose + action * scale`, clipped to `ctrl_range`; a
missing reply holds the last target for 0.1 s, then ramps to the default pose). Soft start
and the rate limit are off, so a prompt reply gives the env's own targets.

The simulator side is plain MuJoCo on the robot MJCF of the spec (its sha256 must match),
stepped at the spec's `sim_dt`. The readings are taken from `MjData` frames after each
control period: gyro = the IMU site's angular velocity in the site frame
(`mj_objectVelocity`), gravity = world -z in the IMU site frame, joint positions and
velocities of the spec's `joint_names`; `command` is the episode's command.

`--latency-ms L` delays the action application: the targets computed from the
observation taken at time t reach the actuators at t + L (rounded to whole physics steps
of `sim_dt`); until then the previous targets hold. L = 20 ms at a 20 ms control period is
the env's `action_delay_steps` = 1. (The real round trip to the server is not added to
simulated time: a reply that misses the deadline counts as a missed deadline instead.)

The env of the training config (`--config`, default: the bundle's `config.yaml`, else
`configs/<task>.yaml`; read as a saved config by `playground.policy`) supplies, never the policy, what the simulator needs besides the
spec: the robot description (IMU site, keyframe), initial states (`reset`, drawn as in
play.py from `--seed`), command resampling, termination and the reward terms, scored on
the MuJoCo state by the env's own `after_physics`. Its deploy contract must equal the
spec's. Domain randomization is off: the nominal model is simulated. A non-finite MuJoCo
state ends its episode as a fall.

Printed: a line per episode (return, length, fell or survived, success where the task
defines it, the task's summary metrics), then one JSON line with play.py's metrics
(survival_rate, success_rate where the task defines success, mean_return, the
task's `summary_metrics` such as vx_error, ...; same definitions, `playground.episodes`)
plus falls, missed_deadlines, holds, fallbacks, server errors and the round trip time.
`--video` (alias `--render`, the older name) writes episode 0 as an mp4, as play.py does;
its location is checked before anything starts.

Exit codes: 0 done, 2 bad input (no server, bad --command, contract mismatch, an output
location that cannot be written, ...).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

from playground.cli.common import check_output_files, parse_video_size, run_and_print_summary
from playground.deploy.sim2sim import Sim2SimError, sim2sim
from playground.episodes import parse_command


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr and exit 2
        raise Sim2SimError(message)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(prog="sim2sim.py", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--server", metavar="ENDPOINT", help="policy server, e.g. tcp://127.0.0.1:5555")
    source.add_argument("--bundle", type=pathlib.Path,
                        help="exported bundle: start a local server for it (python -m playground.serve)")
    p.add_argument("--config", type=pathlib.Path, help="training config of the policy (the env); "
                   "default: the bundle's config.yaml, else configs/<task>.yaml")
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--steps", type=int, default=None,
                   help="control steps per episode at most (default: the task's episode_length)")
    p.add_argument("--command", default=None, metavar="VX,VY,YAW",
                   help="hold this velocity command (default: the task's random commands)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="delay between observation and action application (default: 0)")
    p.add_argument("--timeout-ms", type=float, default=None,
                   help="deadline for each server reply (default: one control period)")
    p.add_argument("--video", "--render", dest="video", type=pathlib.Path,
                   help="write episode 0 as an mp4 (--render: the same)")
    p.add_argument("--record-log", type=pathlib.Path, metavar="LOG.npz",
                   help="write episode 0's joint log (targets sent, positions measured) for "
                        "python -m playground.sysid fit")
    p.add_argument("--video-size", "--render-size", dest="video_size", default="480x640",
                   metavar="HxW")
    args = p.parse_args(argv)
    if args.server is None and args.bundle is None:
        raise Sim2SimError("one of --server ENDPOINT or --bundle DIR is needed")
    try:
        args.command = None if args.command is None else parse_command(args.command)
    except ValueError as e:
        raise Sim2SimError(str(e)) from None
    if args.episodes < 1:
        raise Sim2SimError(f"--episodes {args.episodes}: must be >= 1")
    if args.steps is not None and args.steps < 1:
        raise Sim2SimError(f"--steps {args.steps}: must be >= 1")
    if not (np.isfinite(args.latency_ms) and args.latency_ms >= 0):
        raise Sim2SimError(f"--latency-ms {args.latency_ms}: must be a number >= 0")
    if args.timeout_ms is not None and not (np.isfinite(args.timeout_ms) and args.timeout_ms > 0):
        raise Sim2SimError(f"--timeout-ms {args.timeout_ms}: must be a number > 0")
    args.video_hw = parse_video_size(args.video_size, Sim2SimError)
    check_output_files([("--video", args.video, ".mp4"),
                        ("--record-log", args.record_log, ".npz")], Sim2SimError)
    if args.bundle is not None and not args.bundle.is_dir():
        raise Sim2SimError(f"{args.bundle}: no such bundle directory")
    if args.config is not None and not args.config.is_file():
        raise Sim2SimError(f"{args.config}: no such config file")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(argv)
    except Sim2SimError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from playground.serve.client import SpecMismatchError

    # ValueError: Sim2SimError, PlayError (a contract of another setup)
    return run_and_print_summary(lambda: sim2sim(args), SpecMismatchError, TimeoutError)
