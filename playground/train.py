"""The one training script: parse -> config -> train -> save. Nothing else.

    python playground/train.py --verify
    python playground/train.py --config configs/humanoid_walk.yaml --set ppo.learning_rate=1e-4
    python playground/train.py --config my_run.json --device gpu

Exit codes: 0 done, 1 training or verification failed, 2 bad input (config, flags, files).
"""

from __future__ import annotations

import os
import pathlib
import sys

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from playground import runs  # noqa: E402 (paths only)
from playground.config import ConfigError, print_error, resolve_config  # noqa: E402 (no jax)
from playground.platforms import device_line, select_platform, use_platform  # noqa: E402 (no jax)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
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
    # XLA's C++ logs (e.g. cache-loader notices) are noise for users; export to see them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from playground import distributed  # jax only: the platform starts before the heavy imports
    from playground.compile_cache import configure_jax

    configure_jax(cfg)
    use_platform(platform)
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
    try:
        run = runner.Run(cfg, command)
        run.train()
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print_error(e)
        return 2
    except runner.TrainingError as e:
        print_error(e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
