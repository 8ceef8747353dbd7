"""python -m playground.sysid fit: fit joint parameters of a robot model to a joint log.

    python -m playground.sysid fit --robot humanoid_walk --log log.npz --out fitted.json \\
        [--optimizer cem|random] [--generations 12] [--population 256] [--parallel-envs N] \\
        [--joints NAMES_OR_GROUP] [--params kp,damping,frictionloss,armature] [--shared] \\
        [--fixed-base] [--bounds kp=0.3:3,damping=0.2:5] [--seed 0] [--no-plots]

The log format, the loss and the result are described in docs/sysid.md. Ctrl-C stops after
the running generation and writes the best parameters found so far.

Exit codes: 0 done (also after Ctrl-C), 2 bad input (log, robot, joints, options).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


class _UsageError(ValueError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr and exit 2
        raise _UsageError(message)


def _bounds(text: str) -> dict[str, tuple[float, float]]:
    out = {}
    for item in (s for s in text.split(",") if s.strip()):
        try:
            name, rng = item.split("=")
            lo, hi = (float(x) for x in rng.split(":"))
        except ValueError:
            raise _UsageError(f"--bounds {item!r}: expected PARAM=LO:HI, e.g. kp=0.3:3") from None
        out[name.strip()] = (lo, hi)
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    from playground.sysid.fit import DEFAULT_DELTA

    p = _Parser(prog="python -m playground.sysid", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    f = sub.add_parser("fit", help="fit kp, damping, frictionloss, armature to a joint log")
    f.add_argument("--robot", required=True,
                   help="task name (its env.robot.xml and env.sim_dt) or an MJCF path")
    f.add_argument("--log", required=True, help="joint log (.npz, docs/sysid.md)")
    f.add_argument("--out", required=True, help="fitted parameters (.json); PNGs go beside it")
    f.add_argument("--optimizer", choices=("cem", "random"), default="cem")
    f.add_argument("--generations", type=int, default=12)
    f.add_argument("--population", type=int, default=256, help="candidates per generation")
    f.add_argument("--parallel-envs", type=int, default=None,
                   help="candidates simulated at once (divides --population; default: all)")
    f.add_argument("--joints", default=None,
                   help="comma-separated joint names or groups (MJCF default classes); "
                        "default: every logged position-actuated joint")
    f.add_argument("--params", default="kp,damping,frictionloss,armature")
    f.add_argument("--shared", action="store_true",
                   help="one value per group of joints (MJCF default class), not per joint")
    f.add_argument("--fixed-base", action="store_true",
                   help="weld the floating base (a robot on a stand; contacts off)")
    f.add_argument("--bounds", type=_bounds, default={},
                   help="search range as multiples of the model's value, e.g. kp=0.3:3")
    f.add_argument("--elite-fraction", type=float, default=0.2)
    f.add_argument("--smoothing", type=float, default=0.7)
    f.add_argument("--huber-delta", type=float, default=DEFAULT_DELTA,
                   help="rad; the loss is quadratic below, linear above")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--no-plots", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from playground.config import ConfigError
    from playground.sysid.fit import FitError, FitOptions, LogError, RobotError, prepare, run_fit

    try:
        args = parse_args(argv)
        options = FitOptions(
            robot=args.robot, log=args.log, out=args.out, optimizer=args.optimizer,
            generations=args.generations, population=args.population,
            parallel_envs=args.parallel_envs, joints=args.joints,
            params=tuple(s.strip() for s in args.params.split(",") if s.strip()),
            shared=args.shared, fixed_base=args.fixed_base, bounds=args.bounds,
            elite_fraction=args.elite_fraction, smoothing=args.smoothing,
            delta=args.huber_delta, seed=args.seed, plots=not args.no_plots)
        problem = prepare(options)
    except (_UsageError, FitError, LogError, RobotError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from playground.compile_cache import configure_jax
    from playground.config import default_config

    configure_jax(default_config())  # the trainer's persistent XLA cache
    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():  # a second Ctrl-C: stop now, nothing written
            raise KeyboardInterrupt
        print("\nsysid: Ctrl-C: stopping after this generation (again to abort)", file=sys.stderr)
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        try:
            run_fit(problem, stop=stop)
        except FitError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0
