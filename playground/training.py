"""A training run: build env and compiled functions once, loop over chunks, log, save.

Python runs only between chunks of `iterations_per_chunk` jitted iterations:
there it logs, evaluates and checkpoints. `train.py` is the CLI around `Run`.
"""

from __future__ import annotations

# isort: off
from playground.envs import mjx_compat  # noqa: F401  (first mjx import: keeps it quiet)

# isort: on
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import time
from typing import Any

import jax
import numpy as np

from playground import checkpoint, config, provenance
from playground.agents.ppo.trainer import TrainCarry, make_train_fns
from playground.envs.registry import get_task
from playground.logger import RunLogger, plot_learning_curve
from playground.policy_spec import make_policy_spec


class TrainingError(RuntimeError):
    """A run that cannot go on (e.g. too many non-finite updates); message is one line."""


def configure_jax(cfg) -> None:
    """Process-wide JAX settings from the config; called by the CLI, never at import."""
    cache = cfg.run.compilation_cache
    if cache:
        path = pathlib.Path(os.path.expanduser(cache))
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def aggregate_chunk(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """[K] per-iteration metrics of one chunk -> one row (skipped iterations excluded)."""
    active = metrics["active"] > 0
    m = {k: np.asarray(v)[active] for k, v in metrics.items()}
    row: dict[str, float] = {}
    episodes = float(m["episodes"].sum())
    if episodes > 0:
        row["train/episode_reward"] = float(m["episode_return_sum"].sum() / episodes)
        row["train/episode_length"] = float(m["episode_length_sum"].sum() / episodes)
    row["train/episodes"] = episodes
    row["train/termination_rate"] = float(m["terminations"].sum() / max(episodes, 1.0))
    row["train/nan_resets"] = float(m["nan_resets"].sum())
    row["train/bad_updates"] = float(m["bad_update"].sum())
    skip = {"active", "episodes", "episode_return_sum", "episode_length_sum", "terminations",
            "nan_resets", "bad_update"}
    for k, v in m.items():
        if k in skip:
            continue
        row[k if "/" in k else f"train/{k}"] = float(v.mean())  # reward/*, task/* as named
    return row


def _refuse_unbuilt_features(cfg) -> None:
    """Reserved keys whose feature is not built yet: refuse rather than silently ignore."""
    if cfg.amp.enabled:
        raise config.ConfigError("amp.enabled: AMP is not implemented yet (reserved key)")
    if cfg.run.resume is not None:
        raise config.ConfigError("run.resume: resuming a run is not implemented yet (reserved key)")
    if cfg.run.devices != 1:
        raise config.ConfigError(f"run.devices={cfg.run.devices}: only 1 device is supported yet")


@dataclasses.dataclass
class RunResult:
    run_dir: pathlib.Path
    steps_dir: pathlib.Path
    last_row: dict[str, Any]
    final_eval: dict[str, float]
    carry: TrainCarry
    wall_time: float
    compile_time: float


class Run:
    """One training run: env, compiled train/eval functions, run directory."""

    def __init__(self, cfg, argv: list[str] | None = None, log=print):
        self.cfg = cfg
        self.log = log
        self.derived = config.derive(cfg)
        _refuse_unbuilt_features(cfg)
        self.entry = get_task(cfg.env.task)
        self.env = self.entry.make_env(cfg)
        config.validate_reward_weights(cfg, self.env.reward_terms)
        for warning in getattr(self.env, "model_warnings", []):
            log(f"warning: {warning}")
        self.config_dict = config.to_dict(cfg)
        self.provenance = provenance.collect(argv)
        spec_env = self.env.policy_spec()
        self.provenance["mjcf_sha256"] = spec_env.get("robot_xml_sha256")
        self.fns = make_train_fns(self.env, cfg, self.derived)
        key = jax.random.PRNGKey(int(cfg.run.seed))
        self.key_init, self.key_eval = jax.random.split(key)
        self.abstract_carry = jax.eval_shape(self.fns.init, self.key_init)
        self._chunk = None
        self._eval = None
        self.compile_time = 0.0

    # --- compiled functions (each compiled once, ahead of time) -----------------
    def _compile(self, carry):
        """Compile the chunk and the evaluation side by side (XLA releases the GIL)."""
        t = time.monotonic()
        chunk = jax.jit(self.fns.train_chunk, donate_argnums=0).lower(carry)
        evaluate = jax.jit(self.fns.evaluate).lower(carry, self.key_eval)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            chunk_future = pool.submit(chunk.compile)
            eval_future = pool.submit(evaluate.compile)
            self._chunk, self._eval = chunk_future.result(), eval_future.result()
        self.compile_time += time.monotonic() - t

    def evaluate(self, carry) -> dict[str, float]:
        if self._eval is None:
            self._compile(carry)
        return {k: float(v) for k, v in jax.device_get(self._eval(carry, self.key_eval)).items()}

    def spec(self, carry) -> dict:
        return make_policy_spec(self.env, self.cfg, self.config_dict, carry.normalizer, self.provenance)

    def restore(self, steps_dir: pathlib.Path, step: int | None = None) -> dict:
        return checkpoint.restore(steps_dir, self.abstract_carry, step)

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

    def train(self) -> RunResult:
        cfg, derived = self.cfg, self.derived
        t_start = time.monotonic()
        run_dir = self.make_run_dir()
        config.save_config(cfg, run_dir / "config.yaml")
        (run_dir / "provenance.json").write_text(json.dumps(self.provenance, indent=2))
        for note in derived.notes:
            self.log(f"note: {note}")
        self.log(
            f"run {run_dir}  task {cfg.env.task}  envs {cfg.ppo.num_envs}  iterations "
            f"{cfg.ppo.num_iterations} x {derived.env_steps_per_iteration} env steps "
            f"({derived.iterations_per_chunk} per chunk)"
        )
        carry = jax.jit(self.fns.init)(self.key_init)
        self.log("compiling the training step and evaluation (cached after the first run) ...")
        self._compile(carry)
        self.log(f"compiled in {self.compile_time:.1f}s")

        steps_dir = run_dir / "checkpoints"
        saver = checkpoint.Checkpointer(steps_dir, keep=int(cfg.run.keep_checkpoints))
        logger = RunLogger(run_dir, cfg, self.config_dict, derived.total_env_steps)
        row: dict[str, Any] = {}
        final_eval: dict[str, float] = {}
        t_loop = time.monotonic()
        try:
            for chunk in range(1, derived.num_chunks + 1):
                t0 = time.monotonic()
                steps_before = int(carry.iteration) * derived.env_steps_per_iteration
                carry, metrics = self._chunk(carry)
                metrics = jax.device_get(metrics)
                iteration = int(carry.iteration)
                env_steps = iteration * derived.env_steps_per_iteration
                dt = time.monotonic() - t0
                sps = (env_steps - steps_before) / max(dt, 1e-9)
                row = {"iteration": iteration, "env_steps": env_steps,
                       "wall_time": time.monotonic() - t_start, "train/sps": sps,
                       "eta_seconds": (derived.total_env_steps - env_steps) / max(sps, 1e-9)}
                row.update(aggregate_chunk(metrics))
                last = chunk == derived.num_chunks
                if last or (derived.eval_every_chunks and chunk % derived.eval_every_chunks == 0):
                    final_eval = self.evaluate(carry)
                    row.update(final_eval)
                logger.log(row)
                logger.advance(env_steps)
                if last or (derived.checkpoint_every_chunks
                            and chunk % derived.checkpoint_every_chunks == 0):
                    # a host copy: the next chunk donates the device buffers of `carry`
                    host = jax.device_get(carry)
                    saver.save(iteration, host, self.config_dict, self.spec(host), row)
                if int(carry.bad_updates) >= int(cfg.ppo.max_bad_updates):
                    raise TrainingError(
                        f"{int(carry.bad_updates)} non-finite updates in a row at iteration "
                        f"{iteration} (ppo.max_bad_updates={cfg.ppo.max_bad_updates}); "
                        f"last good checkpoint under {steps_dir}"
                    )
        finally:
            saver.close()
            logger.close()
        plot_learning_curve(run_dir / "metrics.jsonl", run_dir / "learning_curve.png")
        wall = time.monotonic() - t_start
        self.log(f"done: {row.get('env_steps', 0):,} env steps in {wall:.1f}s "
                 f"(loop {time.monotonic() - t_loop:.1f}s, compile {self.compile_time:.1f}s); "
                 f"run dir {run_dir}")
        return RunResult(run_dir=run_dir, steps_dir=steps_dir, last_row=row, final_eval=final_eval,
                         carry=carry, wall_time=wall, compile_time=self.compile_time)
