"""Our SAC against brax's `sac.train` on the same env with the same hyperparameters.

Both trainers step the SAME env object (vs_brax.py's adapter, here with the flat actor
observation `obs["state"]`: brax's SAC takes no dict observations; on the cart-pole the
critic's privileged observation is the same vector). brax's networks come from brax's own
`make_sac_networks` with our widths, activation and normalize-then-clip function, so
both nets, optimizers and losses have the same shapes and settings. Settings brax fixes
(temperature step size 3e-4, initial alpha 1, target entropy -0.5 * action_size, one env
step per training step, one-step returns) are set on ours; `hyperparameter_mapping`
prints every pair.

For each seed (ours first on even seeds, brax first on odd ones), each trainer runs
`--steps` env steps in `--points` equal parts; at each point it evaluates its
deterministic policy with its own evaluator (the same number of fresh full-length
episodes; brax: `deterministic_eval=True`, `num_eval_envs` = our `run.eval_envs`). Env
steps/s are measured from each trainer's env step counter from point `--skip-points` on
(compile excluded).

    .venv-ref/bin/python benchmarks/sac_vs_brax.py                       # the cart-pole, 3 seeds
    .venv-ref/bin/python benchmarks/sac_vs_brax.py --steps 20480 --points 4 --seeds 0
    .venv/bin/python benchmarks/sac_vs_brax.py --seeds 1 --merge --json R.json  # add a seed

The project's .venv runs brax's `sac.train` as long as its jax is < 0.10 (jax 0.9.2 here);
otherwise `make venv-ref` and run it with .venv-ref/bin/python.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import tempfile
import time
from typing import Any

import common
import vs_brax

CARTPOLE = common.CONFIG_DIR / "cartpole_balance.yaml"

#: What brax's sac.train fixes, set on ours so the two runs have the same settings.
BRAX_FIXED = [("algorithm.name", "sac"), ("sac.unroll_length", 1), ("sac.n_step", 1),
              ("sac.init_alpha", 1.0), ("sac.alpha_learning_rate", 3e-4)]

ALGORITHM_DIFFERENCES = [
    "Warm-up: ours acts uniformly at random for sac.warmup_steps; brax fills its min_replay_size "
    "with its initial policy.",
    "Time limits: ours bootstraps a truncated step from its true final observation; brax "
    "leaves truncated steps out of the critic loss.",
    "Sampling: ours draws batch_size / num_envs rows from every env's ring (stratified); "
    "brax samples its whole queue uniformly.",
    "Critic loss: ours sums the two critics' halved mean squared errors, brax averages "
    "them (a factor 2 that Adam's scale invariance removes).",
    "Ours adds a NaN guard (a non-finite update is discarded) and an observation normalizer "
    "updated only with finite rows; brax updates its normalizer with every row.",
]


def training_episode_length(cfg) -> int:
    """Steps after which a training episode is cut: sac.train_episode_length, else the env's."""
    return int(cfg.sac.train_episode_length) or int(cfg.env.episode_length)


def brax_sac_kwargs(cfg, steps: int, points: int) -> dict[str, Any]:
    """brax `sac.train` arguments holding our config's SAC hyperparameters."""
    sac = cfg.sac
    updates = int(round(sac.utd_ratio * sac.num_envs * sac.unroll_length))
    return dict(
        num_timesteps=steps, episode_length=training_episode_length(cfg),
        action_repeat=1, num_envs=int(sac.num_envs), num_eval_envs=int(cfg.run.eval_envs),
        learning_rate=float(sac.learning_rate), discounting=float(sac.discount),
        seed=int(cfg.run.seed), batch_size=int(sac.batch_size), num_evals=points + 1,
        normalize_observations=bool(sac.normalize_observations),
        reward_scaling=float(sac.reward_scaling), tau=float(sac.tau),
        min_replay_size=int(sac.warmup_steps), max_replay_size=int(sac.buffer_size),
        grad_updates_per_step=updates, deterministic_eval=True)


