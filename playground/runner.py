"""The run loop around any algorithm: build once, loop over chunks, log, evaluate, save.

`make_train_fns` binds the run's algorithm (by `algorithm.name`, from
`playground.algorithms.registry`) and reward plug-ins (`playground.rewards.base`) to its
env; `Run` compiles a `lax.scan` of the algorithm's iteration once and, between chunks
of `iterations_per_chunk` iterations, logs, evaluates and checkpoints (devices, resume,
warm start, provenance). It never names an algorithm, a task or a plug-in.
`train.py` is the CLI around `Run`.
"""

from __future__ import annotations

# isort: off
from playground.tasks import mjx_compat  # noqa: F401  (first mjx import: keeps it quiet)

# isort: on
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jax_core

from playground import checkpoint, config, distributed, provenance, rollout, runs, tb_events
from playground.algorithms.registry import get_algorithm, load
from playground.logger import RunLogger
from playground.rewards.base import make_reward_plugins
from playground.tasks.base import success_mode
from playground.tasks.registry import get_task


class TrainingError(RuntimeError):
    """A run that cannot go on (e.g. too many non-finite updates); message is one line."""


def aggregate_chunk(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """[K] per-iteration metrics of one chunk -> one row (skipped iterations excluded)."""
    active = metrics["active"] > 0
    m = {k: np.asarray(v)[active] for k, v in metrics.items()}
    row: dict[str, float] = {}
    episodes = float(m["episodes"].sum())
    if episodes > 0:
        row["train/episode_reward"] = float(m["episode_return_sum"].sum() / episodes)
        row["train/episode_length"] = float(m["episode_length_sum"].sum() / episodes)
        if "episode_success_sum" in m:  # a task that defines success
            row["train/success_rate"] = float(m["episode_success_sum"].sum() / episodes)
    row["train/episodes"] = episodes
    row["train/termination_rate"] = float(m["terminations"].sum() / max(episodes, 1.0))
    row["train/nan_resets"] = float(m["nan_resets"].sum())
    row["train/bad_updates"] = float(m["bad_update"].sum())
    skip = {"active", "bad_update", *rollout.SUMMED_METRICS}
    for k, v in m.items():
        if k in skip:
            continue
        row[k if "/" in k else f"train/{k}"] = float(v.mean())  # reward/*, task/* as named
    return row


def check_keep_best_by(cfg, env) -> None:
    """ConfigError (one line) when run.keep_best_by ranks by a success rate `env`'s task
    does not define (known only once the env is built: a Playground env may or may not)."""
    if cfg.run.keep_best_by == "success_rate" and success_mode(env) is None:
        raise config.ConfigError(
            f"run.keep_best_by=success_rate: task {cfg.env.task!r} defines no success "
            "(no eval/success_rate to rank by); use run.keep_best_by=return")


def make_mesh(cfg, num_envs: int) -> jax.sharding.Mesh:
    """The devices the envs are split across: of each process, all or the first run.devices.

    With several processes (`distributed.initialize`) the mesh holds every
    process's devices, process 0's first, so process p steps the p-th block of envs.
    """
    available = jax.local_devices()
    count = int(cfg.run.devices) or len(available)
    if count > len(available):
        raise config.ConfigError(
            f"run.devices={count}: this process sees {len(available)} "
            f"{available[0].platform} device(s)"
        )
    by_process: dict[int, list] = {}
    for device in jax.devices():
        by_process.setdefault(device.process_index, []).append(device)
    devices = [d for p in sorted(by_process) for d in by_process[p][:count]]
    if num_envs % len(devices):
        where = f" of {len(by_process)} processes" if len(by_process) > 1 else " in use"
        raise config.ConfigError(
            f"{num_envs} training envs are not divisible by the {len(devices)} "
            f"devices{where}"
        )
    return jax.sharding.Mesh(np.array(devices), ("envs",))


def carry_shardings(mesh: jax.sharding.Mesh, abstract_carry, num_envs: int,
                    batched_fields: tuple[str, ...]):
    """Data parallel: env-batched leaves (of the carry's `batched_fields`) split on their
    first axis, everything else replicated.

    With params replicated and the batch split, XLA's partitioner turns the mean
    gradient of each minibatch into a cross-device reduction: one program, any
    device count.
    """
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    batched = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("envs"))

    def pick(path, leaf):
        per_env = getattr(path[0], "name", None) in batched_fields
        return batched if per_env and leaf.ndim and leaf.shape[0] == num_envs else replicated

    return jax.tree_util.tree_map_with_path(pick, abstract_carry)


