"""The one training script: parse -> config -> train -> save. Nothing else.

    python playground/train.py --verify
    python playground/train.py --config configs/humanoid_walk.yaml --set ppo.learning_rate=1e-4
    python playground/train.py --config my_run.json --device gpu

Exit codes: 0 done, 1 training or verification failed, 2 bad input (config, flags, files).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from playground import compare, runs  # paths only
from playground.config import ConfigError, print_error, resolve_config  # no jax
from playground.platforms import device_line, select_platform, use_platform  # no jax


def _compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--compare", metavar="ALGOS")
    parser.add_argument("--seeds", metavar="SEEDS")
    parser.add_argument("--threshold", type=float, metavar="RETURN")
    return parser


def _resume_target(argv: list[str]) -> str | None:
    """The value of the last --resume (or --set run.resume=) in `argv`."""
    found = None
    for i, token in enumerate(argv):
        if token == "--resume" and i + 1 < len(argv):
            found = argv[i + 1]
        elif token.startswith("--resume="):
            found = token.split("=", 1)[1]
        elif token.startswith("run.resume=") and i and argv[i - 1] == "--set":
            found = token.split("=", 1)[1]
    return found


def _start_jax(cfg, platform) -> None:
    """Process-wide jax settings of the run, before any backend starts."""
    # XLA's C++ logs (e.g. cache-loader notices) are noise for users; export to see them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from playground.compile_cache import configure_jax

    configure_jax(cfg)
    use_platform(platform)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra, rest = _compare_parser().parse_known_args(argv)
    resume = _resume_target(rest)
    if extra.compare is not None or (resume is not None and compare.is_compare_dir(resume)):
        return main_compare(extra, rest, resume)
    if extra.seeds is not None or extra.threshold is not None:
        print_error(ConfigError("--seeds and --threshold go with --compare ALGOS"))
        return 2
    try:
        cfg, args = resolve_config(argv)
        from playground.config import derive

        derive(cfg)
        # every place the run writes, before anything compiles or is written
        runs.check_run_outputs(cfg.run.checkpoint_dir, cfg.run.resume, cfg.run.compilation_cache)
        # before any backend starts: one line, not jax's AssertionError
        platform = select_platform(cfg.run.device)
    except (ConfigError, runs.OutputError) as e:
        print_error(e)
        return 2
    _start_jax(cfg, platform)
    from playground import distributed  # jax only: the platform starts before the heavy imports

    try:
        if args.verify and cfg.run.distributed.coordinator is not None:
            raise ConfigError("--verify runs in one process: unset run.distributed")
        # joins the other processes (docs/multi_host.md) before any device is touched
        distributed.initialize(cfg)
        line = device_line(cfg.run.devices)  # starts the platform: one line if it cannot
    except ConfigError as e:
        print_error(e)
        return 2
    if distributed.is_primary():
        print(line, flush=True)
    from playground import runner  # MuJoCo, MJX, the algorithms: seconds of imports

    command = [sys.argv[0], *argv]
    if args.verify:
        from playground.verify import run_verify

        return run_verify(cfg, command)
    return _train_exit_code(lambda: runner.Run(cfg, command).train())


def _train_exit_code(train) -> int:
    """Run `train()`: 0 when it finishes, 2 for bad input found late (a config, a file),
    1 when training itself failed; the error as one line."""
    from playground import runner

    try:
        train()
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print_error(e)
        return 2
    except runner.TrainingError as e:
        print_error(e)
        return 1
    return 0


def main_compare(extra: argparse.Namespace, rest: list[str], resume: str | None) -> int:
    """--compare ALGOS [--seeds S] [--threshold R] ..., or --resume <compare dir>."""
    import time

    try:
        if resume is not None and compare.is_compare_dir(resume):
            if extra.compare is not None or extra.seeds is not None or len(rest) > 2:
                raise ConfigError("a comparison resumes with its own arguments: give only "
                                  "--resume <compare dir> (and --threshold)")
            compare_dir = pathlib.Path(resume).expanduser().resolve()
            plan = compare.Plan.read(compare_dir)
        else:
            if resume is not None:
                raise ConfigError("--compare starts a comparison; --resume continues one: "
                                  "give --resume <compare dir> alone")
            plan = compare.Plan(tuple(compare.parse_list(extra.compare, "compare")),
                                tuple(compare.parse_seeds(extra.seeds or "0")), tuple(rest))
            base, _ = resolve_config([*plan.argv, "--set", f"algorithm.name={plan.algorithms[0]}"])
            runs.check_run_outputs(base.run.checkpoint_dir, None, base.run.compilation_cache)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            compare_dir = (pathlib.Path(base.run.checkpoint_dir).expanduser()
                           / f"compare-{base.env.task}-{stamp}").resolve()
        from playground.config import derive

        configs, budgets = {}, {}
        for algorithm, seed in plan.members():  # every run's config, before any work
            cfg, _ = resolve_config(compare.member_argv(plan, algorithm, seed, compare_dir))
            configs[algorithm, seed] = cfg
            budgets[algorithm] = derive(cfg).total_env_steps
        # One --steps N is one budget: each algorithm rounds it up to its whole iterations.
        if len(set(budgets.values())) > 1 and cfg.run.env_steps is None:
            raise ConfigError("the algorithms' env-step budgets differ ("
                              + ", ".join(f"{a} {b:,}" for a, b in budgets.items())
                              + "): give --steps N")
        platform = select_platform(cfg.run.device)
    except (ConfigError, runs.OutputError, ValueError, OSError) as e:
        print_error(e)
        return 2
    _start_jax(cfg, platform)
    try:
        print(device_line(cfg.run.devices), flush=True)
    except ConfigError as e:
        print_error(e)
        return 2
    if not compare.is_compare_dir(compare_dir):
        compare_dir.mkdir(parents=True)
        runs.write_atomic(compare_dir / compare.PLAN_FILE, plan.to_json())
    if len(set(budgets.values())) == 1:
        budget = f"{next(iter(budgets.values())):,} env steps each"
    else:
        budget = (f"{cfg.run.env_steps:,} env steps each, rounded up to whole iterations ("
                  + ", ".join(f"{a} {b:,}" for a, b in budgets.items()) + ")")
    print(f"compare: {', '.join(plan.algorithms)} x seeds {', '.join(map(str, plan.seeds))} "
          f"at {budget}; {compare_dir}", flush=True)
    code = _train_exit_code(lambda: compare.run_members(plan, compare_dir, configs,
                                                        lambda a: resolve_config(a)[0]))
    if code:
        return code
    title = f"{cfg.env.task}: {' vs '.join(plan.algorithms)}"
    md, png = compare.write_report(plan, compare_dir, title, extra.threshold)
    print(md.read_text(), flush=True)
    print(f"compare: wrote {md} and {png}", flush=True)
    return 0
