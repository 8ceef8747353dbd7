"""Derived values and the checks that span keys, computed once before compiling."""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from typing import Any

import ml_collections

from playground.config.fields import ConfigError, Field, Section
from playground.config.schema import SCHEMA


def _doc(text: str) -> Any:
    """A required dataclass field documented in docs/config.md."""
    return dataclasses.field(metadata={"doc": text})


@dataclasses.dataclass(frozen=True)
class Derived:
    """Values computed once from the config, before compiling.

    The trainer runs `num_chunks` jitted chunks of `iterations_per_chunk`
    iterations each (`total_iterations` >= ppo.num_iterations) and returns to
    Python between chunks to log, evaluate (every `eval_every_chunks` chunks,
    0 = never) and checkpoint (every `checkpoint_every_chunks` chunks, 0 = only
    at the end).
    """

    env_steps_per_iteration: int = _doc("ppo.num_envs * ppo.unroll_length")
    minibatch_size: int = _doc(
        "env steps per minibatch: env_steps_per_iteration / ppo.num_minibatches"
    )
    n_substeps: int = _doc("physics steps per control step: env.ctrl_dt / env.sim_dt")
    iterations_per_chunk: int = _doc("iterations per jitted chunk (see below)")
    num_chunks: int = _doc("ceil(ppo.num_iterations / iterations_per_chunk)")
    total_iterations: int = _doc("ppo.num_iterations, run exactly (idle tail in the last chunk)")
    eval_every_chunks: int = _doc("chunks between evaluations (0 = never)")
    checkpoint_every_chunks: int = _doc("chunks between checkpoints (0 = only at the end)")
    total_env_steps: int = _doc("total_iterations * env_steps_per_iteration")
    notes: tuple[str, ...] = _doc("one line per value rounded to fit the chunks")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _intervals(section: Section, values: Any, prefix: str = ""):
    for key, node in section.fields.items():
        if isinstance(node, Section):
            yield from _intervals(node, values[key], f"{prefix}{key}.")
        elif isinstance(node, Field) and node.interval:
            yield f"{prefix}{key}", list(values[key])


def _check_distributed(dist, num_envs: int) -> None:
    """run.distributed: a host:port coordinator (or auto) with a process count and id."""
    coordinator, count, pid = dist.coordinator, dist.num_processes, dist.process_id
    if coordinator is None:
        for key, value in (("num_processes", count), ("process_id", pid)):
            _require(value is None, f"run.distributed.{key}={value} needs "
                     "run.distributed.coordinator (host:port of process 0, or auto)")
        return
    if coordinator != "auto":
        host, sep, port = coordinator.rpartition(":")
        _require(bool(sep and host) and port.isdigit() and 0 < int(port) < 65536,
                 f"run.distributed.coordinator must be host:port (port 1-65535) or auto, "
                 f"got {coordinator!r}")
        for key, value in (("num_processes", count), ("process_id", pid)):
            _require(value is not None,
                     f"run.distributed.{key} is required with run.distributed.coordinator "
                     f"{coordinator} (null only with auto)")
    _require(count is None or count >= 1, f"run.distributed.num_processes must be >= 1, got {count}")
    _require(pid is None or pid >= 0, f"run.distributed.process_id must be >= 0, got {pid}")
    _require(count is None or pid is None or pid < count,
             f"run.distributed.process_id {pid} is out of range for num_processes {count} "
             f"(0 .. {count - 1 if count else 0})")
    _require(count is None or num_envs % count == 0,
             f"ppo.num_envs {num_envs} is not divisible by run.distributed.num_processes {count}")
    _require(dist.timeout_seconds >= 1,
             f"run.distributed.timeout_seconds must be >= 1, got {dist.timeout_seconds}")