def hyperparameter_mapping(cfg, steps: int, points: int) -> list[tuple[str, str, Any, Any]]:
    """(our key, brax argument, our value, brax value); raises on what brax cannot do."""
    sac = cfg.sac
    if list(sac.policy_hidden) != list(sac.q_hidden):
        raise SystemExit("sac_vs_brax: brax uses one hidden_layer_sizes for actor and critic: "
                         "set sac.policy_hidden = sac.q_hidden")
    if sac.unroll_length != 1 or sac.n_step != 1:
        raise SystemExit("sac_vs_brax: brax steps each env once per training step, one-step "
                         "returns: sac.unroll_length=1, sac.n_step=1")
    kw = brax_sac_kwargs(cfg, steps, points)
    return [
        ("sac.num_envs", "num_envs", sac.num_envs, kw["num_envs"]),
        ("sac.batch_size", "batch_size", sac.batch_size, kw["batch_size"]),
        ("sac.utd_ratio x num_envs (updates per env step of all envs)", "grad_updates_per_step",
         sac.utd_ratio * sac.num_envs, kw["grad_updates_per_step"]),
        ("sac.buffer_size", "max_replay_size", sac.buffer_size, kw["max_replay_size"]),
        ("sac.warmup_steps", "min_replay_size", sac.warmup_steps, kw["min_replay_size"]),
        ("sac.learning_rate", "learning_rate", sac.learning_rate, kw["learning_rate"]),
        ("sac.alpha_learning_rate", "(fixed)", sac.alpha_learning_rate, 3e-4),
        ("sac.init_alpha", "(fixed: log_alpha 0)", sac.init_alpha, 1.0),
        ("sac.target_entropy", "(fixed: -0.5 * action_size)", sac.target_entropy,
         "-0.5 * action_size"),
        ("sac.discount", "discounting", sac.discount, kw["discounting"]),
        ("sac.tau", "tau", sac.tau, kw["tau"]),
        ("sac.reward_scaling", "reward_scaling", sac.reward_scaling, kw["reward_scaling"]),
        ("sac.normalize_observations / obs_clip", "normalize_observations / network_factory",
         f"{sac.normalize_observations} / {sac.obs_clip}",
         f"{kw['normalize_observations']} / {sac.obs_clip}"),
        ("sac.policy_hidden = sac.q_hidden", "network_factory", list(sac.q_hidden),
         list(sac.q_hidden)),
        ("sac.activation", "network_factory", sac.activation, sac.activation),
        ("training episode length", "episode_length", kw["episode_length"],
         kw["episode_length"]),
        ("run.eval_envs (deterministic)", "num_eval_envs (deterministic_eval)",
         cfg.run.eval_envs, kw["num_eval_envs"]),
    ]


def make_flat_adapter(env):
    """vs_brax's adapter exposing the actor's observation as one vector."""
    base = vs_brax.make_adapter_class()

    class FlatAdapter(base):
        def _wrap(self, s, template=None):
            wrapped = super()._wrap(s, template)
            # brax's evaluation wrapper adds metrics of its own at reset: keep them
            metrics = wrapped.metrics if template is None else {**template.metrics,
                                                                 **wrapped.metrics}
            return wrapped.replace(obs=s.obs["state"], metrics=metrics)

        @property
        def observation_size(self):
            return int(self._env.observation_size["state"])

    return FlatAdapter(env)


def _network_factory(cfg):
    from brax.training.acme import running_statistics
    from brax.training.agents.sac import networks as brax_sac_networks

    from playground.algorithms.ppo.networks import ACTIVATIONS

    sac = cfg.sac
    normalize = functools.partial(running_statistics.normalize, max_abs_value=float(sac.obs_clip))

    def factory(observation_size, action_size, preprocess_observations_fn=None):
        # brax passes its normalize fn (no clip); ours (the same with obs_clip) is used instead
        keep = preprocess_observations_fn if not sac.normalize_observations else normalize
        return brax_sac_networks.make_sac_networks(
            observation_size=observation_size, action_size=action_size,
            preprocess_observations_fn=keep, hidden_layer_sizes=tuple(sac.q_hidden),
            activation=ACTIVATIONS[sac.activation])

    return factory


def run_ours(cfg) -> dict[str, Any]:
    """The real trainer's compiled chunk, evaluated after every chunk (one per point)."""
    import jax

    from playground.runner import Run

    t0, evaluating = time.perf_counter(), 0.0
    run = Run(cfg, ["benchmarks/sac_vs_brax.py"], log=lambda *_: None)
    carry = jax.jit(run.fns.init, out_shardings=run.shardings)(run.key_init)
    chunk = run.lower_chunk(carry).compile()
    points = []
    for _ in range(run.derived.num_chunks):
        carry, metrics = chunk(carry, run.total_iterations)
        jax.device_get(metrics)
        steps = int(carry.iteration) * run.derived.env_steps_per_iteration
        wall = time.perf_counter() - t0 - evaluating  # training time: evaluations left out
        t_eval = time.perf_counter()
        points.append((wall, steps, run.evaluate(carry)["eval/episode_reward"]))
        evaluating += time.perf_counter() - t_eval
    return {"points": points}