def _all_finite(tree) -> bool:
    """Host side: every floating leaf of `tree` holds only finite numbers."""
    return all(np.isfinite(x).all() for x in map(np.asarray, jax.tree_util.tree_leaves(tree))
               if np.issubdtype(x.dtype, np.floating))


def _copy_tree(tree):
    """New buffers holding `tree` (jitted: a donated input is never an output's buffer)."""
    return jax.tree_util.tree_map(jnp.copy, tree)


class _SilentLogger:
    """The logger of a process other than 0: process 0 alone writes metrics and prints."""

    def log(self, row: dict[str, Any], console: bool = True) -> None:
        del row, console

    def advance(self, env_steps: int) -> None:
        del env_steps

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


def algorithm_name(cfg) -> str:
    """The run's algorithm (`algorithm.name`)."""
    return cfg.algorithm.name


def make_chunk(train_step: Callable, iterations_per_chunk: int):
    """train_chunk(carry, total_iterations) -> (carry, per-iteration metrics [K]): K
    iterations of `train_step` in one `lax.scan`; iterations from `total_iterations` (an
    int32 scalar) on are skipped.

    Skipping (a scalar `lax.cond`) instead of a shorter last chunk keeps one compiled
    program for the whole run, and the total being an argument keeps it for any number
    of iterations: a run extended on resume, or a shorter run of the same config, loads
    it from the persistent cache. Skipped rows have metrics["active"] = 0.
    """

    def step_with_flag(carry):
        carry, metrics = train_step(carry)
        return carry, {**metrics, "active": jnp.float32(1.0)}

    def train_chunk(carry, total_iterations: jax.Array):
        # Trace the step once (tracing MJX dominates warm start-up) and reuse its jaxpr
        # inside the cond, which also yields the metrics structure for `skip`.
        closed, out_shape = jax.make_jaxpr(step_with_flag, return_shape=True)(carry)
        out_tree = jax.tree_util.tree_structure(out_shape)
        step_fn = jax_core.jaxpr_as_fun(closed)

        def traced_step(c):
            return jax.tree_util.tree_unflatten(out_tree, step_fn(*jax.tree_util.tree_leaves(c)))

        def maybe_step(c, _):
            def skip(c):
                return c, jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), out_shape[1])

            return jax.lax.cond(c.iteration < total_iterations, traced_step, skip, c)

        return jax.lax.scan(maybe_step, carry, None, length=int(iterations_per_chunk))

    return train_chunk


@dataclasses.dataclass(frozen=True)
class TrainFns:
    """A run's algorithm and plug-ins, and the functions the run loop compiles once."""

    algorithm: Any  # playground.algorithms.base.Algorithm
    plugins: tuple  # the reward plug-ins the algorithm hosts
    init: Callable[[jax.Array], Any]
    #: (carry, total_iterations: int32 scalar) -> (carry, per-iteration metrics)
    train_chunk: Callable[[Any, jax.Array], tuple[Any, dict]]
    #: (carry, key) -> eval/* metrics of the deterministic policy
    evaluate: Callable[[Any, jax.Array], dict]


def make_train_fns(env, cfg, derived, log=print) -> TrainFns:
    """Build the run's reward plug-ins and algorithm for `env`, and its chunk and evaluator."""
    plugins = make_reward_plugins(env, cfg, log)
    algorithm = load(get_algorithm(algorithm_name(cfg)).factory)(env, cfg, derived, plugins)
    return TrainFns(
        algorithm=algorithm, plugins=plugins, init=algorithm.init,
        train_chunk=make_chunk(algorithm.train_step, derived.iterations_per_chunk),
        evaluate=rollout.make_evaluator(env, int(cfg.run.eval_envs), algorithm.act))


