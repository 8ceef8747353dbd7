"""Our trainer against MuJoCo Playground's own pipeline on Playground's CartpoleBalance.

Playground's pipeline, as its training script runs it: brax 0.14.2 `ppo.train` on
`registry.load(env)` wrapped by `mujoco_playground.wrapper.wrap_for_brax_training`, with
the env's tuned config from `mujoco_playground.config.dm_control_suite_params`, its
domain randomizer if it has one (CartpoleBalance has none) and brax's default networks.
Both pipelines load the env with the same Playground config (the MJX JAX backend).
Ours: the real CLI, `playground/train.py --task playground:CartpoleBalance` with the
defaults of `configs/playground.yaml`.

Every run is its own subprocess with its own compilation cache directory: "cold" is
its first use (empty), "warm" the same directory again. The parent timestamps every
line the run prints (PYTHONUNBUFFERED), so both pipelines are timed the same way:
from launching the process (interpreter start, imports, env build and compile
included) to the line that reports an evaluation. Env steps come from each pipeline's
env-step counter: ours prints its iteration counter times num_envs * unroll_length;
brax's progress_fn gets `training_state.env_steps`, which each training step advances
by batch_size * num_minibatches * unroll_length (the steps it unrolls), and the worker
checks it against that arithmetic (brax's logged `training/sps` multiplies one epoch's
steps by num_resets_per_eval, so it is recorded but not used).

Parts:

  time_to_target  eval return >= --target (950) on CartpoleBalance at 128 envs: our
                  defaults against Playground's tuned config with only num_envs,
                  batch_size (scaled by 128/2048) and num_timesteps changed. Each run
                  is stopped once it prints an eval >= target (or at --max-seconds).
                  Per seed: cold then warm, the pipeline order alternated by seed.
  throughput      identical hyperparameters (our defaults mapped onto brax's
                  arguments, `vs_brax.hyperparameter_mapping`; the same [64, 64] swish
                  networks; no evaluation): env steps/s from progress point 2 to the
                  last (brax compiles its epoch twice), plus compile.
  profile         where one iteration's time goes: the rollout alone (policy + env
                  step for num_envs x unroll_length, compiled in one program per
                  pipeline, timed in one process) against the steady iteration time of
                  the throughput runs; the rest is SGD (and GAE, normalizer, metrics).

    .venv/bin/python benchmarks/vs_playground.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import common
import vs_brax

ENV = "CartpoleBalance"
PLAYGROUND_YAML = common.CONFIG_DIR / "playground.yaml"
#: Playground's tuned config is written for this many envs; at fewer, batch_size scales.
TUNED_ENVS = 2048

OUR_EVAL = re.compile(r"steps\s+([\d,]+)\s.*\| eval .*episode_reward (-?[\d.]+)")
OUR_LOG = re.compile(r"^it\s+(\d+)\s+steps\s+([\d,]+)")
OUR_COMPILE = re.compile(r"^compiled in ([\d.]+)s")
BRAX_POINT = re.compile(r"^POINT (\d+) (\S+) (\S+)")


# --------------------------------------------------------------------------- workers
# (each runs in its own subprocess: `vs_playground.py --worker NAME ...`)


def tuned_config(num_envs: int, num_timesteps: int):
    """Playground's tuned brax PPO config for ENV, at `num_envs`; (config, changed fields)."""
    from mujoco_playground.config import dm_control_suite_params

    params = dm_control_suite_params.brax_ppo_config(ENV)
    changed = []
    for key, value in (("num_envs", num_envs),
                       ("batch_size", params.batch_size * num_envs // params.num_envs),
                       ("num_timesteps", num_timesteps)):
        changed.append((key, params[key], value))
        params[key] = value
    return params, changed


def _env_config():
    from playground.tasks.playground_adapter import playground_config

    return playground_config(ENV, {})  # the adapter's backend choice: MJX JAX without CUDA


def _load_env():
    from mujoco_playground import registry

    pg_cfg = _env_config()
    return registry.load(ENV, config=pg_cfg), pg_cfg, registry


def worker_brax(args) -> None:
    """Playground's pipeline; prints `POINT <env steps> <eval return> <training/sps>`."""
    common.configure_cache(args.cache_dir)
    import functools

    import jax
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as brax_networks
    from brax.training.agents.ppo import train as brax_ppo
    from mujoco_playground import wrapper

    env, pg_cfg, registry = _load_env()
    if args.hyper == "tuned":
        params, changed = tuned_config(args.num_envs, args.num_timesteps)
        print("CHANGED " + json.dumps(changed), flush=True)
        kwargs = params.to_dict()
        if "network_factory" in kwargs:  # dm_control params have none: brax's defaults
            raise SystemExit(f"error: {ENV}'s tuned config names a network; not handled here")
        network_factory = brax_networks.make_ppo_networks
        extra = dict(eval_env=registry.load(ENV, config=pg_cfg))
    else:  # our defaults, mapped
        cfg = common.resolve_config(PLAYGROUND_YAML, [("ppo.num_iterations", args.iterations),
                                                      ("run.seed", args.seed)])
        kwargs = {**vs_brax.brax_ppo_kwargs(cfg), "num_evals": args.points + 1,
                  "episode_length": vs_brax.training_episode_length(cfg, pg_cfg.episode_length)}
        def network_factory(observation_size, action_size, preprocess_observations_fn):
            del preprocess_observations_fn  # brax's normalizer, here with our obs_clip
            return brax_networks.make_ppo_networks(
                observation_size, action_size,
                preprocess_observations_fn=functools.partial(
                    running_statistics.normalize, max_abs_value=float(cfg.ppo.obs_clip)),
                policy_hidden_layer_sizes=tuple(cfg.network.policy_hidden),
                value_hidden_layer_sizes=tuple(cfg.network.value_hidden),
                activation=jax.nn.swish)
        extra = dict(run_evals=False)
    kwargs["seed"] = args.seed
    per_step = kwargs["batch_size"] * kwargs["num_minibatches"] * kwargs["unroll_length"]
    resets = max(int(kwargs.get("num_resets_per_eval", 0)), 1)
    evals_after_init = max(int(kwargs["num_evals"]) - 1, 1)
    per_epoch = math.ceil(kwargs["num_timesteps"] / (evals_after_init * per_step * resets))
    per_point = per_epoch * per_step * resets  # env steps between two progress points
    print(f"PER_POINT {per_point}", flush=True)
    points = []

    def progress_fn(num_steps, metrics):
        if num_steps and num_steps != per_point * (len(points) + 1):
            raise SystemExit(f"brax counted {num_steps} env steps, arithmetic says "
                             f"{per_point * (len(points) + 1)}")
        if num_steps:
            points.append(num_steps)
        ret = float(metrics.get("eval/episode_reward", math.nan))
        print(f"POINT {num_steps} {ret} {float(metrics.get('training/sps', math.nan))}",
              flush=True)

    randomizer = registry.get_domain_randomizer(ENV)
    brax_ppo.train(environment=env, wrap_env_fn=wrapper.wrap_for_brax_training,
                   randomization_fn=randomizer, network_factory=network_factory,
                   progress_fn=progress_fn, **extra, **kwargs)
    print("DONE", flush=True)


def worker_rollout(args) -> None:
    """Seconds of one rollout (num_envs x unroll_length policy + env steps) per pipeline."""
    common.configure_cache(args.cache_dir)
    import functools

    import jax
    import jax.numpy as jnp
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as brax_networks
    from mujoco_playground import wrapper

    from playground.tasks.registry import get_task

    cfg = common.resolve_config(PLAYGROUND_YAML, [])
    num_envs, unroll = int(cfg.ppo.num_envs), int(cfg.ppo.unroll_length)
    pg_env, _, _ = _load_env()
    brax_env = wrapper.wrap_for_brax_training(pg_env, episode_length=1000)
    ours = get_task(cfg.env.task).make_env(cfg)
    obs_size = int(ours.observation_size["state"])
    nets = brax_networks.make_ppo_networks(
        obs_size, ours.action_size, policy_hidden_layer_sizes=tuple(cfg.network.policy_hidden),
        value_hidden_layer_sizes=tuple(cfg.network.value_hidden), activation=jax.nn.swish)
    key = jax.random.PRNGKey(0)
    policy_params = nets.policy_network.init(key)
    normalizer = running_statistics.init_state(jax.ShapeDtypeStruct((obs_size,), jnp.float32))
    policy = brax_networks.make_inference_fn(nets)((normalizer, policy_params))

    def unroll_with(step, obs_of, state, key):
        def body(carry, _):
            state, key = carry
            key, key_act = jax.random.split(key)
            action, _ = policy(obs_of(state), key_act)
            return (step(state, action), key), None

        (state, _), _ = jax.lax.scan(body, (state, key), None, length=unroll)
        return state

    keys = jax.random.split(key, num_envs)
    programs = {
        "ours": (functools.partial(unroll_with, jax.vmap(ours.step), lambda s: s.obs["state"]),
                 jax.jit(jax.vmap(ours.reset))(keys)),
        "brax": (functools.partial(unroll_with, brax_env.step, lambda s: s.obs),
                 jax.jit(brax_env.reset)(keys)),
    }
    out = {}
    for name, (fn, state) in programs.items():
        compiled = jax.jit(fn).lower(state, key).compile()
        jax.block_until_ready(compiled(state, key))
        times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            jax.block_until_ready(compiled(state, key))
            times.append(time.perf_counter() - t)
        out[name] = times
    print("ROLLOUT " + json.dumps({"num_envs": num_envs, "unroll_length": unroll, "times": out}),
          flush=True)


# --------------------------------------------------------------------------- the parent


def launch(cmd: list[str], log_path: pathlib.Path, stop=None,
           max_seconds: float | None = None) -> dict[str, Any]:
    """Run `cmd`, timestamping each output line (s since launch); stop(line) ends it early."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=common.REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    reason = {"stopped": None}

    def kill(why: str) -> None:
        if proc.poll() is None:
            reason["stopped"] = why
            os.killpg(proc.pid, signal.SIGTERM)

    timer = threading.Timer(max_seconds, kill, ("max_seconds",)) if max_seconds else None
    if timer:
        timer.start()
    lines = []
    with log_path.open("w") as log:
        for line in proc.stdout:
            t = time.perf_counter() - t0
            lines.append((t, line.rstrip("\n")))
            log.write(f"{t:8.2f} {line}")
            log.flush()
            if stop is not None and reason["stopped"] is None and stop(line):
                kill("target reached")
    code = proc.wait()
    if timer:
        timer.cancel()
    if code and reason["stopped"] is None:
        tail = " ".join(" ".join(x for _, x in lines[-8:]).split())[-800:]
        raise SystemExit(f"error: {' '.join(cmd[:4])} ... exited {code}: {tail}")
    return {"lines": lines, "wall_s": time.perf_counter() - t0, "stopped": reason["stopped"]}


def our_cmd(seed: int, cache: str, checkpoints: str, sets: list[str]) -> list[str]:
    cmd = [sys.executable, "playground/train.py", "--task", f"playground:{ENV}", "--seed",
           str(seed), "--checkpoint-dir", checkpoints, "--set", f"run.compilation_cache={cache}",
           "--set", "run.progress=false", "--set", f"run.name=vs_playground-s{seed}"]
    for item in sets:
        cmd += ["--set", item]
    return cmd


def brax_cmd(seed: int, cache: str, hyper: str, args) -> list[str]:
    return [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", "brax",
            "--hyper", hyper, "--seed", str(seed), "--cache-dir", cache,
            "--num-envs", str(args.num_envs), "--num-timesteps", str(args.brax_timesteps),
            "--iterations", str(args.tp_iterations), "--points", str(args.tp_points)]


def eval_points(name: str, lines) -> list[tuple[float, int, float]]:
    """(s since launch, env steps, eval return) of each evaluation a run printed (brax's
    include its evaluation of the initial policy, at env step 0)."""
    out = []
    for t, line in lines:
        if name == "ours" and (m := OUR_EVAL.search(line)):
            out.append((t, int(m.group(1).replace(",", "")), float(m.group(2))))
        elif name == "brax" and (m := BRAX_POINT.match(line)) and m.group(2) != "nan":
            out.append((t, int(m.group(1)), float(m.group(2))))  # step 0: the initial eval
    return out


def progress_points(name: str, lines) -> list[tuple[float, int]]:
    """(s since launch, env steps) of each progress line: our log rows, brax's progress_fn."""
    if name == "ours":
        points = [(t, int(m.group(2).replace(",", ""))) for t, line in lines
                  if (m := OUR_LOG.match(line))]
        return points[:-1]  # the last row is printed after the final evaluation and save
    return [(t, int(m.group(1))) for t, line in lines
            if (m := BRAX_POINT.match(line)) and int(m.group(1)) > 0]


def part_time_to_target(args, tmp: pathlib.Path, logs: pathlib.Path) -> dict[str, Any]:
    runs = []
    for i, seed in enumerate(args.seeds):
        order = ("ours", "brax") if i % 2 == 0 else ("brax", "ours")
        for phase in ("cold", "warm"):
            for name in order:
                cache = tmp / f"cache-{name}-s{seed}"  # cold: new and empty; warm: again
                if phase == "cold" and cache.exists():
                    raise SystemExit(f"error: {cache} exists before the cold run")
                cmd = (our_cmd(seed, str(cache), str(tmp / "checkpoints"), [])
                       if name == "ours" else brax_cmd(seed, str(cache), "tuned", args))

                def stop(line, name=name):
                    points = eval_points(name, [(0.0, line.rstrip("\n"))])
                    return bool(points) and points[0][2] >= args.target

                common.log(f"time to {args.target:.0f}: {name} seed {seed} {phase}")
                result = launch(cmd, logs / f"t2t-{name}-s{seed}-{phase}.log", stop,
                                args.max_seconds)
                evals = eval_points(name, result["lines"])
                hit = next((p for p in evals if p[2] >= args.target), None)
                changed = next((json.loads(line[8:]) for _, line in result["lines"]
                                if line.startswith("CHANGED ")), None)
                run = {"pipeline": name, "seed": seed, "cache": phase, "evals": evals,
                       "time_to_target_s": hit[0] if hit else None,
                       "env_steps_to_target": hit[1] if hit else None,
                       "first_eval_s": evals[0][0] if evals else None,
                       "first_eval_env_steps": evals[0][1] if evals else None,
                       "wall_s": result["wall_s"], "stopped": result["stopped"],
                       "changed_fields": changed}
                common.log(f"  {name}: " + (f"{hit[2]:.1f} at {hit[1]:,} env steps, {hit[0]:.1f} s"
                                            if hit else f"not reached in {result['wall_s']:.0f} s"))
                runs.append(run)
    return {"target": args.target, "num_envs": args.num_envs,
            "brax_timesteps": args.brax_timesteps, "max_seconds": args.max_seconds,
            "runs": runs}


def part_throughput(args, tmp: pathlib.Path, logs: pathlib.Path) -> dict[str, Any]:
    if args.tp_iterations % args.tp_points:
        common.bad_input("--tp-iterations must be a multiple of --tp-points")
    cfg = common.resolve_config(PLAYGROUND_YAML, [("ppo.num_iterations", args.tp_iterations)])
    k = args.tp_iterations // args.tp_points
    steps_per_point = k * cfg.ppo.num_envs * cfg.ppo.unroll_length
    sets = [f"ppo.num_iterations={args.tp_iterations}", "run.eval_every=0",
            f"run.log_every={steps_per_point}"]
    reps = []
    for rep in range(args.tp_reps):
        order = ("ours", "brax") if rep % 2 == 0 else ("brax", "ours")
        row: dict[str, Any] = {"rep": rep + 1, "order": list(order)}
        for name in order:
            cache = tmp / f"tp-cache-{name}-r{rep}"
            cmd = (our_cmd(0, str(cache), str(tmp / "checkpoints"), sets) if name == "ours"
                   else brax_cmd(0, str(cache), "ours", args))
            common.log(f"throughput rep {rep + 1}: {name} (identical hyperparameters)")
            result = launch(cmd, logs / f"tp-{name}-r{rep}.log", None, args.max_seconds)
            summary = vs_brax.summarize_points(progress_points(name, result["lines"]),
                                               args.skip_points)
            compiled = [float(m.group(1)) for _, line in result["lines"]
                        if (m := OUR_COMPILE.match(line))]
            summary["reported_compile_s"] = compiled[0] if compiled else None
            summary["wall_s"] = result["wall_s"]
            row[name] = summary
            common.log(f"  {name}: {summary['env_steps_per_s']:,.0f} env steps/s, "
                       f"{summary['steady_point_s'] / k:.2f} s per iteration")
        row["ratio"] = row["ours"]["env_steps_per_s"] / row["brax"]["env_steps_per_s"]
        reps.append(row)
    return {"iterations": args.tp_iterations, "points": args.tp_points,
            "iterations_per_point": k, "skip_points": args.skip_points,
            "env_steps_per_iteration": cfg.ppo.num_envs * cfg.ppo.unroll_length,
            "mapping": throughput_mapping(cfg, _env_config().episode_length), "reps": reps}


def throughput_mapping(cfg, env_episode_length: int) -> list[tuple[str, str, Any, Any]]:
    """vs_brax's mapping, with the rows that differ on a Playground env (array obs, brax's
    own network factory) restated; env_episode_length: the Playground env's own."""
    rows = []
    for ours, brax, ours_value, brax_value in vs_brax.hyperparameter_mapping(
            cfg, env_episode_length):
        if ours == "ppo.obs_clip":
            brax_value = f"{brax_value} (brax's normalize fn with max_abs_value)"
        elif ours.startswith("actor / critic obs keys"):
            ours_value = brax_value = f"{ENV}'s array obs (both)"
        rows.append((ours, brax, ours_value, brax_value))
    return rows


def part_profile(args, tmp: pathlib.Path, logs: pathlib.Path) -> dict[str, Any]:
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", "rollout",
           "--cache-dir", str(tmp / "profile-cache"), "--reps", str(args.profile_reps)]
    common.log("profile: rollout alone, both pipelines in one process")
    result = launch(cmd, logs / "profile.log", None, args.max_seconds)
    line = next(x for _, x in result["lines"] if x.startswith("ROLLOUT "))
    return json.loads(line[len("ROLLOUT "):])


