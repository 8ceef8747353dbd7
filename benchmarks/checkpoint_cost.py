"""What checkpointing costs a humanoid run: save time, size on disk, and steps/s.

The CPU recipe (configs/humanoid_walk_cpu.yaml, 128 envs) is built and compiled once.
Then, in the same process:
- save time: `Checkpointer.save` of the whole carry (params, optimizer, normalizer,
  the env state of every env, keys, counters) plus config and spec, measured as the time
  training is blocked (host copy + handing the step to orbax's background writer) and
  the time until the step is complete on disk; size = the step directory on disk;
- steps/s cost, measured side by side: chunks with a save after every chunk (the worst
  case, `run.checkpoint_every` = one chunk) against chunks without, alternating, and the
  cost at the default interval (`run.checkpoint_every` = 100 iterations) derived from the
  blocking time. Goal: < 2 % at the default interval.

    .venv/bin/python benchmarks/checkpoint_cost.py [--chunks 6]
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time
from typing import Any

import common

GOAL = 0.02


def _dir_bytes(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(config_file, chunks: int) -> dict[str, Any]:
    import jax

    from playground import checkpoint, config, runner

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ckpt-cost-"))
    cfg = common.resolve_config(config_file, [("run.wandb.enabled", False),
                                              ("run.checkpoint_dir", str(tmp))])
    run = runner.Run(cfg, ["checkpoint_cost"], log=lambda *_: None)
    carry = jax.jit(run.fns.init, out_shardings=run.shardings)(run.key_init)
    common.log("compiling the humanoid training chunk")
    run._compile(carry)
    per_chunk = run.derived.iterations_per_chunk
    saver = checkpoint.Checkpointer(tmp / "steps", keep=2, keep_best=0)
    carry, _ = run._chunk(carry)  # warm-up
    jax.block_until_ready(carry)

    def save(carry) -> tuple[float, float]:
        t = time.perf_counter()
        host = jax.device_get(carry)
        saver.save(int(host.iteration), host, run.config_dict, run.spec(host), {})
        blocked = time.perf_counter() - t
        saver.wait()
        return blocked, time.perf_counter() - t

    plain, saving, blocked, complete = [], [], [], []
    for i in range(chunks * 2):
        with_save = i % 2 == 1  # alternate, so both arms see the same machine load
        t = time.perf_counter()
        carry, metrics = run._chunk(carry)
        jax.block_until_ready(metrics)
        if with_save:
            t_save = time.perf_counter()
            host = jax.device_get(carry)
            saver.save(int(host.iteration), host, run.config_dict, run.spec(host), {})
            blocked.append(time.perf_counter() - t_save)
        (saving if with_save else plain).append(time.perf_counter() - t)
        common.log(f"chunk {i + 1}/{chunks * 2} {'save' if with_save else 'plain'} "
                   f"{(saving if with_save else plain)[-1]:.2f}s")
    saver.wait()
    for _ in range(3):  # the full time to a complete step, nothing else running
        carry, metrics = run._chunk(carry)
        jax.block_until_ready(metrics)
        complete.append(save(carry)[1])
    step_dir = tmp / "steps" / str(checkpoint.complete_steps(tmp / "steps")[-1])
    size = _dir_bytes(step_dir)
    saver.close()
    env_steps = per_chunk * run.derived.env_steps_per_iteration
    chunk_s = common.median(plain)
    per_iteration = chunk_s / per_chunk
    default_every = int(config.default_config().run.checkpoint_every)
    return {
        "num_envs": int(cfg.ppo.num_envs),
        "iterations_per_chunk": per_chunk,
        "chunk_s_plain": chunk_s,
        "chunk_s_with_save": common.median(saving),
        "sps_plain": env_steps / chunk_s,
        "sps_with_save": env_steps / common.median(saving),
        "save_blocking_s": common.median(blocked),
        "save_complete_s": common.median(complete),
        "step_bytes": size,
        "default_checkpoint_every": default_every,
        "cost_every_chunk": common.median(saving) / chunk_s - 1.0,
        "cost_default_interval": common.median(blocked) / (default_every * per_iteration),
    }


def to_markdown(r: dict[str, Any]) -> str:
    ok = "met" if r["cost_default_interval"] < GOAL else "not met"
    return "\n".join([
        "## Checkpoint cost (humanoid, CPU recipe)",
        "",
        common.machine_line(r["machine"]),
        f"Command: `{r['command']}`",
        "",
        common.markdown_table(["measure", "value"], [
            ["envs / iterations per chunk", f"{r['num_envs']} / {r['iterations_per_chunk']}"],
            ["one checkpoint step on disk (carry incl. env state, config, spec)",
             f"{r['step_bytes'] / 1e6:.2f} MB"],
            ["training blocked per save (host copy + hand-off to orbax)",
             f"{r['save_blocking_s'] * 1e3:.0f} ms"],
            ["save complete on disk", f"{r['save_complete_s'] * 1e3:.0f} ms"],
            ["steps/s without saving / saving after every chunk",
             f"{common.fmt_int(r['sps_plain'])} / {common.fmt_int(r['sps_with_save'])}"],
            ["cost, a save after every chunk (measured side by side)",
             f"{r['cost_every_chunk']:+.1%}"],
            [f"cost at the default interval ({r['default_checkpoint_every']} iterations)",
             f"{r['cost_default_interval']:.2%} (goal < {GOAL:.0%}: {ok})"],
        ]),
        "",
        "Saves are asynchronous: training waits only for the host copy and orbax's "
        "hand-off; the write runs beside the next chunk. On 2 cores the writer still takes "
        "CPU from training, which the side-by-side figure includes.",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=6, help="chunks per arm")
    parser.add_argument("--config", default=str(common.CONFIG_DIR / "humanoid_walk_cpu.yaml"))
    parser.add_argument("--json", default=None)
    parser.add_argument("--cache", default=common.DEFAULT_CACHE)
    args = parser.parse_args()
    common.configure_cache(args.cache)
    result = measure(args.config, args.chunks)
    result["machine"] = common.machine_info()
    result["command"] = common.command_line("checkpoint_cost.py")
    common.publish(result, to_markdown, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