def legacy_carry_path(path: str, plugins: tuple) -> str | None:
    """Where a carry leaf was saved before reward plug-ins had their own carry field: a
    plug-in's state sat in a field named after it (`.amp.params` for `.rewards['amp'].params`)."""
    for plugin in plugins:
        prefix = f".rewards['{plugin.name}']"
        if path.startswith(prefix):
            return f".{plugin.name}{path[len(prefix):]}"
    return None


@dataclasses.dataclass
class RunResult:
    run_dir: pathlib.Path
    steps_dir: pathlib.Path
    last_row: dict[str, Any]
    final_eval: dict[str, float]
    carry: Any
    wall_time: float
    compile_time: float


class Run:
    """One training run: env, compiled train/eval functions, run directory."""

    def __init__(self, cfg, argv: list[str] | None = None, log=print):
        self.cfg = cfg
        self.is_primary = distributed.is_primary()
        self.log = log if self.is_primary else (lambda *_: None)
        self.derived = config.derive(cfg)
        self.entry = get_task(cfg.env.task)
        self.env = self.entry.make_env(cfg)
        config.validate_reward_weights(cfg, self.env.reward_terms)
        check_keep_best_by(cfg, self.env)
        for warning in getattr(self.env, "model_warnings", []):
            self.log(f"warning: {warning}")
        self.config_dict = config.to_dict(cfg)
        # what a new run reloads (`--config <run>/config.yaml`); the resume path is provenance,
        # and how processes were joined belongs to each launch, not to the run
        self.config_dict["run"]["resume"] = None
        self.config_dict["run"]["discard_later_steps"] = False  # one resume's action, like resume
        self.config_dict["run"]["distributed"] = config.to_dict(config.default_config())[
            "run"]["distributed"]
        self.provenance = provenance.collect(argv)
        spec_env = self.env.policy_spec()
        self.provenance["mjcf_sha256"] = spec_env.get("robot_xml_sha256")
        if getattr(self.env, "fitted_model", None):  # env.robot.sysid: the fitted file's hash
            self.provenance["fitted_model"] = self.env.fitted_model
        self.fns = make_train_fns(self.env, cfg, self.derived, self.log)
        self.algorithm = self.fns.algorithm
        key = jax.random.PRNGKey(int(cfg.run.seed))
        self.key_init, self.key_eval = jax.random.split(key)
        #: train_chunk's argument, not a constant of its program (see train_chunk)
        self.total_iterations = jnp.asarray(self.derived.total_iterations, jnp.int32)
        self.abstract_carry = jax.eval_shape(self.fns.init, self.key_init)
        self.mesh = make_mesh(cfg, self.derived.num_envs)
        self.num_devices = int(self.mesh.devices.size)
        self.provenance["devices"] = self.num_devices
        self.provenance["device_platform"] = self.mesh.devices.flat[0].platform
        self.provenance["processes"] = jax.process_count()
        self.shardings = carry_shardings(self.mesh, self.abstract_carry, self.derived.num_envs,
                                         self.algorithm.batched_fields)
        #: carry fields the algorithm keeps out of checkpoints (restored fresh from `init`)
        self.unsaved_fields = tuple(getattr(self.algorithm, "unsaved_fields", ()))
        self._replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        self._chunk = None
        self._eval = None
        self._snapshot = None
        self.compile_time = 0.0

    # --- compiled functions (each compiled once, ahead of time) -----------------
    def lower(self, carry) -> tuple[jax.stages.Lowered, jax.stages.Lowered]:
        """The chunk and evaluation programs for `carry`, lowered (not yet compiled).

        What the persistent compilation cache keys on: a fresh carry and a restored one,
        and runs that differ only in `ppo.num_iterations`, lower to the same programs.
        """
        evaluate = jax.jit(self.fns.evaluate, in_shardings=(self.shardings, self._replicated),
                           out_shardings=self._replicated).lower(carry, self.key_eval)
        return self.lower_chunk(carry), evaluate

    def lower_chunk(self, carry) -> jax.stages.Lowered:
        """The training chunk as the run loop compiles it (carry donated; call the compiled
        program with `(carry, self.total_iterations)`)."""
        return jax.jit(self.fns.train_chunk, donate_argnums=0,
                       in_shardings=(self.shardings, self._replicated),
                       out_shardings=(self.shardings, self._replicated)
                       ).lower(carry, self.total_iterations)

    def _compile(self, carry):
        """Compile the chunk and the evaluation side by side (XLA releases the GIL)."""
        t = time.monotonic()
        chunk, evaluate = self.lower(carry)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            chunk_future = pool.submit(chunk.compile)
            eval_future = pool.submit(evaluate.compile)
            chunk, self._eval = chunk_future.result(), eval_future.result()
        self._chunk = lambda carry: chunk(carry, self.total_iterations)
        self.compile_time += time.monotonic() - t

    def place(self, carry):
        """A carry (e.g. numpy, restored) on this run's devices, split as the programs expect."""
        return jax.device_put(carry, self.shardings)

    def evaluate(self, carry) -> dict[str, float]:
        carry = self.place(carry)
        if self._eval is None:
            self._compile(carry)
        return {k: float(v) for k, v in jax.device_get(self._eval(carry, self.key_eval)).items()}

    def spec(self, carry) -> dict:
        return self.algorithm.policy_spec(carry, self.config_dict, self.provenance)

    def saved_part(self, carry):
        """`carry` less the fields the algorithm keeps out of checkpoints (`unsaved_fields`)."""
        if not self.unsaved_fields:
            return carry
        return carry.replace(**dict.fromkeys(self.unsaved_fields))

    def restore(self, steps_dir: pathlib.Path, step: int | None = None,
                sharded: bool = False) -> dict:
        """{"step", "carry", "config", "spec", "metrics"} of one step (newest if None).

        sharded: the carry comes back as arrays in this run's shardings, each process
        reading only its own shards (what a multi-process resume needs); else numpy.
        Fields the algorithm keeps out of checkpoints come back as `init` makes them.
        """
        restored = checkpoint.restore(
            steps_dir, self.saved_part(self.abstract_carry), step,
            shardings=self.saved_part(self.shardings) if sharded else None,
            legacy_path=lambda path: legacy_carry_path(path, self.fns.plugins))
        if self.unsaved_fields:
            fields = self.unsaved_fields
            fresh = jax.jit(lambda key: {f: getattr(self.fns.init(key), f) for f in fields},
                            out_shardings={f: getattr(self.shardings, f) for f in fields}
                            )(self.key_init)
            restored["carry"] = restored["carry"].replace(
                **(fresh if sharded else jax.device_get(fresh)))
        return restored

    def snapshot(self, carry):
        """A copy of `carry` on its devices, in its shardings, for an async save to read
        while the next chunk donates `carry`'s own buffers."""
        if self._snapshot is None:
            self._snapshot = jax.jit(_copy_tree, in_shardings=(self.shardings,),
                                     out_shardings=self.shardings)
        return self._snapshot(carry)

    # --- the loop ------------------------------------------------------------------
    def make_run_dir(self) -> pathlib.Path:
        name = self.cfg.run.name or f"{self.cfg.env.task}-{time.strftime('%Y%m%d-%H%M%S')}"
        root = pathlib.Path(os.path.expanduser(self.cfg.run.checkpoint_dir))
        run_dir = root / name
        suffix = 1
        while run_dir.exists():
            run_dir = root / f"{name}-{suffix}"
            suffix += 1
        run_dir.mkdir(parents=True)
        return run_dir.resolve()

    def _start(self) -> tuple[pathlib.Path, Any]:
        """A new run directory (process 0 names and writes it) and the initial carry."""
        carry = jax.jit(self.fns.init, out_shardings=self.shardings)(self.key_init)
        if self.cfg.run.init_from:  # checked before the run directory exists
            carry = self._warm_start(carry)
        run_dir = None
        if self.is_primary:
            run_dir = self.make_run_dir()
            config.save_config(self.config_dict, run_dir / "config.yaml")
            runs.write_atomic(run_dir / "provenance.json", json.dumps(self.provenance, indent=2))
        run_dir = distributed.broadcast_path(run_dir)
        return run_dir, carry

    #: Spec entries that must be equal for the other run's networks to mean the same here.
    WARM_START_SPEC_KEYS = ("observation", "action", "last_action", "default_pose",
                            "joint_names", "actuator_names", "network")

    def _warm_start(self, carry):
        """`carry` with run.init_from's params and normalizer, placed in this run's
        shardings; ConfigError (one line) when that checkpoint cannot start this run."""
        try:
            steps_dir, step = runs.find_step(self.cfg.run.init_from, self.cfg.run.checkpoint_dir)
            parts = self.algorithm.warm_start_parts
            leaves, spec = checkpoint.restore_parts(steps_dir, step, parts)
        except (FileNotFoundError, ValueError) as error:
            raise config.ConfigError(f"--init-from: {error}") from None
        source = steps_dir / str(step)
        ours = json.loads(json.dumps(self.spec(carry), default=float))
        for key in self.WARM_START_SPEC_KEYS:
            if spec.get(key) != ours.get(key):
                raise config.ConfigError(
                    f"--init-from {source}: its policy spec's {key!r} differs from this run's "
                    "(another robot, observation layout or network); a warm start needs the same")

        def take(path, leaf):
            key = jax.tree_util.keystr(path)
            if not key.startswith(parts) or not leaf.size:
                return leaf
            value = leaves.get(key)
            if value is None or value.shape != leaf.shape or value.dtype != leaf.dtype:
                found = "missing" if value is None else f"{value.dtype}{list(value.shape)}"
                raise config.ConfigError(f"--init-from {source}: {key} is {found}, this run "
                                         f"needs {leaf.dtype}{list(leaf.shape)}")
            return jax.make_array_from_callback(value.shape, leaf.sharding, lambda i: value[i])

        carry = jax.tree_util.tree_map_with_path(take, carry)
        self.provenance["init_from"] = {"checkpoint": str(source), "iteration": step}
        self.log(f"warm start: policy, value function and observation normalizer from {source}")
        return carry

    def _resume(self) -> tuple[pathlib.Path, Any]:
        """The run directory and carry of the checkpoint named by run.resume (a step dir)."""
        steps_dir, step = runs.find_step(self.cfg.run.resume)
        run_dir = steps_dir.parent
        changes = config.resume_changes(runs.read_config(steps_dir, step), self.config_dict)
        history_path = run_dir / "provenance.json"
        history = json.loads(history_path.read_text()) if history_path.is_file() else {}
        # an exact resume runs the same program: same device and process counts (a run
        # without provenance is taken as it comes; one from before multi-host had 1 process)
        counts = (("devices", self.num_devices, self.num_devices, "run.devices"),
                  ("processes", jax.process_count(), 1, "run.distributed.num_processes"))
        for key, now, unrecorded, setting in counts:
            before = history.get(key, unrecorded)
            if before != now:
                raise config.ConfigError(
                    f"--resume: the run trained with {before} {key} and this one has {now}; "
                    f"an exact resume needs the same count ({setting})"
                )
        platform = self.provenance["device_platform"]
        if history.get("device_platform", platform) != platform:  # unrecorded before run.device
            raise config.ConfigError(
                f"--resume: the run trained on {history['device_platform']} and this one runs on "
                f"{platform}; an exact resume needs the same platform (run.device, --device)")
        restored = self.restore(steps_dir, step, sharded=True)
        dropped = 0
        if self.is_primary:
            if self.cfg.run.discard_later_steps:  # refused without it (runs.check_resume_step)
                self.log(runs.discard_later_steps(run_dir, step) or "nothing to discard")
            dropped = runs.truncate_metrics(run_dir, step)
            # the event files too (TensorBoard's step is env steps), whether or not it is on now
            tb_events.truncate_events(run_dir, step * self.derived.env_steps_per_iteration)
            config.save_config(self.config_dict, run_dir / "config.yaml")
            history.setdefault("resumes", []).append(
                {"from_iteration": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "command": self.provenance["command"],
                 "git_commit": self.provenance["git_commit"], "changes": changes}
            )
            runs.write_atomic(history_path, json.dumps(history, indent=2))
        self.log(f"resuming {run_dir} from iteration {step}"
                 + (f" ({dropped} logged rows past it dropped: they are recomputed)" if dropped else ""))
        for change in changes:
            self.log(f"resume: {change}")
        if self.unsaved_fields:
            self.log(f"resume: checkpoints leave out {', '.join(self.unsaved_fields)}: it starts "
                     "as at a new run, so this resume is exact except for it")
        if restored["added"]:
            self.log(f"resume: the checkpoint predates env state {', '.join(restored['added'])}: "
                     "it starts at zero (as at an env reset), so this resume is not exact")
        return run_dir, self.place(restored["carry"])

    def train(self) -> RunResult:
        cfg, derived = self.cfg, self.derived
        t_start = time.monotonic()
        run_dir, carry = self._resume() if cfg.run.resume else self._start()
        for note in derived.notes:
            self.log(f"note: {note}")
        per_chunk, total = derived.iterations_per_chunk, derived.total_iterations
        iteration = int(carry.iteration)
        self.log(
            f"run {run_dir}  task {cfg.env.task}  envs {derived.num_envs}  iterations "
            f"{iteration}..{total} x {derived.env_steps_per_iteration} env steps "
            f"({per_chunk} per chunk)"
        )
        steps_dir = run_dir / runs.STEPS_DIRNAME
        row: dict[str, Any] = checkpoint.read_metrics(steps_dir, iteration) if iteration else {}
        # logged wall time runs on across resumes: the checkpoint's row says how much came before
        wall_before = float(row.get("wall_time", 0.0))
        final_eval: dict[str, float] = {}
        if iteration >= total:
            budget = "run.env_steps (--steps)" if cfg.run.env_steps is not None else "its num_iterations"
            self.log(f"nothing to do: the run is at iteration {iteration} of {total} "
                     f"(raise {budget} to train on)")
            return RunResult(run_dir=run_dir, steps_dir=steps_dir, last_row=row,
                             final_eval=final_eval, carry=carry, wall_time=0.0, compile_time=0.0)
        self.log("compiling the training step and evaluation (cached after the first run) ...")
        self._compile(carry)
        self.log(f"compiled in {self.compile_time:.1f}s")

        saver = checkpoint.Checkpointer(steps_dir, keep=int(cfg.run.keep_checkpoints),
                                        keep_best=int(cfg.run.keep_best),
                                        best_by=str(cfg.run.keep_best_by))
        for name in saver.removed_leftovers:
            self.log(f"removed {steps_dir / name} (a save interrupted by a kill)")
        logger = (RunLogger(run_dir, cfg, self.config_dict, derived.total_env_steps,
                            initial_env_steps=iteration * derived.env_steps_per_iteration)
                  if self.is_primary else _SilentLogger())
        t_loop = time.monotonic()
        try:
            while iteration < total:
                # chunks are counted from iteration 0, so a resumed run evaluates and saves
                # at the same iterations as one that never stopped
                chunk = iteration // per_chunk + 1
                t0 = time.monotonic()
                steps_before = iteration * derived.env_steps_per_iteration
                carry, metrics = self._chunk(carry)
                metrics = jax.device_get(metrics)  # replicated: each process reads its copy
                iteration = int(carry.iteration)
                env_steps = iteration * derived.env_steps_per_iteration
                dt = time.monotonic() - t0
                sps = (env_steps - steps_before) / max(dt, 1e-9)
                row = {"iteration": iteration, "env_steps": env_steps,
                       "wall_time": wall_before + time.monotonic() - t_start, "train/sps": sps,
                       "eta_seconds": (derived.total_env_steps - env_steps) / max(sps, 1e-9)}
                row.update(aggregate_chunk(metrics))
                for plugin in self.fns.plugins:
                    warning = plugin.watch(metrics)
                    if warning:
                        self.log(f"warning: iteration {iteration}: {warning}")
                last = iteration >= total
                if last or (derived.eval_every_chunks and chunk % derived.eval_every_chunks == 0):
                    final_eval = self.evaluate(carry)
                    row.update(final_eval)
                logger.log(row)
                logger.advance(env_steps)
                preempted = distributed.reached_preemption_point(chunk)
                if last or preempted or (derived.checkpoint_every_chunks
                                         and chunk % derived.checkpoint_every_chunks == 0):
                    # the next chunk donates the buffers of `carry`: save a copy (on device,
                    # so each process holds and writes only its own shards)
                    snapshot = self.snapshot(carry)
                    if _all_finite(self.algorithm.learner_state(snapshot)):  # replicated: local
                        saver.save(iteration, self.saved_part(snapshot), self.config_dict,
                                   self.spec(snapshot), row)
                    else:  # never let a poisoned carry replace the last good checkpoint
                        self.log(f"warning: iteration {iteration}: non-finite parameters or "
                                 "statistics, checkpoint not written")
                if preempted and not last:
                    raise TrainingError(
                        f"stopped by a preemption notice (SIGTERM) at iteration {iteration}, "
                        f"checkpoint saved: continue with --resume {run_dir}"
                    )
                reason = self.algorithm.stop_reason(carry)
                if reason:
                    raise TrainingError(f"{reason}; last good checkpoint under {steps_dir}")
            logger.finish()
        finally:
            saver.close()
            logger.close()
        wall = time.monotonic() - t_start
        self.log(f"done: {row.get('env_steps', 0):,} env steps in {wall:.1f}s "
                 f"(loop {time.monotonic() - t_loop:.1f}s, compile {self.compile_time:.1f}s); "
                 f"run dir {run_dir}")
        return RunResult(run_dir=run_dir, steps_dir=steps_dir, last_row=row, final_eval=final_eval,
                         carry=carry, wall_time=wall, compile_time=self.compile_time)


