"""Our trainer against brax's `ppo.train` on the same env with the same hyperparameters.

Both trainers step the SAME env object: `BraxEnvAdapter` exposes a playground `Env`
as a `brax.envs.base.Env` (dict observations pass through), and brax wraps it with its
own training wrappers (vmap, episode limit, auto-reset). Both use brax's
`make_ppo_networks` (through `playground.algorithms.ppo.networks.make_networks`, so
hidden sizes, obs keys, activation, distribution and observation normalization with
clipping are identical). `hyperparameter_mapping` prints how every setting maps.

Parts:

  throughput  humanoid, `--num-envs` envs, `--iterations` iterations in
              `--progress-points` equal epochs/chunks. Env steps come from each
              trainer's own counters (our carry.iteration, brax's `num_steps` passed to
              progress_fn); steps/s is measured from progress point `--skip-points`
              (default 2) to the last: brax 0.14.2 compiles its epoch again at the
              second epoch, so both trainers' first two points are left out.
              Compile = wall time to that point minus as many steady-state intervals.
              `--reps` repetitions with the order alternated (ours, brax / brax, ours).
              brax's own `training/sps` is recorded too (brax 0.14.2 multiplies it by
              num_resets_per_eval, here 0 -> x1).
  learning    cartpole_balance with `configs/cartpole_balance.yaml`, one run per seed
              and trainer (order alternated by seed). Both trainers' parameters at each
              progress point are evaluated afterwards by the SAME function (our
              deterministic evaluation, `run.eval_envs` fresh episodes, a fixed key),
              so returns are compared at equal env steps.

By default the XLA persistent cache is a fresh temporary directory, so the first run
of each trainer compiles cold and later runs (reps, seeds) load from that cache.

    .venv/bin/python benchmarks/vs_brax.py
    .venv/bin/python benchmarks/vs_brax.py --parts learning --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import common

HUMANOID = common.CONFIG_DIR / "humanoid_walk.yaml"
CARTPOLE = common.CONFIG_DIR / "cartpole_balance.yaml"
EVAL_SEED = 1234


def make_adapter_class():
    """The adapter class (built lazily: importing brax imports jax)."""
    from brax.envs import base as brax_base

    class BraxEnvAdapter(brax_base.Env):
        """A playground `Env` as a single (unbatched) brax env.

        brax's `State.pipeline_state` holds our whole `State`, so brax's auto-reset (a
        select back to the first state) restores our physics, rng and task info
        together. Our env ends an episode at the time limit itself; brax's episode
        wrapper only labels a step `truncation` when the inner env did not say done,
        so the adapter reports `done` for terminations only and lets brax's wrapper,
        given the same episode length, cut the episode at the same step.
        """

        def __init__(self, env):
            self._env = env

        def _wrap(self, s, template=None):
            done = s.done * (1.0 - s.info["truncation"])  # terminations only
            fields = dict(pipeline_state=s, obs=s.obs, reward=s.reward, done=done,
                          metrics=dict(s.metrics))
            if template is None:
                return brax_base.State(**fields, info={})
            return template.replace(**fields)

        def reset(self, rng):
            return self._wrap(self._env.reset(rng))

        def step(self, state, action):
            return self._wrap(self._env.step(state.pipeline_state, action), state)

        @property
        def observation_size(self):
            return {k: (int(n),) for k, n in self._env.observation_size.items()}

        @property
        def action_size(self) -> int:
            return int(self._env.action_size)

        @property
        def backend(self) -> str:
            return "mjx"

    return BraxEnvAdapter


def training_episode_length(cfg, env_episode_length: int | None = None) -> int:
    """Steps after which a training episode is cut: `ppo.train_episode_length`, else the
    env's own length (`env.episode_length` unless the env sets its own, e.g. Playground's).
    brax's `episode_length` argument plays this part (its evaluation is never used here)."""
    env_length = int(cfg.env.episode_length if env_episode_length is None else env_episode_length)
    return int(cfg.ppo.train_episode_length) or env_length


