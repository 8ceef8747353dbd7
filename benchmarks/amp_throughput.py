"""Training throughput with AMP divided by without: same config, same process.

Both programs are the real compiled `train_chunk` of `playground.runner.Run`
(the AMP one adds per-step feature extraction, the style reward, the replay
insert, the normalizer update and `amp.disc_updates` discriminator steps). They
are compiled first and run once untimed, then timed in `--chunks` interleaved
rounds (order alternated every round, so load drift on a shared machine hits both
alike); the ratio is of the median seconds per chunk. Goal: >= 0.85.

    .venv/bin/python benchmarks/amp_throughput.py                       # CPU recipe, 128 envs
    .venv/bin/python benchmarks/amp_throughput.py --config configs/humanoid_walk.yaml \
        --num-envs 512 --chunks 6
"""

from __future__ import annotations

import argparse
from typing import Any

import common
import throughput


def measure(args) -> dict[str, Any]:
    overrides = common.parse_sets(args.set)
    calls, compile_s, cfgs = {}, {}, {}
    for name, enabled in (("ppo", False), ("ppo+amp", True)):
        common.log(f"{name}: building and compiling the training chunk")
        run = throughput.make_run(args.config, args.num_envs, args.iterations_per_chunk,
                                  2 * args.chunks + 2, [*overrides, ("amp.enabled", enabled)])
        compile_s[name], calls[name], _ = throughput.make_trainer_call(run)
        cfgs[name] = run.cfg
        calls[name]()  # warm-up, untimed
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(args.chunks):
        for name in names if r % 2 == 0 else names[::-1]:
            seconds[name].append(calls[name]()[0])
        common.log(f"round {r + 1}/{args.chunks}: "
                   + ", ".join(f"{n} {seconds[n][-1]:.2f}s" for n in names))
    cfg = cfgs["ppo+amp"]
    steps = args.num_envs * int(cfg.ppo.unroll_length) * args.iterations_per_chunk
    out = {
        "config": str(args.config), "num_envs": args.num_envs,
        "iterations_per_chunk": args.iterations_per_chunk, "chunks": args.chunks,
        "amp": {k: (list(v) if isinstance(v, (list, tuple)) else v)
                for k, v in cfg.amp.items() if k not in ("features", "motion_files")},
        "command": common.command_line("amp_throughput.py"),
        "machine": common.machine_info(),
    }
    for name in names:
        sec = common.median(seconds[name])
        out[name] = {"compile_s": compile_s[name], "call_seconds": seconds[name],
                     "env_steps_per_s": steps / sec}
    out["ratio_amp_over_ppo"] = out["ppo+amp"]["env_steps_per_s"] / out["ppo"]["env_steps_per_s"]
    return out


def to_markdown(r: dict[str, Any]) -> str:
    amp = r["amp"]
    rows = [[name, common.fmt_int(r[name]["env_steps_per_s"]), f"{r[name]['compile_s']:.0f}"]
            for name in ("ppo", "ppo+amp")]
    return "\n".join([
        f"Humanoid (`{r['config']}`), {r['num_envs']} envs; discriminator {amp['disc_hidden']}, "
        f"{amp['disc_updates']} steps of {amp['disc_batch_size']} per iteration, replay "
        f"{amp['replay_size']}. Median of {r['chunks']} interleaved chunks of "
        f"{r['iterations_per_chunk']} iterations.",
        "",
        common.markdown_table(["trainer", "env steps/s", "compile s"], rows),
        "",
        f"AMP / PPO throughput: **{r['ratio_amp_over_ppo']:.2f}** (goal >= 0.85)",
        "",
        common.machine_line(r["machine"]),
        "",
        f"`{r['command']}`",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(common.CONFIG_DIR / "humanoid_walk_cpu.yaml"))
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--iterations-per-chunk", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=5)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="config override, as the trainer's --set (repeatable)")
    parser.add_argument("--cache", default=common.DEFAULT_CACHE,
                        help="persistent XLA cache ('' disables)")
    parser.add_argument("--json", default=None, help="also write the result here (run_all.py)")
    args = parser.parse_args()
    common.configure_cache(args.cache)
    common.publish(measure(args), to_markdown, args.json)


if __name__ == "__main__":
    main()