@dataclasses.dataclass
class LoadedCheckpoint:
    """One checkpoint step, restored, with the `Run` its saved config builds."""

    cfg: Any
    run: Run
    step: int
    carry: Any
    spec: dict
    metrics: dict
    run_dir: pathlib.Path
    steps_dir: pathlib.Path


def load_checkpoint(path, overrides=(), checkpoint_dir: str | None = None,
                    log=print) -> LoadedCheckpoint:
    """Restore a checkpoint (a run dir, step dir or "latest"; see `runs.find_step`).

    The checkpoint's saved config builds the env and networks; `overrides`
    ((dotted key, value) pairs as for `--set`) may change what does not alter
    shapes, e.g. `run.eval_envs` or `domain_randomization.enabled`.
    FileNotFoundError / ConfigError / ValueError are one-line user errors.
    """
    steps_dir, step = runs.find_step(path, checkpoint_dir)
    # one device whatever the run trained on: restoring is for evaluation and export
    overrides = [("run.devices", 1), *overrides]
    cfg = config.from_saved(runs.read_config(steps_dir, step), overrides,
                            source=str(steps_dir / str(step)))
    run = Run(cfg, log=log)
    restored = run.restore(steps_dir, step)
    return LoadedCheckpoint(cfg=cfg, run=run, step=step, carry=restored["carry"],
                            spec=restored["spec"], metrics=restored["metrics"],
                            run_dir=steps_dir.parent, steps_dir=steps_dir)
