"""Device memory per env from the compiled training program's own memory analysis,
and the plan it gives for 2048 / 4096 / 8192 envs on an 80 GB GPU.

The humanoid's production config (configs/humanoid_walk.yaml: unroll 20, 4 minibatches,
[512, 256, 128] networks) is lowered and compiled at several env counts on this
machine's backend; `compiled.memory_analysis()` reports the bytes XLA allocates for
arguments (the carry), outputs, and temporaries (the rollout, minibatches, gradients).
Peak = arguments + outputs - aliased (donated) + temporaries. A line through the points
gives bytes per env; the plan extrapolates it.

Caveat, stated in the table: the figures come from the CPU backend's buffer
assignment. A GPU build of the same program differs in fusion and layout (and MJX's
contact buffers), so the plan is a sizing guide to check with one short GPU run, not
a guarantee.

    .venv/bin/python benchmarks/memory_plan.py [--envs 32 64 128 256]
"""

from __future__ import annotations

import argparse
from typing import Any

import common

GPU_BYTES = 80e9
PLAN_ENVS = (2048, 4096, 8192)


def measure(num_envs: int, config_file) -> dict[str, Any]:
    import jax

    from playground import runner

    unroll = 20
    cfg = common.resolve_config(config_file, [
        ("ppo.num_envs", num_envs), ("run.log_every", num_envs * unroll),  # 1 iteration/chunk
        ("run.eval_envs", 128), ("run.wandb.enabled", False), ("run.devices", 1),
    ])
    run = runner.Run(cfg, ["memory_plan"], log=lambda *_: None)
    carry = jax.jit(run.fns.init, out_shardings=run.shardings)(run.key_init)
    compiled = run.lower_chunk(carry).compile()
    mem = compiled.memory_analysis()
    row = {
        "num_envs": num_envs,
        "argument_bytes": int(mem.argument_size_in_bytes),
        "output_bytes": int(mem.output_size_in_bytes),
        "alias_bytes": int(mem.alias_size_in_bytes),
        "temp_bytes": int(mem.temp_size_in_bytes),
    }
    row["peak_bytes"] = (row["argument_bytes"] + row["output_bytes"] - row["alias_bytes"]
                         + row["temp_bytes"])
    return row


def fit(rows: list[dict[str, Any]], key: str) -> tuple[float, float]:
    """Least-squares line bytes = fixed + per_env * num_envs."""
    import numpy as np

    x = np.array([r["num_envs"] for r in rows], float)
    y = np.array([r[key] for r in rows], float)
    per_env, fixed = np.polyfit(x, y, 1)
    return float(fixed), float(per_env)


def to_markdown(result: dict[str, Any]) -> str:
    gb = 1e9
    rows = [[r["num_envs"], f"{r['argument_bytes'] / 1e6:.1f}", f"{r['temp_bytes'] / 1e6:.1f}",
             f"{r['peak_bytes'] / 1e6:.1f}"] for r in result["measured"]]
    fixed, per_env = result["fixed_bytes"], result["per_env_bytes"]
    plan = []
    for n in PLAN_ENVS:
        need = fixed + per_env * n
        plan.append([n, f"{need / gb:.2f}", f"{need / GPU_BYTES:.1%}",
                     "fits" if need < 0.9 * GPU_BYTES else "does not fit"])
    carry_fixed, carry_per_env = result["carry_fixed_bytes"], result["carry_per_env_bytes"]
    return "\n".join([
        "## Device memory per env and the plan for an 80 GB GPU",
        "",
        common.machine_line(result["machine"]),
        f"Command: `{result['command']}`",
        "",
        "Humanoid, production config (configs/humanoid_walk.yaml: unroll 20, 4 minibatches, "
        "4 epochs, [512, 256, 128] networks), one training iteration per compiled chunk; "
        "`compiled.memory_analysis()` of the training program (CPU backend):",
        "",
        common.markdown_table(["envs", "carry (args) MB", "temporaries MB", "peak MB"], rows),
        "",
        f"Fit: peak = {fixed / 1e6:.1f} MB + {per_env / 1e3:.1f} kB x envs; the carry alone "
        f"(checkpoint size in memory) = {carry_fixed / 1e6:.2f} MB + "
        f"{carry_per_env / 1e3:.1f} kB x envs.",
        "",
        common.markdown_table(["envs", "peak GB", "of 80 GB", ""], plan),
        "",
        f"By this fit one 80 GB GPU holds about {0.9 * GPU_BYTES / per_env / 1e3:,.0f}k envs "
        "(90 % of its memory): at 2048-8192 envs memory is not what limits a run, compute is.",
        "",
        "What to turn when it does not fit: `ppo.num_minibatches` (temporaries of one "
        "minibatch's gradient scale with envs x unroll / minibatches), `ppo.unroll_length` "
        "(the rollout buffer is envs x unroll x (obs + privileged obs + action)), and "
        "`run.devices` (envs split across GPUs). These are CPU-backend figures: confirm with "
        "one short GPU run before sizing a production job.",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--config", default=str(common.CONFIG_DIR / "humanoid_walk.yaml"))
    parser.add_argument("--json", default=None)
    parser.add_argument("--cache", default=common.DEFAULT_CACHE)
    args = parser.parse_args()
    common.configure_cache(args.cache)
    measured = []
    for n in args.envs:
        common.log(f"compiling the humanoid training chunk at {n} envs")
        measured.append(measure(n, args.config))
        common.log(f"  peak {measured[-1]['peak_bytes'] / 1e6:.1f} MB")
    fixed, per_env = fit(measured, "peak_bytes")
    carry_fixed, carry_per_env = fit(measured, "argument_bytes")
    result = {"measured": measured, "fixed_bytes": fixed, "per_env_bytes": per_env,
              "carry_fixed_bytes": carry_fixed, "carry_per_env_bytes": carry_per_env,
              "plan": {n: fixed + per_env * n for n in PLAN_ENVS},
              "machine": common.machine_info(), "command": common.command_line("memory_plan.py")}
    common.publish(result, to_markdown, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