def derive(cfg: ml_collections.ConfigDict) -> Derived:
    """Computes the `Derived` values; ConfigError for impossible settings."""
    if isinstance(cfg, dict):
        cfg = ml_collections.ConfigDict(cfg)
    ppo, run, env = cfg.ppo, cfg.run, cfg.env
    for key, value in (
        ("ppo.num_envs", ppo.num_envs),
        ("ppo.num_iterations", ppo.num_iterations),
        ("ppo.unroll_length", ppo.unroll_length),
        ("ppo.num_minibatches", ppo.num_minibatches),
        ("ppo.num_epochs", ppo.num_epochs),
        ("run.eval_envs", run.eval_envs),
        ("run.log_every", run.log_every),
        ("run.keep_checkpoints", run.keep_checkpoints),
        ("env.episode_length", env.episode_length),
        ("env.obs_history", env.obs_history),
    ):
        _require(value >= 1, f"{key} must be >= 1, got {value}")
    for key, value in (
        ("run.eval_every", run.eval_every),
        ("run.checkpoint_every", run.checkpoint_every),
    ):
        _require(value >= 0, f"{key} must be >= 0 (0 = never), got {value}")
    _require(run.devices >= 0, f"run.devices must be >= 0 (0 = all), got {run.devices}")
    _require(
        run.devices == 0 or ppo.num_envs % run.devices == 0,
        f"ppo.num_envs {ppo.num_envs} is not divisible by run.devices {run.devices}",
    )
    _check_distributed(run.distributed, ppo.num_envs)
    _require(run.distributed.coordinator is None or not env.task.startswith("playground:"),
             f"env.task {env.task}: MuJoCo Playground puts its model on process 0's device, "
             "so it cannot train multi-host (unset run.distributed)")
    steps = ppo.num_envs * ppo.unroll_length
    _require(
        steps % ppo.num_minibatches == 0,
        f"ppo.num_envs * ppo.unroll_length = {steps} env steps per iteration is not divisible "
        f"by ppo.num_minibatches {ppo.num_minibatches}",
    )
    for key in ("discount", "gae_lambda"):
        value = ppo[key]
        _require(0.0 < value <= 1.0, f"ppo.{key} must be in (0, 1], got {value}")
    _require(ppo.learning_rate > 0, f"ppo.learning_rate must be > 0, got {ppo.learning_rate}")
    _require(ppo.train_episode_length >= 0, "ppo.train_episode_length must be >= 0 (0 = the "
             f"env's episode length), got {ppo.train_episode_length}")
    for key, (lo, hi) in _intervals(SCHEMA, cfg):
        _require(lo <= hi, f"{key} is [lo, hi] but lo > hi: [{lo}, {hi}]")
    lo_delay = env.action_delay_steps[0]
    _require(lo_delay >= 0, f"env.action_delay_steps must be >= 0, got {lo_delay}")
    _require(env.sim_dt > 0, f"env.sim_dt must be > 0, got {env.sim_dt}")
    _require(env.ctrl_dt > 0, f"env.ctrl_dt must be > 0, got {env.ctrl_dt}")
    for key in ("zero_probability", "turn_in_place_probability"):
        prob = env.command[key]
        _require(0.0 <= prob <= 1.0, f"env.command.{key} must be in [0, 1], got {prob}")
    for key in ("tracking_sigma", "tracking_sigma_yaw", "tracking_sigma_yaw_avg",
                "yaw_average_seconds"):
        _require(env[key] > 0, f"env.{key} must be > 0, got {env[key]}")
    ratio = env.ctrl_dt / env.sim_dt
    _require(
        round(ratio) >= 1 and abs(ratio - round(ratio)) <= 1e-6,
        f"env.ctrl_dt {env.ctrl_dt} is not a whole multiple of env.sim_dt {env.sim_dt} "
        f"(ratio {ratio:.6g})",
    )
    for key in ("policy_hidden", "value_hidden"):
        widths = list(cfg.network[key])
        _require(all(w >= 1 for w in widths), f"network.{key} widths must be >= 1, got {widths}")
    amp = cfg.amp
    for key in ("disc_updates", "disc_batch_size", "replay_size"):
        _require(amp[key] >= 1, f"amp.{key} must be >= 1, got {amp[key]}")
    _require(all(w >= 1 for w in amp.disc_hidden),
             f"amp.disc_hidden widths must be >= 1, got {list(amp.disc_hidden)}")
    _require(amp.disc_learning_rate > 0,
             f"amp.disc_learning_rate must be > 0, got {amp.disc_learning_rate}")
    for key in ("weight", "grad_penalty", "logit_reg", "weight_decay"):
        _require(amp[key] >= 0, f"amp.{key} must be >= 0, got {amp[key]}")

    notes = []
    per_chunk = max(1, math.floor(run.log_every / steps + 0.5))  # round half up
    per_chunk = min(per_chunk, ppo.num_iterations)
    if per_chunk * steps != run.log_every:
        notes.append(
            f"run.log_every {run.log_every} -> {per_chunk * steps} env steps "
            f"({per_chunk} iterations of {steps})"
        )

    def chunks_of(key: str, iterations: int) -> int:
        chunks = math.ceil(iterations / per_chunk)
        if chunks * per_chunk != iterations:
            notes.append(
                f"{key} {iterations} -> {chunks * per_chunk} "
                f"(multiple of the {per_chunk}-iteration chunk)"
            )
        return chunks

    # The last chunk may be partly idle (the trainer skips iterations past the total),
    # so ppo.num_iterations is run exactly with a single compiled chunk program.
    num_chunks = math.ceil(ppo.num_iterations / per_chunk)
    total_iterations = ppo.num_iterations
    return Derived(
        env_steps_per_iteration=steps,
        minibatch_size=steps // ppo.num_minibatches,
        n_substeps=round(ratio),
        iterations_per_chunk=per_chunk,
        num_chunks=num_chunks,
        total_iterations=total_iterations,
        eval_every_chunks=chunks_of("run.eval_every", run.eval_every),
        checkpoint_every_chunks=chunks_of("run.checkpoint_every", run.checkpoint_every),
        total_env_steps=total_iterations * steps,
        notes=tuple(notes),
    )


def validate_reward_weights(cfg: ml_collections.ConfigDict, term_names: Sequence[str]) -> None:
    """Every key of reward_weights must be one of the env's `term_names`."""
    terms = list(term_names)
    for name in cfg.reward_weights.keys():
        if name not in terms:
            close = difflib.get_close_matches(name, terms, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"reward_weights.{name} is not a reward term of env {cfg.env.task!r}{hint}; "
                f"terms: {', '.join(terms)}"
            )
