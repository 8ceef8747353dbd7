"""Trainer throughput against raw env throughput, and where an iteration's time goes.

For each `--num-envs` (in one process, one after the other):

  raw       jit(lax.scan(step_batch + autoreset)) with tanh(N(0, 1)) actions: the env
            alone, with the same NaN guard and auto-reset the trainer uses.
  rollout   the same loop plus the policy (normalizer + MLP forward, sample, log-prob)
            and the stacked [T, B] transitions kept as outputs: the trainer's rollout
            without the learner.
  trainer   the real compiled `train_chunk` of `playground.runner.Run` (rollout,
            GAE, normalizer update, num_epochs x num_minibatches SGD, NaN guard).
  epochs=1  the same trainer with `ppo.num_epochs=1`. An iteration costs
            t(E) = t_fixed + E * t_epoch, so t_epoch = (t(4) - t(1)) / 3 and
            t_fixed = t(1) - t_epoch (rollout + value pass + GAE + normalizer).

Every program is compiled first and run once untimed; then all variants are timed in
`--chunks` interleaved rounds (one call each per round, the order rotated every round,
so drift on a shared machine hits all alike) and the figures are medians over rounds.
Env steps/s = num_envs * env steps per call / seconds per call.
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


def make_run(config_file, num_envs: int, iterations_per_chunk: int, num_chunks: int,
             overrides: list[tuple[str, Any]]):
    """A `Run` whose chunk is `iterations_per_chunk` iterations and which never idles."""
    from playground.runner import Run

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


def make_trainer_call(run):
    """Compile `train_chunk` as the run loop does (donating the carry).

    Returns (compile seconds, call, first carry); call() runs one chunk and returns
    (seconds, episodes ended, iterations run).
    """
    import jax
    import numpy as np

    state = {"carry": jax.jit(run.fns.init, out_shardings=run.shardings)(run.key_init)}
    first = jax.tree_util.tree_map(lambda x: x.copy(), state["carry"])  # survives donation
    t = time.perf_counter()
    chunk = run.lower_chunk(state["carry"]).compile()
    compile_s = time.perf_counter() - t

    def call():
        t = time.perf_counter()
        state["carry"], metrics = chunk(state["carry"], run.total_iterations)
        metrics = jax.device_get(metrics)  # the run loop fetches metrics every chunk
        dt = time.perf_counter() - t
        return dt, float(np.sum(metrics["episodes"])), float(np.sum(metrics["active"]))

    return compile_s, call, first


def make_loop_call(env, num_envs: int, steps: int, seed: int, policy=None):
    """Raw (policy=None) or policy-driven loop of `steps` env steps in all envs.

    policy: (networks, params, normalizer) to act with the trainer's stochastic policy
    and keep the [T, B] transitions the learner would read. Returns (compile seconds,
    call); call() returns (seconds, episodes ended, 0).
    """
    import jax
    import jax.numpy as jnp

    from playground.tasks import wrappers

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
        key, key_fresh = jax.random.split(key)
        fresh = wrappers.reset_batch(env, key_fresh, num_envs)  # as the trainer: once per rollout

        def one_step(s, key_t):
            action, raw, log_prob = act(key_t, s.obs, params, normalizer)
            nstate = wrappers.step_batch(env, s, action)
            out = {"done": jnp.sum(nstate.done)}
            if policy is not None:  # keep what the learner would read, as the trainer does
                out.update(obs=s.obs, action=raw, log_prob=log_prob, reward=nstate.reward,
                           next_obs=nstate.obs, done_mask=nstate.done,
                           truncation=nstate.info["truncation"])
            return wrappers.autoreset(nstate, fresh), out

        state, out = jax.lax.scan(one_step, state, jax.random.split(key, steps))
        return state, out

    params = normalizer = None
    if policy is not None:
        _, params, normalizer = policy
    key_reset, key_run = jax.random.split(jax.random.PRNGKey(seed))
    state = {"env": jax.jit(lambda k: wrappers.reset_batch(env, k, num_envs))(key_reset),
             "key": key_run}
    t = time.perf_counter()
    compiled = jax.jit(rollout, donate_argnums=0).lower(
        state["env"], key_run, params, normalizer).compile()
    compile_s = time.perf_counter() - t

    def call():
        state["key"], key_i = jax.random.split(state["key"])
        t = time.perf_counter()
        state["env"], out = compiled(state["env"], key_i, params, normalizer)
        jax.block_until_ready((state["env"], out))
        dt = time.perf_counter() - t
        return dt, float(out["done"].sum()), 0.0

    return compile_s, call


def measure(num_envs: int, args, overrides) -> dict[str, Any]:
    """All variants at one batch size, timed in interleaved rounds; JSON-ready dict."""
    k = args.iterations_per_chunk
    n_chunks = args.warmup_chunks + args.chunks
    common.log(f"{num_envs} envs: building the trainer")
    run = make_run(args.config, num_envs, k, n_chunks, overrides)
    unroll = int(run.cfg.ppo.unroll_length)
    epochs = int(run.cfg.ppo.num_epochs)
    steps = k * unroll  # env steps per env in one trainer chunk; the loops match it
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
    calls, compile_s = {}, {}
    common.log(f"{num_envs} envs: compiling the trainer (num_epochs={epochs})")
    compile_s["trainer"], calls["trainer"], first = make_trainer_call(run)
    common.log(f"{num_envs} envs: compiling the raw env loop")
    compile_s["raw"], calls["raw"] = make_loop_call(run.env, num_envs, steps, args.seed)
    if args.split in ("both", "rollout"):
        common.log(f"{num_envs} envs: compiling the rollout-only loop (policy + env)")
        policy = (run.fns.algorithm.networks, first.params, first.normalizer)
        compile_s["rollout"], calls["rollout"] = make_loop_call(
            run.env, num_envs, steps, args.seed, policy)
    if args.split in ("both", "epochs") and epochs > 1:
        common.log(f"{num_envs} envs: compiling the trainer with num_epochs=1")
        run1 = make_run(args.config, num_envs, k, n_chunks, [*overrides, ("ppo.num_epochs", 1)])
        compile_s["trainer_1_epoch"], calls["trainer_1_epoch"], _ = make_trainer_call(run1)

    names = list(calls)
    for _ in range(args.warmup_chunks):
        for name in names:
            calls[name]()
    common.log(f"{num_envs} envs: {args.chunks} timed rounds of {', '.join(names)}")
    record = {name: {"seconds": [], "episodes": 0.0, "active": 0.0} for name in names}
    for r in range(args.chunks):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order
            dt, episodes, active = calls[name]()
            record[name]["seconds"].append(dt)
            record[name]["episodes"] += episodes
            record[name]["active"] += active
    per_call = num_envs * steps
    for name in names:
        rec = record[name]
        if name.startswith("trainer") and rec["active"] != k * args.chunks:
            raise RuntimeError(f"{name}: {rec['active']} of {k * args.chunks} timed iterations ran")
        sec = common.median(rec["seconds"])
        out[name] = {
            "compile_s": compile_s[name],
            "call_seconds": rec["seconds"],
            "env_steps_per_call": per_call,
            "env_steps_per_s": per_call / sec,
            "iteration_s": sec / k,
            "episodes_per_1k_steps": 1000.0 * rec["episodes"] / (per_call * args.chunks),
        }
    out["ratio_trainer_over_raw"] = out["trainer"]["env_steps_per_s"] / out["raw"]["env_steps_per_s"]
    out["split"] = split_iteration(out)
    common.log(f"{num_envs} envs: trainer {out['trainer']['env_steps_per_s']:,.0f} / raw "
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


def _share(split: dict[str, float], key: str) -> str:
    """'seconds (percent of the iteration)' or '-' when that variant was not run."""
    if key not in split:
        return "-"
    return f"{split[key]:.3f} ({100 * split[key] / split['iteration']:.0f}%)"


def to_markdown(result: dict[str, Any]) -> str:
    rows, split_rows = [], []
    for r in result["sizes"]:
        rows.append([
            r["num_envs"],
            common.fmt_int(r["raw"]["env_steps_per_s"]),
            common.fmt_int(r["rollout"]["env_steps_per_s"]) if "rollout" in r else "-",
            common.fmt_int(r["trainer"]["env_steps_per_s"]),
            f"**{r['ratio_trainer_over_raw']:.2f}**",
            " / ".join(f"{r[v]['episodes_per_1k_steps']:.1f}" if v in r else "-"
                       for v in ("raw", "rollout", "trainer")),
            f"{r['trainer']['compile_s']:.0f}",
        ])
        s = r["split"]
        total = s["iteration"]
        parts = [_share(s, key) for key in ("env", "policy_in_rollout", "learner_non_sgd", "sgd")]
        split_rows.append([
            r["num_envs"], f"{total:.3f}", *parts,
            f"{total - sum(s.get(k, 0.0) for k in ('env', 'policy_in_rollout', 'learner_non_sgd', 'sgd')):+.3f}"
            if "sgd" in s and "rollout" in s else "-",
        ])
    first = result["sizes"][0]
    text = [
        f"Humanoid (`{result['config']}`), network policy {first['policy_hidden']} / value "
        f"{first['value_hidden']}, unroll {first['unroll_length']}, {first['num_minibatches']} "
        f"minibatches, {first['num_epochs']} epochs; {first['iterations_per_chunk']} iterations "
        f"per chunk (raw and rollout-only loops: the same env steps per call); median of "
        f"{first['timed_chunks']} interleaved rounds after 1 untimed. Raw actions are "
        "tanh(N(0, 1)) per dimension; rollout-only acts with the initial policy. "
        "Goal: trainer / raw >= 0.8.",
        "",
        common.markdown_table(
            ["envs", "raw env steps/s", "rollout-only env steps/s", "trainer env steps/s",
             "trainer / raw", "episodes per 1k steps (raw / rollout / trainer)",
             "trainer compile s (default XLA cache)"],
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
    p.add_argument("--chunks", type=int, default=6,
                   help="timed rounds (one trainer chunk and one call of each loop per round)")
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
    return common.publish(result, to_markdown, args.json)


if __name__ == "__main__":
    main()
