"""Trainer throughput against raw env throughput, and where an iteration's time goes.

For each `--num-envs` (in one process, one after the other):

  raw       jit(lax.scan(step_batch + autoreset)) with tanh(N(0, 1)) actions: the env
            alone, with the same NaN guard and auto-reset the trainer uses.
  rollout   the same loop plus the policy (normalizer + MLP forward, sample, log-prob)
            and the stacked [T, B] transitions kept as outputs: the trainer's rollout
            without the learner.
  trainer   the real compiled `train_chunk` of `playground.training.Run` (rollout,
            GAE, normalizer update, num_epochs x num_minibatches SGD, NaN guard).
  epochs=1  the same trainer with `ppo.num_epochs=1`. An iteration costs
            t(E) = t_fixed + E * t_epoch, so t_epoch = (t(4) - t(1)) / 3 and
            t_fixed = t(1) - t_epoch (rollout + value pass + GAE + normalizer).

Every program is compiled first and run once untimed; the figures are medians over
the timed calls. Env steps/s = num_envs * env steps per call / seconds per call.
The trainer uses the shipped YAML (network, unroll, minibatches, epochs, ...) with
only `ppo.num_envs` and `ppo.num_iterations` changed, plus `run.log_every` to size
the jitted chunk (a run-loop setting; it does not change the algorithm).

    .venv/bin/python benchmarks/throughput.py
    .venv/bin/python benchmarks/throughput.py --num-envs 128 --chunks 2 \
        --set network.policy_hidden=[32,32] --set network.value_hidden=[32,32]   # smoke
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import common

CONFIG = common.CONFIG_DIR / "humanoid_walk.yaml"


def _seconds(fn, *args) -> float:
    import jax

    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t


def make_run(config_file, num_envs: int, iterations_per_chunk: int, num_chunks: int,
             overrides: list[tuple[str, Any]]):
    """A `Run` whose chunk is `iterations_per_chunk` iterations and which never idles."""
    from playground.training import Run

    cfg = common.resolve_config(config_file, overrides)
    steps = num_envs * int(cfg.ppo.unroll_length)
    cfg = common.resolve_config(config_file, [
        *overrides,
        ("ppo.num_envs", num_envs),
        ("ppo.num_iterations", iterations_per_chunk * num_chunks),
        ("run.log_every", iterations_per_chunk * steps),
        ("run.wandb.enabled", False),
    ])
    return Run(cfg, ["benchmarks/throughput.py"], log=lambda *_: None)


def time_trainer(run, warmup_chunks: int, timed_chunks: int) -> dict[str, Any]:
    """Compile `train_chunk` (as the run loop does, donating the carry) and time chunks."""
    import jax
    import numpy as np

    derived = run.derived
    carry = jax.jit(run.fns.init)(run.key_init)
    t = time.perf_counter()
    chunk = jax.jit(run.fns.train_chunk, donate_argnums=0).lower(carry).compile()
    compile_s = time.perf_counter() - t
    times, episodes, active = [], 0.0, 0.0
    for i in range(warmup_chunks + timed_chunks):
        t = time.perf_counter()
        carry, metrics = chunk(carry)
        metrics = jax.device_get(metrics)  # the run loop fetches metrics every chunk
        dt = time.perf_counter() - t
        if i >= warmup_chunks:
            times.append(dt)
            episodes += float(np.sum(metrics["episodes"]))
            active += float(np.sum(metrics["active"]))
    k = derived.iterations_per_chunk
    if active != k * timed_chunks:
        raise RuntimeError(f"{active} of {k * timed_chunks} timed iterations ran")
    steps = k * derived.env_steps_per_iteration
    sec = common.median(times)
    return {
        "compile_s": compile_s,
        "chunk_seconds": times,
        "env_steps_per_chunk": steps,
        "iteration_s": sec / k,
        "env_steps_per_s": steps / sec,
        "episodes_per_1k_steps": 1000.0 * episodes / (steps * timed_chunks),
        "carry": carry,
    }


def time_env_loop(env, num_envs: int, steps: int, repeats: int, seed: int,
                  policy=None) -> dict[str, Any]:
    """Raw (policy=None) or policy-driven rollout of `steps` env steps in all envs.

    policy: (networks, params, normalizer) to act with the trainer's stochastic policy.
    """
    import jax
    import jax.numpy as jnp

    from playground.envs import wrappers

    def act(key, obs, params, normalizer):
        if policy is None:
            action = jnp.tanh(jax.random.normal(key, (num_envs, env.action_size), jnp.float32))
            return action, action, jnp.zeros((num_envs,), jnp.float32)
        networks = policy[0]
        dist = networks.parametric_action_distribution
        logits = networks.policy_network.apply(normalizer, params.policy, obs)
        raw = dist.sample_no_postprocessing(logits, key)
        return dist.postprocess(raw), raw, dist.log_prob(logits, raw)

    def rollout(state, key, params, normalizer):
        def one_step(s, key_t):
            action, raw, log_prob = act(key_t, s.obs, params, normalizer)
            nstate = wrappers.step_batch(env, s, action)
            out = {"done": jnp.sum(nstate.done)}
            if policy is not None:  # keep what the learner would read, as the trainer does
                out.update(obs=s.obs, action=raw, log_prob=log_prob, reward=nstate.reward,
                           next_obs=nstate.obs, done_mask=nstate.done,
                           truncation=nstate.info["truncation"])
            return wrappers.autoreset(env, nstate), out

        state, out = jax.lax.scan(one_step, state, jax.random.split(key, steps))
        return state, out

    params = normalizer = None
    if policy is not None:
        _, params, normalizer = policy
    key = jax.random.PRNGKey(seed)
    key_reset, key_run = jax.random.split(key)
    state = jax.jit(lambda k: wrappers.reset_batch(env, k, num_envs))(key_reset)
    t = time.perf_counter()
    compiled = jax.jit(rollout, donate_argnums=0).lower(state, key_run, params, normalizer).compile()
    compile_s = time.perf_counter() - t
    times, dones = [], 0.0
    for i in range(repeats + 1):
        key_run, key_i = jax.random.split(key_run)
        t = time.perf_counter()
        state, out = compiled(state, key_i, params, normalizer)
        jax.block_until_ready((state, out))
        if i > 0:  # the first call is untimed
            times.append(time.perf_counter() - t)
            dones += float(out["done"].sum())
    sec = common.median(times)
    return {
        "compile_s": compile_s,
        "call_seconds": times,
        "env_steps_per_call": num_envs * steps,
        "env_steps_per_s": num_envs * steps / sec,
        "episodes_per_1k_steps": 1000.0 * dones / (num_envs * steps * repeats),
    }


def measure(num_envs: int, args, overrides) -> dict[str, Any]:
    """All variants at one batch size; returns a JSON-ready dict."""
    k = args.iterations_per_chunk
    n_chunks = args.warmup_chunks + args.chunks
    common.log(f"{num_envs} envs: building the trainer")
    run = make_run(args.config, num_envs, k, n_chunks, overrides)
    unroll = int(run.cfg.ppo.unroll_length)
    epochs = int(run.cfg.ppo.num_epochs)
    steps = k * unroll  # env steps per env in one trainer chunk; raw loops match it
    out: dict[str, Any] = {
        "num_envs": num_envs,
        "unroll_length": unroll,
        "num_minibatches": int(run.cfg.ppo.num_minibatches),
        "num_epochs": epochs,
        "policy_hidden": list(run.cfg.network.policy_hidden),
        "value_hidden": list(run.cfg.network.value_hidden),
        "iterations_per_chunk": k,
        "timed_chunks": args.chunks,
    }
    common.log(f"{num_envs} envs: trainer (num_epochs={epochs})")
    trainer = time_trainer(run, args.warmup_chunks, args.chunks)
    carry = trainer.pop("carry")
    out["trainer"] = trainer
    common.log(f"{num_envs} envs: raw env loop")
    out["raw"] = time_env_loop(run.env, num_envs, steps, args.chunks, args.seed)
    if args.split in ("both", "rollout"):
        common.log(f"{num_envs} envs: rollout-only loop (policy + env)")
        policy = (run.fns.networks, carry.params, carry.normalizer)
        out["rollout"] = time_env_loop(run.env, num_envs, steps, args.chunks, args.seed, policy)
    if args.split in ("both", "epochs") and epochs > 1:
        common.log(f"{num_envs} envs: trainer with num_epochs=1")
        run1 = make_run(args.config, num_envs, k, n_chunks, [*overrides, ("ppo.num_epochs", 1)])
        one = time_trainer(run1, args.warmup_chunks, args.chunks)
        one.pop("carry")
        out["trainer_1_epoch"] = one
    out["ratio_trainer_over_raw"] = out["trainer"]["env_steps_per_s"] / out["raw"]["env_steps_per_s"]
    out["split"] = split_iteration(out)
    common.log(f"{num_envs} envs: trainer {trainer['env_steps_per_s']:,.0f} / raw "
               f"{out['raw']['env_steps_per_s']:,.0f} env steps/s = {out['ratio_trainer_over_raw']:.3f}")
    return out


def split_iteration(r: dict[str, Any]) -> dict[str, float]:
    """Seconds per trainer iteration by part (from separately compiled programs)."""
    per_iter = r["num_envs"] * r["unroll_length"]
    total = r["trainer"]["iteration_s"]
    split = {"iteration": total, "env": per_iter / r["raw"]["env_steps_per_s"]}
    if "rollout" in r:
        split["rollout"] = per_iter / r["rollout"]["env_steps_per_s"]
        split["policy_in_rollout"] = split["rollout"] - split["env"]
    if "trainer_1_epoch" in r:
        epochs = r["num_epochs"]
        t1 = r["trainer_1_epoch"]["iteration_s"]
        epoch = (total - t1) / (epochs - 1)
        split["sgd"] = epochs * epoch
        split["non_sgd"] = t1 - epoch
        if "rollout" in split:
            split["learner_non_sgd"] = split["non_sgd"] - split["rollout"]
    return split


def to_markdown(result: dict[str, Any]) -> str:
    rows, split_rows = [], []
    for r in result["sizes"]:
        rows.append([
            r["num_envs"],
            common.fmt_int(r["raw"]["env_steps_per_s"]),
            common.fmt_int(r["rollout"]["env_steps_per_s"]) if "rollout" in r else "-",
            common.fmt_int(r["trainer"]["env_steps_per_s"]),
            f"**{r['ratio_trainer_over_raw']:.2f}**",
            f"{r['raw']['episodes_per_1k_steps']:.1f} / {r['trainer']['episodes_per_1k_steps']:.1f}",
            f"{r['trainer']['compile_s']:.0f}",
        ])
        s = r["split"]
        total = s["iteration"]

        def part(key):
            return f"{s[key]:.3f} ({100 * s[key] / total:.0f}%)" if key in s else "-"

        split_rows.append([
            r["num_envs"], f"{total:.3f}", part("env"), part("policy_in_rollout"),
            part("learner_non_sgd"), part("sgd"),
            f"{total - sum(s.get(k, 0.0) for k in ('env', 'policy_in_rollout', 'learner_non_sgd', 'sgd')):+.3f}"
            if "sgd" in s and "rollout" in s else "-",
        ])
    first = result["sizes"][0]
    text = [
        f"Humanoid (`{result['config']}`), network policy {first['policy_hidden']} / value "
        f"{first['value_hidden']}, unroll {first['unroll_length']}, {first['num_minibatches']} "
        f"minibatches, {first['num_epochs']} epochs; {first['iterations_per_chunk']} iterations "
        f"per chunk, median of {first['timed_chunks']} timed chunks after 1 untimed. "
        "Goal: trainer / raw >= 0.8.",
        "",
        common.markdown_table(
            ["envs", "raw env steps/s", "rollout-only env steps/s", "trainer env steps/s",
             "trainer / raw", "episodes per 1k steps (raw / trainer)", "trainer compile s"],
            rows,
        ),
        "",
        "Where one trainer iteration goes (seconds, share of the iteration). env = raw loop "
        "time for the iteration's env steps; policy = rollout-only minus raw (actor forward, "
        "sampling, stored transitions); learner non-SGD = t_fixed minus rollout (value pass "
        "over obs and next_obs, GAE, normalizer update, NaN guard, chunk bookkeeping); SGD = "
        "num_epochs x t_epoch with t_epoch = (t(4 epochs) - t(1 epoch)) / 3; residual = "
        "iteration minus the parts.",
        "",
        common.markdown_table(
            ["envs", "iteration s", "env", "policy in rollout", "learner non-SGD", "SGD",
             "residual s"],
            split_rows,
        ),
    ]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(CONFIG), help="trainer YAML (default: %(default)s)")
    p.add_argument("--num-envs", type=int, nargs="+", default=[128, 512])
    p.add_argument("--iterations-per-chunk", type=int, default=2)
    p.add_argument("--chunks", type=int, default=3, help="timed chunks (and raw calls)")
    p.add_argument("--warmup-chunks", type=int, default=1)
    p.add_argument("--split", choices=("both", "epochs", "rollout", "none"), default="both",
                   help="which time-split variants to run besides trainer and raw")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="extra trainer override (e.g. for a smoke test); repeatable")
    p.add_argument("--cache", default=common.DEFAULT_CACHE,
                   help="persistent XLA cache dir; 'none' disables it")
    p.add_argument("--json", help="write the result (and its markdown) here")
    args = p.parse_args(argv)

    common.configure_cache(None if args.cache == "none" else args.cache)
    overrides = common.parse_sets(args.set)
    result: dict[str, Any] = {
        "benchmark": "throughput",
        "command": common.command_line("throughput.py"),
        "config": str(args.config).replace(str(common.REPO_ROOT) + "/", ""),
        "overrides": overrides,
        "machine": common.machine_info(),
        "sizes": [measure(n, args, overrides) for n in args.num_envs],
    }
    result["markdown"] = to_markdown(result)
    print(result["markdown"])
    common.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
