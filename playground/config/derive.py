"""Derived values and the checks that span keys, computed once before compiling.

`derive(cfg)` runs every field's own range check (declared on its `Field`), the
lo <= hi check of every interval, the run loop's checks (devices, multi-host), the
algorithm's `schedule(cfg)` and the task's and algorithm's `check(cfg)` hooks, then
chunks the run. It knows no task and no algorithm by name.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from playground.config.fields import ConfigError, Field, Section
from playground.config.schema import algorithm_entry, hook, owner_hooks, schema_of, selection


def _doc(text: str) -> Any:
    """A required dataclass field documented in docs/config.md."""
    return dataclasses.field(metadata={"doc": text})


@dataclasses.dataclass(frozen=True)
class Schedule:
    """What the run loop needs of an algorithm's config: an algorithm's `schedule(cfg)`.

    `num_envs_key` / `num_iterations_key` name the keys in messages; `values` are the
    algorithm's own derived values (e.g. PPO's minibatch_size), passed on in `Derived`.
    """

    num_envs: int
    num_envs_key: str
    num_iterations: int
    num_iterations_key: str
    env_steps_per_iteration: int
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Derived:
    """Values computed once from the config, before compiling.

    The trainer runs `num_chunks` jitted chunks of `iterations_per_chunk`
    iterations each and returns to Python between chunks to log, evaluate (every
    `eval_every_chunks` chunks, 0 = never) and checkpoint (every
    `checkpoint_every_chunks` chunks, 0 = only at the end).
    """

    num_envs: int = _doc("parallel training envs (the algorithm's, e.g. ppo.num_envs)")
    env_steps_per_iteration: int = _doc("env steps of one iteration (the algorithm's, e.g. "
                                        "ppo.num_envs * ppo.unroll_length)")
    iterations_per_chunk: int = _doc("iterations per jitted chunk (see below)")
    num_chunks: int = _doc("ceil(total_iterations / iterations_per_chunk)")
    total_iterations: int = _doc("the algorithm's num_iterations, or ceil(run.env_steps / "
                                 "env_steps_per_iteration) when run.env_steps is set; run "
                                 "exactly (idle tail in the last chunk)")
    eval_every_chunks: int = _doc("chunks between evaluations (0 = never)")
    checkpoint_every_chunks: int = _doc("chunks between checkpoints (0 = only at the end)")
    total_env_steps: int = _doc("total_iterations * env_steps_per_iteration")
    notes: tuple[str, ...] = _doc("one line per value rounded to fit the chunks")
    algorithm: Mapping[str, Any] = _doc("the algorithm's own derived values (below)")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def check_fields(section: Section, values: Any, prefix: str = "") -> None:
    """Every field's own check, and lo <= hi for every [lo, hi] interval."""
    for key, node in section.fields.items():
        path = f"{prefix}{key}"
        if isinstance(node, Section):
            check_fields(node, values[key], f"{path}.")
        elif isinstance(node, Field) and values[key] is not None:
            if node.interval:
                lo, hi = values[key]
                _require(lo <= hi, f"{path} is [lo, hi] but lo > hi: [{lo}, {hi}]")
            if node.check is not None:
                node.check(path, values[key])


def check_whole_multiple(cfg: Any, key: str, divisor_key: str) -> None:
    """ConfigError unless the value of `key` is a whole multiple (>= 1) of `divisor_key`'s.

    For tasks: e.g. `check_whole_multiple(cfg, "env.ctrl_dt", "env.sim_dt")`.
    """
    def value(dotted):
        node = cfg
        for part in dotted.split("."):
            node = node[part]
        return node

    ratio = value(key) / value(divisor_key)
    _require(
        round(ratio) >= 1 and abs(ratio - round(ratio)) <= 1e-6,
        f"{key} {value(key)} is not a whole multiple of {divisor_key} {value(divisor_key)} "
        f"(ratio {ratio:.6g})",
    )


def _check_distributed(dist, num_envs: int, num_envs_key: str) -> None:
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
             f"{num_envs_key} {num_envs} is not divisible by run.distributed.num_processes {count}")
    _require(dist.timeout_seconds >= 1,
             f"run.distributed.timeout_seconds must be >= 1, got {dist.timeout_seconds}")


def derive(cfg: ml_collections.ConfigDict) -> Derived:
    """Computes the `Derived` values; ConfigError for impossible settings."""
    if isinstance(cfg, dict):
        cfg = ml_collections.ConfigDict(cfg)
    check_fields(schema_of(cfg), cfg)
    name = selection(cfg)[1]
    schedule = hook(algorithm_entry(name).config, "schedule")
    if schedule is None:
        raise ConfigError(f"algorithm {name!r} declares no schedule(cfg) beside its sections")
    plan = schedule(cfg)
    run = cfg.run
    _require(
        run.devices == 0 or plan.num_envs % run.devices == 0,
        f"{plan.num_envs_key} {plan.num_envs} is not divisible by run.devices {run.devices}",
    )
    _check_distributed(run.distributed, plan.num_envs, plan.num_envs_key)
    for check in owner_hooks(cfg, "check"):
        check(cfg)

    steps, iterations = plan.env_steps_per_iteration, plan.num_iterations
    notes = []
    if run.env_steps is not None:
        iterations = math.ceil(run.env_steps / steps)  # at least the budget asked for
        rounded = (f" -> {iterations * steps} (rounded up to whole iterations)"
                   if iterations * steps != run.env_steps else "")
        notes.append(f"run.env_steps {run.env_steps}{rounded}: {iterations} iterations of "
                     f"{steps} env steps ({plan.num_iterations_key} is not used)")
    per_chunk = max(1, math.floor(run.log_every / steps + 0.5))  # round half up
    per_chunk = min(per_chunk, iterations)
    if per_chunk * steps != run.log_every:
        notes.append(
            f"run.log_every {run.log_every} -> {per_chunk * steps} env steps "
            f"({per_chunk} iterations of {steps})"
        )

    def chunks_of(key: str, every: int) -> int:
        chunks = math.ceil(every / per_chunk)
        if chunks * per_chunk != every:
            notes.append(
                f"{key} {every} -> {chunks * per_chunk} "
                f"(multiple of the {per_chunk}-iteration chunk)"
            )
        return chunks

    # The last chunk may be partly idle (the trainer skips iterations past the total),
    # so the algorithm's num_iterations is run exactly with a single compiled chunk program.
    return Derived(
        num_envs=int(plan.num_envs),
        env_steps_per_iteration=steps,
        iterations_per_chunk=per_chunk,
        num_chunks=math.ceil(iterations / per_chunk),
        total_iterations=iterations,
        eval_every_chunks=chunks_of("run.eval_every", run.eval_every),
        checkpoint_every_chunks=chunks_of("run.checkpoint_every", run.checkpoint_every),
        total_env_steps=iterations * steps,
        notes=tuple(notes),
        algorithm=dict(plan.values),
    )


def validate_reward_weights(cfg: ml_collections.ConfigDict, term_names: Sequence[str]) -> None:
    """Every key of reward_weights (where the task has them) is one of the env's `term_names`."""
    terms = list(term_names)
    for name in (cfg.get("reward_weights", None) or {}).keys():
        if name not in terms:
            close = difflib.get_close_matches(name, terms, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"reward_weights.{name} is not a reward term of env {cfg.env.task!r}{hint}; "
                f"terms: {', '.join(terms)}"
            )