def run_brax(cfg, steps: int, points: int) -> dict[str, Any]:
    """brax 0.14.2 `sac.train` on the adapted env with the mapped hyperparameters."""
    from brax.training.agents.sac import train as brax_sac

    from playground.tasks.registry import get_task

    out, t0 = [], time.perf_counter()

    def progress_fn(num_steps, metrics):
        if num_steps == 0:  # brax's evaluation before training
            return
        # training time: brax's cumulative evaluation time left out
        out.append((time.perf_counter() - t0 - float(metrics.get("eval/walltime", 0.0)),
                    int(num_steps), float(metrics["eval/episode_reward"])))

    env = make_flat_adapter(get_task(cfg.env.task).make_env(cfg))
    brax_sac.train(environment=env, network_factory=_network_factory(cfg),
                   progress_fn=progress_fn, **brax_sac_kwargs(cfg, steps, points))
    return {"points": out}


def action_size_of(config_file, overrides) -> int:
    """The action size of the config's env (built once: brax fixes the target entropy
    at -0.5 * action_size)."""
    from playground.tasks.registry import get_task

    cfg = common.resolve_config(config_file, [*BRAX_FIXED, *overrides])
    return int(get_task(cfg.env.task).make_env(cfg).action_size)


def trainer_config(config_file, overrides, steps: int, points: int, action_size: int):
    cfg = common.resolve_config(config_file, [*BRAX_FIXED, *overrides])
    per_iteration = cfg.sac.num_envs * cfg.sac.unroll_length
    iterations = steps // per_iteration
    if iterations % points:
        raise SystemExit(f"--steps / {per_iteration} env steps per iteration = {iterations} "
                         f"iterations: not a multiple of --points {points}")
    return common.resolve_config(config_file, [
        *BRAX_FIXED, *overrides,
        ("sac.target_entropy", -0.5 * action_size),
        ("sac.num_iterations", iterations),
        ("run.log_every", iterations // points * per_iteration),
        ("run.wandb.enabled", False),
    ])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(CARTPOLE))
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="extra override")
    p.add_argument("--steps", type=int, default=40960, help="env steps per run")
    p.add_argument("--points", type=int, default=8, help="evaluation points per run")
    p.add_argument("--skip-points", type=int, default=2, help="points before the steady state")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--cache", default="fresh",
                   help="XLA cache dir; 'fresh' (default): a new temporary one; 'none': off")
    p.add_argument("--json", help="write the result (and its markdown) here")
    p.add_argument("--merge", action="store_true",
                   help="keep the seeds already in --json (same config, overrides, steps and "
                        "points) and add these: one seed per process, a kill loses one seed")
    args = p.parse_args(argv)
    if args.points <= args.skip_points:
        common.bad_input(f"--points {args.points} must exceed --skip-points {args.skip_points} "
                         "(env steps/s are measured after the skipped points)")
    common.require_brax_trainers("sac_vs_brax.py")
    tmp = None
    if args.cache == "fresh":
        tmp = tempfile.TemporaryDirectory(prefix="sac_vs_brax_cache_")
        common.configure_cache(tmp.name)
    else:
        common.configure_cache(None if args.cache == "none" else args.cache)
    overrides = common.parse_sets(args.set)
    runs: dict[str, dict[int, Any]] = {"ours": {}, "brax": {}}
    earlier = merged_runs(args, overrides) if args.merge else None
    if earlier is not None:
        runs = earlier["runs"]
    action_size = action_size_of(args.config, overrides)
    cfg = None
    for seed in args.seeds:
        cfg = trainer_config(args.config, [*overrides, ("run.seed", seed)], args.steps,
                             args.points, action_size)
        # who goes first alternates with the seed (the same in one process or one per seed)
        for name in (("ours", "brax") if seed % 2 == 0 else ("brax", "ours")):
            common.log(f"seed {seed}: {name}")
            result = (run_ours(cfg) if name == "ours" else run_brax(cfg, args.steps, args.points))
            result.update(vs_brax.summarize_points([x[:2] for x in result["points"]],
                                                   args.skip_points))
            runs[name][seed] = result
            common.log(f"  {name}: {result['env_steps_per_s']:,.0f} env steps/s, final eval "
                       f"{result['points'][-1][2]:.1f}")
    command, uptime = common.command_line("sac_vs_brax.py"), common.uptime()
    seeds = list(args.seeds)
    if earlier is not None:
        command, uptime = f"{earlier['command']}; then {command}", f"{earlier['uptime']}; then {uptime}"
        seeds = [*earlier["seeds"], *(x for x in seeds if x not in earlier["seeds"])]
    result = {"benchmark": "sac_vs_brax", "command": command,
              "machine": common.machine_info(), "uptime": uptime,
              "config": str(args.config).replace(str(common.REPO_ROOT) + "/", ""),
              "overrides": overrides, "seeds": seeds, "steps": args.steps,
              "points": args.points, "skip_points": args.skip_points,
              "mapping": hyperparameter_mapping(cfg, args.steps, args.points), "runs": runs}
    common.publish(result, to_markdown, args.json, title="SAC: ours vs brax sac.train")
    if tmp is not None:
        tmp.cleanup()
    return result


