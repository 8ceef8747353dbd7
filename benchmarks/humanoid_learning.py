"""Does the humanoid learn something real? A trained run against the random policy.

Reads a finished run's metrics.jsonl (the fixed-seed ~20-minute CPU run) and measures,
in this process, the floor: the mean episode length of uniformly random actions and of
zero actions (hold the home pose) under the same config, randomization on.

    python benchmarks/humanoid_learning.py --run checkpoints/cpu20 [--minutes 20]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import common  # noqa: F401  (repo on sys.path, quiet XLA: before jax)


def floor_episode_length(cfg, policy: str, num_envs: int = 128, seed: int = 0) -> float:
    """Mean length of the episodes that start at reset, over one episode_length window.

    Episodes still running at the end count with their length so far (a lower bound
    that only matters for policies that survive the whole window).
    """
    import jax
    import jax.numpy as jnp

    from playground.tasks import registry, wrappers

    env = registry.get_task(cfg.env.task).make_env(cfg)

    def run(key):
        key_reset, key_act = jax.random.split(key)
        state = wrappers.reset_batch(env, key_reset, num_envs)

        def body(c, k):
            s, alive, length = c
            if policy == "random":
                a = jax.random.uniform(k, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
            else:
                a = jnp.zeros((num_envs, env.action_size))
            ns = wrappers.step_batch(env, s, a)
            length = length + alive
            alive = alive * (1.0 - ns.done)
            return (ns, alive, length), None

        init = (state, jnp.ones(num_envs), jnp.zeros(num_envs))
        keys = jax.random.split(key_act, env.episode_length)
        (_, _, length), _ = jax.lax.scan(body, init, keys)
        return jnp.mean(length)

    return float(jax.jit(run)(jax.random.PRNGKey(seed)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (holds config.yaml, metrics.jsonl)")
    parser.add_argument("--minutes", type=float, default=20.0, help="report the row at this wall time")
    args = parser.parse_args()
    run = pathlib.Path(args.run)
    common.configure_cache(common.DEFAULT_CACHE)
    from playground import config

    cfg = config.resolve(run / "config.yaml")
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    at = [r for r in rows if r["wall_time"] <= args.minutes * 60] or rows[:1]
    row, last = at[-1], rows[-1]
    random_len = floor_episode_length(cfg, "random")
    zero_len = floor_episode_length(cfg, "zero")
    evals = [r for r in at if "eval/episode_length" in r]
    out = {
        "random_policy_episode_length": random_len,
        "zero_action_episode_length": zero_len,
        f"at_{args.minutes:g}_min": {
            "iteration": row["iteration"], "env_steps": row["env_steps"],
            "wall_time_s": round(row["wall_time"]),
            "train_episode_length": row.get("train/episode_length"),
            "ratio_to_random": (row.get("train/episode_length") or 0) / random_len,
            "last_eval": {k: evals[-1][k] for k in evals[-1] if k.startswith("eval/")} if evals else None,
        },
        "final": {"iteration": last["iteration"], "env_steps": last["env_steps"],
                  "wall_time_s": round(last["wall_time"]),
                  "train_episode_length": last.get("train/episode_length"),
                  "eval": {k: last[k] for k in last if k.startswith("eval/")}},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