def hyperparameter_mapping(cfg, env_episode_length: int | None = None
                           ) -> list[tuple[str, str, Any, Any]]:
    """(our key, brax argument, our value, brax value); raises on what brax cannot do."""
    ppo = cfg.ppo
    if ppo.num_envs % ppo.num_minibatches:
        raise SystemExit("vs_brax: num_envs must be divisible by num_minibatches")
    batch = ppo.num_envs // ppo.num_minibatches
    train_length = training_episode_length(cfg, env_episode_length)
    return [
        ("ppo.num_envs", "num_envs", ppo.num_envs, ppo.num_envs),
        ("ppo.unroll_length", "unroll_length", ppo.unroll_length, ppo.unroll_length),
        ("ppo.num_minibatches", "num_minibatches", ppo.num_minibatches, ppo.num_minibatches),
        ("num_envs / num_minibatches (envs per minibatch)", "batch_size (trajectories per minibatch)",
         batch, batch),
        ("env steps per iteration = num_envs * unroll_length",
         "batch_size * num_minibatches * unroll_length", ppo.num_envs * ppo.unroll_length,
         batch * ppo.num_minibatches * ppo.unroll_length),
        ("transitions per minibatch", "batch_size * unroll_length",
         ppo.num_envs * ppo.unroll_length // ppo.num_minibatches, batch * ppo.unroll_length),
        ("ppo.num_epochs", "num_updates_per_batch", ppo.num_epochs, ppo.num_epochs),
        ("ppo.learning_rate (constant)", "learning_rate (no schedule)", ppo.learning_rate,
         ppo.learning_rate),
        ("ppo.discount", "discounting", ppo.discount, ppo.discount),
        ("ppo.gae_lambda", "gae_lambda", ppo.gae_lambda, ppo.gae_lambda),
        ("ppo.entropy_coef", "entropy_cost", ppo.entropy_coef, ppo.entropy_coef),
        ("ppo.clip_epsilon", "clipping_epsilon", ppo.clip_epsilon, ppo.clip_epsilon),
        ("ppo.value_loss_coef", "vf_loss_coefficient", ppo.value_loss_coef, ppo.value_loss_coef),
        ("ppo.max_grad_norm", "max_grad_norm", ppo.max_grad_norm, ppo.max_grad_norm),
        ("ppo.normalize_advantages", "normalize_advantage", ppo.normalize_advantages,
         ppo.normalize_advantages),
        ("ppo.reward_scaling", "reward_scaling", ppo.reward_scaling, ppo.reward_scaling),
        ("ppo.normalize_observations", "normalize_observations", ppo.normalize_observations,
         ppo.normalize_observations),
        ("ppo.obs_clip", "network_factory (same normalize fn)", ppo.obs_clip, ppo.obs_clip),
        ("network.policy_hidden", "network_factory", list(cfg.network.policy_hidden),
         list(cfg.network.policy_hidden)),
        ("network.value_hidden", "network_factory", list(cfg.network.value_hidden),
         list(cfg.network.value_hidden)),
        ("network.activation / distribution", "network_factory",
         f"{cfg.network.activation} / {cfg.network.distribution}",
         f"{cfg.network.activation} / {cfg.network.distribution}"),
        ("actor / critic obs keys", "policy_obs_key / value_obs_key",
         "state / privileged_state", "state / privileged_state"),
        ("training episode length: ppo.train_episode_length, else the env's", "episode_length",
         train_length, train_length),
    ]


ALGORITHM_DIFFERENCES = [
    "Auto-reset: ours draws one batch of fresh episodes (new rng, command, randomized "
    "model) per rollout and selects a finished env's new episode from it under a "
    "batch-level `lax.cond`; brax selects the env's first state back (a `where` every "
    "step; each env replays its first episode's random stream).",
    "Advantages: ours computes GAE once per iteration with the rollout's value params and "
    "bootstraps truncated steps from V(s'_T); brax recomputes values and GAE inside every "
    "minibatch with the current params and drops truncated steps from the trace "
    "(bootstrap_on_timeout=False).",
    "Shuffling: ours shuffles single transitions into minibatches; brax shuffles whole "
    "unroll_length trajectories.",
    "Normalizer: ours updates the observation statistics after the SGD epochs (the loss "
    "uses the rollout's normalizer); brax updates them before SGD.",
    "Ours adds a NaN guard (per-env reset of non-finite states; a non-finite update is "
    "discarded).",
]


def _network_factory(cfg):
    from playground.algorithms.ppo import networks as ppo_networks

    def factory(observation_size, action_size, preprocess_observations_fn=None):
        # brax passes its own normalize fn; ours (the same fn with obs_clip) is used instead
        del preprocess_observations_fn
        return ppo_networks.make_networks(cfg, observation_size, action_size)

    return factory


def run_ours(cfg, iterations_per_point: int, capture: bool) -> dict[str, Any]:
    """The real trainer's compiled chunk, one chunk per progress point."""
    import jax

    from playground.runner import Run

    t0 = time.perf_counter()
    run = Run(cfg, ["benchmarks/vs_brax.py"], log=lambda *_: None)
    if run.derived.iterations_per_chunk != iterations_per_point:
        raise RuntimeError("chunk size does not match the progress interval")
    carry = jax.jit(run.fns.init, out_shardings=run.shardings)(run.key_init)
    t = time.perf_counter()
    chunk = run.lower_chunk(carry).compile()
    compile_s = time.perf_counter() - t
    points, params = [], {}
    if capture:
        params[0] = jax.device_get((carry.normalizer, carry.params.policy, carry.params.value))
    for _ in range(run.derived.num_chunks):
        carry, metrics = chunk(carry, run.total_iterations)
        jax.device_get(metrics)  # what the run loop does every chunk
        steps = int(carry.iteration) * run.derived.env_steps_per_iteration
        points.append((time.perf_counter() - t0, steps))
        if capture:
            params[steps] = jax.device_get(
                (carry.normalizer, carry.params.policy, carry.params.value))
    return {"points": points, "params": params, "aot_compile_s": compile_s}


def run_brax(cfg, iterations_per_point: int, capture: bool) -> dict[str, Any]:
    """brax 0.14.2 `ppo.train` on the adapted env with the mapped hyperparameters."""
    import jax
    from brax.training.agents.ppo import train as brax_ppo

    from playground.tasks.registry import get_task

    num_points = cfg.ppo.num_iterations // iterations_per_point
    points, params, reported_sps = [], {}, []

    def progress_fn(num_steps, metrics):
        points.append((time.perf_counter() - t0, int(num_steps)))
        if "training/sps" in metrics:
            reported_sps.append(float(metrics["training/sps"]))

    def policy_params_fn(num_steps, make_policy, policy_params):
        del make_policy
        if capture:
            params[int(num_steps)] = jax.device_get(policy_params)

    t0 = time.perf_counter()
    env = make_adapter_class()(get_task(cfg.env.task).make_env(cfg))
    brax_ppo.train(
        environment=env,
        num_evals=num_points + 1,  # brax: num_evals - 1 progress points after the start
        run_evals=False,  # progress points carry training metrics; evaluation is ours, later
        episode_length=training_episode_length(cfg),
        network_factory=_network_factory(cfg),
        progress_fn=progress_fn,
        policy_params_fn=policy_params_fn,
        **brax_ppo_kwargs(cfg),
    )
    return {"points": points, "params": params, "reported_sps": reported_sps}


def brax_ppo_kwargs(cfg) -> dict[str, Any]:
    """brax `ppo.train` arguments holding our config's PPO hyperparameters (see
    `hyperparameter_mapping`), the step budget and the seed; env, network and
    evaluation arguments are the caller's."""
    ppo = cfg.ppo
    return dict(
        num_timesteps=ppo.num_iterations * ppo.num_envs * ppo.unroll_length,
        action_repeat=1,
        num_envs=int(ppo.num_envs),
        learning_rate=float(ppo.learning_rate),
        entropy_cost=float(ppo.entropy_coef),
        discounting=float(ppo.discount),
        unroll_length=int(ppo.unroll_length),
        batch_size=int(ppo.num_envs // ppo.num_minibatches),
        num_minibatches=int(ppo.num_minibatches),
        num_updates_per_batch=int(ppo.num_epochs),
        normalize_observations=bool(ppo.normalize_observations),
        reward_scaling=float(ppo.reward_scaling),
        clipping_epsilon=float(ppo.clip_epsilon),
        gae_lambda=float(ppo.gae_lambda),
        max_grad_norm=float(ppo.max_grad_norm),
        normalize_advantage=bool(ppo.normalize_advantages),
        vf_loss_coefficient=float(ppo.value_loss_coef),
        seed=int(cfg.run.seed),
    )


def summarize_points(points: list[tuple[float, int]], skip: int) -> dict[str, float]:
    """Steady-state env steps/s from progress point `skip` to the last, and compile time.

    brax 0.14.2 traces and compiles its training epoch a second time at the second
    epoch (a weak-type change), so the steady state starts at point 2 for both
    trainers; compile = wall time to point `skip` minus `skip` steady intervals.
    """
    if len(points) <= skip:
        raise SystemExit(f"need more than {skip} progress points, got {len(points)}")
    (t_first, s_first), (t_last, s_last) = points[skip - 1], points[-1]
    sps = (s_last - s_first) / (t_last - t_first)
    per_point = (t_last - t_first) / (len(points) - skip)
    intervals = [
        (s1 - s0) / (t1 - t0) for (t0, s0), (t1, s1) in zip(points, points[1:], strict=False)
    ]
    return {
        "env_steps_per_s": sps,
        "interval_env_steps_per_s": intervals,
        "first_point_s": points[0][0],
        "steady_point_s": per_point,
        "compile_s": t_first - skip * per_point,
        "total_env_steps": s_last,
    }


def trainer_config(config_file, overrides, iterations: int, iterations_per_point: int):
    cfg = common.resolve_config(config_file, overrides)
    steps = cfg.ppo.num_envs * cfg.ppo.unroll_length
    return common.resolve_config(config_file, [
        *overrides,
        ("ppo.num_iterations", iterations),
        ("run.log_every", iterations_per_point * steps),
        ("run.wandb.enabled", False),
    ])


def part_throughput(args) -> dict[str, Any]:
    if args.iterations % args.progress_points:
        raise SystemExit("--iterations must be a multiple of --progress-points")
    k = args.iterations // args.progress_points
    overrides = [("ppo.num_envs", args.num_envs), *common.parse_sets(args.set)]
    cfg = trainer_config(args.config, overrides, args.iterations, k)
    reps = []
    for rep in range(args.reps):
        order = ("ours", "brax") if rep % 2 == 0 else ("brax", "ours")
        row = {"rep": rep + 1, "order": list(order)}
        for name in order:
            common.log(f"throughput rep {rep + 1}: {name}")
            result = (run_ours if name == "ours" else run_brax)(cfg, k, capture=False)
            result.pop("params")
            result.update(summarize_points(result["points"], args.skip_points))
            row[name] = result
            common.log(f"  {name}: {result['env_steps_per_s']:,.0f} env steps/s, "
                       f"compile ~{result['compile_s']:.0f} s")
        row["ratio"] = row["ours"]["env_steps_per_s"] / row["brax"]["env_steps_per_s"]
        reps.append(row)
    return {
        "config": str(args.config).replace(str(common.REPO_ROOT) + "/", ""),
        "overrides": overrides,
        "iterations": args.iterations,
        "iterations_per_point": k,
        "skip_points": args.skip_points,
        "mapping": hyperparameter_mapping(cfg),
        "reps": reps,
    }


def _make_evaluator(cfg):
    """Our deterministic evaluation as fn((normalizer, policy, value)) -> eval/* dict."""
    import jax

    from playground.algorithms.ppo.networks import PPOParams
    from playground.runner import Run

    run = Run(cfg, ["benchmarks/vs_brax.py"], log=lambda *_: None)
    template = jax.jit(run.fns.init)(run.key_init)
    evaluate = jax.jit(run.fns.evaluate)
    key = jax.random.PRNGKey(EVAL_SEED)

    def fn(params) -> dict[str, float]:
        normalizer, policy, value = params
        carry = template.replace(normalizer=normalizer, params=PPOParams(policy=policy, value=value))
        return {k: float(v) for k, v in jax.device_get(evaluate(carry, key)).items()}

    return fn


def part_learning(args) -> dict[str, Any]:
    if args.learning_iterations % args.learning_points:
        raise SystemExit("--learning-iterations must be a multiple of --learning-points")
    learning_sets = common.parse_sets(args.learning_set)
    tasks = [("cartpole_balance", args.learning_config, args.learning_iterations, learning_sets)]
    if args.humanoid_iterations:
        if args.humanoid_iterations % args.learning_points:
            raise SystemExit("--humanoid-iterations must be a multiple of --learning-points")
        tasks.append(("humanoid_walk", args.config, args.humanoid_iterations,
                      [("ppo.num_envs", args.num_envs), *common.parse_sets(args.set)]))
    out = {"tasks": []}
    for task, config_file, iterations, extra in tasks:
        k = iterations // args.learning_points
        runs: dict[str, dict[int, dict]] = {"ours": {}, "brax": {}}
        cfg = None
        for i, seed in enumerate(args.seeds):
            cfg = trainer_config(config_file, [*extra, ("run.seed", seed)], iterations, k)
            order = ("ours", "brax") if i % 2 == 0 else ("brax", "ours")
            for name in order:
                common.log(f"learning {task} seed {seed}: {name}")
                result = (run_ours if name == "ours" else run_brax)(cfg, k, capture=True)
                result.update(summarize_points(result["points"], args.skip_points))
                runs[name][seed] = result
        common.log(f"learning {task}: evaluating every captured policy with one evaluator")
        evaluate = _make_evaluator(cfg)
        curves: dict[str, dict[int, dict[int, float]]] = {"ours": {}, "brax": {}}
        timing: dict[str, dict[int, dict[str, float]]] = {"ours": {}, "brax": {}}
        for name, per_seed in runs.items():
            for seed, result in per_seed.items():
                curves[name][seed] = {
                    steps: evaluate(p)["eval/episode_reward"]
                    for steps, p in sorted(result.pop("params").items())
                }
                timing[name][seed] = {key: result[key] for key in
                                      ("env_steps_per_s", "compile_s", "first_point_s")}
        out["tasks"].append({
            "task": task,
            "config": str(config_file).replace(str(common.REPO_ROOT) + "/", ""),
            "iterations": iterations,
            "seeds": list(args.seeds),
            "eval_envs": int(cfg.run.eval_envs),
            "episode_length": int(cfg.env.episode_length),
            "mapping": hyperparameter_mapping(cfg),
            "curves": curves,
            "timing": timing,
        })
    return out


def _mean_pm(values: list[float]) -> str:
    return (f"{sum(values) / len(values):.1f} ± {common.spread(values):.1f} "
            f"[{min(values):.1f}, {max(values):.1f}]")


def _intervals(result: dict[str, Any]) -> str:
    return ", ".join(common.fmt_int(x) for x in result["interval_env_steps_per_s"])


def _mapping_table(mapping) -> str:
    return common.markdown_table(["ours", "brax ppo.train", "our value", "brax value"],
                                 [[f"`{a}`", f"`{b}`", c, d] for a, b, c, d in mapping])


def _int_keys(curves: dict) -> dict:
    """JSON turns int dict keys into strings; curves are {seed: {env steps: return}}."""
    return {int(seed): {int(s): v for s, v in c.items()} for seed, c in curves.items()}


def to_markdown(result: dict[str, Any]) -> str:
    """The markdown section from a result (fresh, or loaded back from its JSON)."""
    text = []
    if "throughput" in result:
        tp = result["throughput"]
        rows = []
        for r in tp["reps"]:
            rows.append([
                r["rep"], " then ".join(r["order"]),
                common.fmt_int(r["ours"]["env_steps_per_s"]),
                common.fmt_int(r["brax"]["env_steps_per_s"]),
                f"**{r['ratio']:.2f}**",
                f"{r['ours']['compile_s']:.0f} / {r['brax']['compile_s']:.0f}",
                common.fmt_int(common.median(r["brax"]["reported_sps"][tp["skip_points"]:]))
                if len(r["brax"]["reported_sps"]) > tp["skip_points"] else "-",
            ])
        ratios = [r["ratio"] for r in tp["reps"]]
        first = tp["mapping"]
        text += [
            f"### Throughput (`{tp['config']}` with "
            f"{', '.join(f'`{k}={v}`' for k, v in tp['overrides'])})",
            "",
            f"{tp['iterations']} iterations, a progress point every {tp['iterations_per_point']} "
            f"(our chunk / brax epoch); env steps/s from each trainer's env-step counter from "
            f"progress point {tp['skip_points']} to the last (compile and brax's second-epoch "
            "recompile excluded). Compile = wall time from building the env to that point minus "
            "as many steady-state intervals; rep 1 runs on an empty XLA cache, later reps load "
            "from it. Goal: ours / brax >= 1.0.",
            "",
            common.markdown_table(
                ["rep", "order", "ours env steps/s", "brax env steps/s", "ours / brax",
                 "compile s (ours / brax)", "brax's logged training/sps (median, steady)"],
                rows,
            ),
            "",
            f"Ours / brax over reps: {sum(ratios) / len(ratios):.2f} (min {min(ratios):.2f}, "
            f"max {max(ratios):.2f}); {first[4][2]} env steps per iteration. Our compile "
            "excludes our evaluation program (brax runs with run_evals=False).",
            "",
            "Env steps/s between consecutive progress points (the first interval is the second "
            "epoch/chunk, where brax compiles its epoch again):",
            "",
            *[f"- rep {r['rep']}: ours {_intervals(r['ours'])}; brax {_intervals(r['brax'])}"
              for r in tp["reps"]],
            "",
            "<details><summary>Hyperparameter mapping</summary>",
            "",
            _mapping_table(tp["mapping"]),
            "",
            "</details>",
            "",
        ]
    if "learning" in result:
        for task in result["learning"]["tasks"]:
            task = {**task, "curves": {k: _int_keys(v) for k, v in task["curves"].items()},
                    "timing": {k: {int(seed): t for seed, t in v.items()}
                               for k, v in task["timing"].items()}}
            steps = sorted({s for c in task["curves"]["ours"].values() for s in c})
            rows = []
            for s in steps:
                ours = [float(task["curves"]["ours"][seed][s]) for seed in task["seeds"]]
                brax = [float(task["curves"]["brax"][seed][s]) for seed in task["seeds"]]
                rows.append([common.fmt_int(s), _mean_pm(ours), _mean_pm(brax)])
            seed_rows = []
            for seed in task["seeds"]:
                last = steps[-1]
                seed_rows.append([
                    seed,
                    f"{task['curves']['ours'][seed][last]:.1f}",
                    f"{task['curves']['brax'][seed][last]:.1f}",
                    common.fmt_int(task["timing"]["ours"][seed]["env_steps_per_s"]),
                    common.fmt_int(task["timing"]["brax"][seed]["env_steps_per_s"]),
                    f"{task['timing']['ours'][seed]['compile_s']:.0f} / "
                    f"{task['timing']['brax'][seed]['compile_s']:.0f}",
                ])
            text += [
                f"### Learning: {task['task']} (`{task['config']}`, {task['iterations']} iterations, "
                f"seeds {task['seeds']})",
                "",
                f"Eval return: our deterministic evaluation ({task['eval_envs']} fresh episodes of "
                f"up to {task['episode_length']} steps, one fixed key) applied to both trainers' "
                "parameters at the same env steps. Mean ± std over seeds [min, max].",
                "",
                common.markdown_table(["env steps", "ours eval return", "brax eval return"], rows),
                "",
                common.markdown_table(
                    ["seed", "ours final", "brax final", "ours env steps/s", "brax env steps/s",
                     "compile s (ours / brax)"],
                    seed_rows,
                ),
                "",
                "<details><summary>Hyperparameter mapping</summary>",
                "",
                _mapping_table(task["mapping"]),
                "",
                "</details>",
                "",
            ]
    text += ["Algorithmic differences that remain with identical hyperparameters:", ""]
    text += [f"- {line}" for line in ALGORITHM_DIFFERENCES]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="throughput,learning",
                   help="comma list of: throughput, learning (default: %(default)s)")
    p.add_argument("--config", default=str(HUMANOID), help="throughput YAML (default: %(default)s)")
    p.add_argument("--num-envs", type=int, default=128)
    p.add_argument("--iterations", type=int, default=20, help="throughput iterations per run")
    p.add_argument("--progress-points", type=int, default=5,
                   help="progress points per throughput run (the first includes compile)")
    p.add_argument("--skip-points", type=int, default=2,
                   help="progress points before the steady state (default %(default)s: brax "
                        "compiles its epoch twice)")
    p.add_argument("--reps", type=int, default=4, help="throughput repetitions, order alternated")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="extra override for the throughput config; repeatable")
    p.add_argument("--learning-config", default=str(CARTPOLE))
    p.add_argument("--learning-set", action="append", metavar="KEY=VALUE",
                   help="extra override for the cartpole learning config; repeatable")
    p.add_argument("--learning-iterations", type=int, default=60)
    p.add_argument("--learning-points", type=int, default=6, help="evaluation points per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--humanoid-iterations", type=int, default=0,
                   help="also compare learning on the humanoid for this many iterations (0: skip)")
    p.add_argument("--cache", default="fresh",
                   help="XLA cache dir; 'fresh' (default): a new temporary one; 'none': off")
    p.add_argument("--json", help="write the result (and its markdown) here")
    args = p.parse_args(argv)
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    unknown = parts - {"throughput", "learning"}
    if unknown:
        raise SystemExit(f"unknown --parts {sorted(unknown)}")
    common.require_brax_trainers("vs_brax.py")

    tmp = None
    if args.cache == "fresh":
        tmp = tempfile.TemporaryDirectory(prefix="vs_brax_cache_")
        common.configure_cache(tmp.name)
    else:
        common.configure_cache(None if args.cache == "none" else args.cache)
    result: dict[str, Any] = {
        "benchmark": "vs_brax",
        "command": common.command_line("vs_brax.py"),
        "machine": common.machine_info(),
        "cache": args.cache,
    }
    if "throughput" in parts:
        result["throughput"] = part_throughput(args)
    if "learning" in parts:
        result["learning"] = part_learning(args)
    common.publish(result, to_markdown, args.json)
    if tmp is not None:
        tmp.cleanup()
    return result


if __name__ == "__main__":
    main()