def merged_runs(args, overrides) -> dict[str, Any] | None:
    """The earlier result in --json to add seeds to (None: no file yet); exit 2 when it
    was measured with other settings."""
    path = pathlib.Path(args.json) if args.json else None
    if path is None or not path.exists():
        return None
    earlier = json.loads(path.read_text())
    config = str(args.config).replace(str(common.REPO_ROOT) + "/", "")
    mine = (config, [list(o) for o in overrides], args.steps, args.points, args.skip_points)
    theirs = (earlier["config"], [list(o) for o in earlier["overrides"]], earlier["steps"],
              earlier.get("points"), earlier.get("skip_points"))
    if mine != theirs:
        common.bad_input(f"--merge: {path} was measured with (config, overrides, steps, points, "
                         f"skip points) {theirs}, not {mine}")
    earlier["runs"] = {name: {int(k): v for k, v in by_seed.items()}
                       for name, by_seed in earlier["runs"].items()}
    return earlier


def seed_summary(result: dict[str, Any]) -> list[list[Any]]:
    """Per seed: env steps/s ratio (ours / brax) and both final eval returns."""
    rows = []
    for seed in result["seeds"]:
        ours, brax = (result["runs"][name][seed] for name in ("ours", "brax"))
        rows.append([seed, f"{ours['env_steps_per_s'] / brax['env_steps_per_s']:.2f}x",
                     f"{ours['points'][-1][2]:.1f}", f"{brax['points'][-1][2]:.1f}"])
    return rows


def to_markdown(result: dict[str, Any]) -> str:
    rows = []
    for name in ("ours", "brax"):
        for seed in result["seeds"]:
            r = result["runs"][name][seed] if seed in result["runs"][name] else (
                result["runs"][name][str(seed)])
            curve = ", ".join(f"{common.fmt_int(s)}: {ret:.0f}" for _, s, ret in r["points"])
            rows.append([name, seed, common.fmt_int(r["env_steps_per_s"]),
                         f"{r['compile_s']:.0f}", curve])
    return "\n".join([
        f"### SAC: ours vs brax `sac.train` (`{result['config']}`, {result['steps']:,} env steps, "
        f"seeds {result['seeds']})",
        "",
        f"Machine load: `{result['uptime']}`. Eval: each trainer's deterministic policy on "
        "fresh full-length episodes at its progress points (env steps: eval return).",
        "",
        common.markdown_table(["trainer", "seed", "env steps/s", "compile s",
                               "eval return by env steps"], rows),
        "",
        common.markdown_table(["seed", "env steps/s, ours / brax", "final eval, ours",
                               "final eval, brax"], seed_summary(result)),
        "",
        common.markdown_table(["ours", "brax sac.train", "our value", "brax value"],
                              [[f"`{a}`", f"`{b}`", c, d] for a, b, c, d in result["mapping"]]),
        "",
        "Differences that remain with identical hyperparameters:",
        "",
        *[f"- {line}" for line in ALGORITHM_DIFFERENCES],
    ])


if __name__ == "__main__":
    main()
