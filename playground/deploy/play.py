"""Play a policy in its MJX env (the library of `playground/play.py`, whose help
says what is printed): agents, episodes side by side, the JSON summary."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from playground import runs
from playground.episodes import (
    episode_lengths,
    episode_line,
    run_episodes,
    summarize,
    summary_metrics,
    write_record,
    write_video,
)

AGENTS = ("zero", "random", "trained")


class PlayError(ValueError):
    """Bad input for play; the message is one line."""


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