# --------------------------------------------------------------------------- report


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    shown = ", ".join(f"{v:.1f}" for v in values)
    return f"**{common.median(values):.1f}** ({shown})"


def to_markdown(result: dict[str, Any]) -> str:
    text = [
        f"Command: `{result['command']}`. {common.machine_line(result['machine'])}",
        f"Load: `{result['uptime_start']}` at the start, `{result['uptime_end']}` at the end "
        "(2 cores shared with other jobs: wall times are noisy).",
        "",
    ]
    if "time_to_target" in result:
        tt = result["time_to_target"]
        target = tt["target"]
        changed = next((r["changed_fields"] for r in tt["runs"] if r["changed_fields"]), [])
        rows, ratios = [], {}
        for phase in ("cold", "warm"):
            per = {name: [r for r in tt["runs"] if r["pipeline"] == name and r["cache"] == phase]
                   for name in ("ours", "brax")}
            times = {n: [r["time_to_target_s"] for r in rs if r["time_to_target_s"] is not None]
                     for n, rs in per.items()}
            for name, label in (("ours", "ours (configs/playground.yaml)"),
                                ("brax", "Playground's pipeline (tuned config)")):
                rs = per[name]
                missed = sum(r["time_to_target_s"] is None for r in rs)
                rows.append([phase, label, _stats(times[name]) + (f", {missed} not reached"
                                                                  if missed else ""),
                             ", ".join(common.fmt_int(r["env_steps_to_target"])
                                       if r["env_steps_to_target"] else "-" for r in rs),
                             _stats([r["first_eval_s"] for r in rs if r["first_eval_s"]])])
            all_ours = bool(per["ours"]) and len(times["ours"]) == len(per["ours"])
            if all_ours and per["brax"] and len(times["brax"]) == len(per["brax"]):
                ratio = common.median(times["ours"]) / common.median(times["brax"])
                ratios[phase] = f"**{ratio:.2f}x**"
            elif all_ours and per["brax"] and not times["brax"]:
                # theirs never got there: its time is at least the run's length
                bound = common.median(times["ours"]) / min(r["wall_s"] for r in per["brax"])
                ratios[phase] = (f"**< {bound:.2f}x** (Playground's pipeline did not reach "
                                 f"{target:.0f} in {min(r['wall_s'] for r in per['brax']):.0f} s)")
        text += [
            f"### Wall time to eval return >= {target:.0f} on {ENV}, {tt['num_envs']} envs",
            "",
            "From launching the process to the line reporting the first evaluation >= "
            f"{target:.0f} (imports, env build and compile included); median (all seeds). "
            "Each pipeline evaluates as it does by default: ours every `run.eval_every` "
            "iterations, deterministic policy, `run.eval_envs` episodes; brax at its "
            "`num_evals` points, 128 envs, stochastic policy (`deterministic_eval=False`).",
            "",
            common.markdown_table(["cache", "pipeline", f"s to >= {target:.0f}",
                                   "env steps at that eval",
                                   "s to first eval (Playground's: at step 0)"], rows),
            "",
            "Ours / Playground's (median time to target): " + (", ".join(
                f"{phase} {r}" for phase, r in ratios.items()) or "n/a")
            + " (goal <= 0.5x).",
            "",
            "Playground's tuned config, fields changed for 128 envs: " + ", ".join(
                f"`{k}` {old} -> {new}" for k, old, new in changed) + "; everything else as "
            "`dm_control_suite_params.brax_ppo_config`. Runs stop at the first eval >= target "
            f"(or after {tt['max_seconds']:.0f} s).",
            "",
            "Every evaluation (s, env steps, return):",
            "",
            *[f"- {r['pipeline']} seed {r['seed']} {r['cache']}: " + "; ".join(
                f"{t:.0f} s {common.fmt_int(s)} {v:.0f}" for t, s, v in r["evals"])
              for r in tt["runs"]],
            "",
        ]
    if "throughput" in result:
        tp = result["throughput"]
        rows = [[r["rep"], " then ".join(r["order"]),
                 common.fmt_int(r["ours"]["env_steps_per_s"]),
                 common.fmt_int(r["brax"]["env_steps_per_s"]), f"**{r['ratio']:.2f}**",
                 f"{r['ours']['compile_s']:.0f} / {r['brax']['compile_s']:.0f}"]
                for r in tp["reps"]]
        text += [
            "### Throughput with identical hyperparameters",
            "",
            f"Our defaults in both pipelines ({tp['iterations']} iterations of "
            f"{tp['env_steps_per_iteration']} env steps, a progress point every "
            f"{tp['iterations_per_point']}, no evaluation); env steps/s from point "
            f"{tp['skip_points']} to the last. Startup = time to point {tp['skip_points']} "
            "minus as many steady intervals (imports, env build, compile; brax compiles its "
            "epoch twice).",
            "",
            common.markdown_table(["rep", "order", "ours env steps/s", "Playground's env steps/s",
                                   "ours / theirs", "startup s (ours / theirs)"], rows),
            "",
            "<details><summary>Hyperparameter mapping</summary>",
            "",
            vs_brax._mapping_table(tp["mapping"]),
            "",
            "</details>",
            "",
        ]
    if "profile" in result and "throughput" in result:
        pr, tp = result["profile"], result["throughput"]
        k = tp["iterations_per_point"]
        rows = []
        for name in ("ours", "brax"):
            iteration = common.median([r[name]["steady_point_s"] / k for r in tp["reps"]])
            rollout = common.median(pr["times"][name])
            startup = common.median([r[name]["compile_s"] for r in tp["reps"]])
            rows.append([name, f"{startup:.1f}", f"{iteration * 1e3:.0f}",
                         f"{rollout * 1e3:.0f} ({rollout / iteration:.0%})",
                         f"{(iteration - rollout) * 1e3:.0f} ({1 - rollout / iteration:.0%})"])
        text += [
            "### Where the time goes",
            "",
            f"One iteration = {pr['num_envs']} envs x {pr['unroll_length']} steps, then SGD. "
            "Rollout = the policy and the env step alone, compiled as one program per "
            "pipeline and timed in one process (median of "
            f"{len(pr['times']['ours'])}); SGD and the rest = the steady iteration time of the "
            "throughput runs minus the rollout.",
            "",
            common.markdown_table(["pipeline", "startup s (compile etc.)", "ms per iteration",
                                   "rollout ms", "SGD + rest ms"], rows),
            "",
        ]
    if result.get("notes"):
        text += ["### Notes", "", *[f"- {note}" for note in result["notes"]], ""]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="time_to_target,throughput,profile",
                   help="comma list of: time_to_target, throughput, profile")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--target", type=float, default=950.0)
    p.add_argument("--num-envs", type=int, default=128)
    p.add_argument("--brax-timesteps", type=int, default=5_529_600,
                   help="Playground's step budget at 128 envs (default: 9 evals of one "
                        "training epoch, 10 resets x 61,440 steps each)")
    p.add_argument("--max-seconds", type=float, default=600.0, help="per run")
    p.add_argument("--tp-iterations", type=int, default=40)
    p.add_argument("--tp-points", type=int, default=8)
    p.add_argument("--tp-reps", type=int, default=1)
    p.add_argument("--skip-points", type=int, default=2)
    p.add_argument("--profile-reps", type=int, default=5)
    p.add_argument("--logs", help="keep every run's timestamped output in this dir")
    p.add_argument("--json", help="write the result (and its markdown) here")
    p.add_argument("--note", action="append", default=[],
                   help="a line for the report's notes; repeatable")
    p.add_argument("--worker", choices=("brax", "rollout"), help=argparse.SUPPRESS)
    p.add_argument("--hyper", choices=("tuned", "ours"), default="tuned", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--cache-dir", help=argparse.SUPPRESS)
    p.add_argument("--num-timesteps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--iterations", type=int, help=argparse.SUPPRESS)
    p.add_argument("--points", type=int, help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker in (None, "brax"):
        common.require_brax_trainers("vs_playground.py")
    if args.worker == "brax":
        return worker_brax(args)
    if args.worker == "rollout":
        return worker_rollout(args)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(parts) - {"time_to_target", "throughput", "profile"}
    if unknown:
        common.bad_input(f"unknown --parts {sorted(unknown)}")

    result: dict[str, Any] = {"benchmark": "vs_playground",
                              "command": common.command_line("vs_playground.py"),
                              "machine": common.machine_info(), "uptime_start": common.uptime(),
                              "notes": list(args.note)}
    with tempfile.TemporaryDirectory(prefix="vs_playground_") as tmp_name:
        tmp = pathlib.Path(tmp_name)
        logs = pathlib.Path(args.logs) if args.logs else tmp / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for part, fn in (("time_to_target", part_time_to_target), ("throughput", part_throughput),
                         ("profile", part_profile)):
            if part in parts:
                result[part] = fn(args, tmp, logs)
                if args.json:  # a partial result survives a later failure
                    common.write_json(args.json, result)
    result["uptime_end"] = common.uptime()
    return common.publish(result, to_markdown, args.json,
                          title="Ours vs MuJoCo Playground's own pipeline (CartpoleBalance)")


if __name__ == "__main__":
    main()
