"""System identification: CEM against random search at equal simulations, and wall time per
generation against `--parallel-envs` (issue 22's figures).

The problem: `playground.sysid.robot.make_step_log` on the shipped humanoid on a fixed base,
`--joints` (default: both shoulder rolls and elbows) with known perturbed kp, damping,
armature and frictionloss and 1 mrad sensor noise (150 rows at 8 ms); the fit searches
kp, damping and armature per joint (frictionloss is perturbed but not fitted:
docs/sysid.md). Each search gets the same budget: `population x generations` replays.

  search   for each optimizer (cem, random), population (`--populations`) and seed: the
           best loss and the best candidate's parameter errors after every generation
           (|fitted / true - 1|, the worst joint: kp, damping, armature).
  wall     CEM at population = --parallel-envs (`--parallel-envs`, one generation =
           one jitted program over the whole population): seconds per generation
           (median of generations 2..), and generation 1's extra (the compile).

    .venv/bin/python benchmarks/sysid_search.py --json benchmarks/results/sysid_search.json \
        --png benchmarks/figures/sysid_search.png
    .venv/bin/python benchmarks/sysid_search.py --part wall --parallel-envs 256 1024 4096
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import common
import numpy as np

ROBOT = "humanoid_walk"
JOINTS = ("left_shoulder_roll", "left_elbow", "right_shoulder_roll", "right_elbow")
ROWS, DT, NOISE = 150, 0.008, 0.001
FITTED = ("kp", "damping", "armature")
TRUE_COLUMNS = [0, 1, 3]  # of robot.PARAMS (kp, damping, frictionloss, armature)


def make_problem(log_path: pathlib.Path, joints, optimizer: str, population: int,
                 generations: int, seed: int, parallel_envs: int | None = None):
    from playground.sysid.fit import FitOptions, prepare

    return prepare(FitOptions(robot=ROBOT, log=log_path, out=log_path.with_suffix(".json"),
                              optimizer=optimizer, population=population,
                              generations=generations, parallel_envs=parallel_envs,
                              joints=",".join(joints), params=FITTED, fixed_base=True,
                              seed=seed, plots=False))


def search_runs(args, log_path: pathlib.Path, true: np.ndarray) -> list[dict]:
    from playground.sysid.fit import run_fit

    runs = []
    for population in args.populations:
        for optimizer in ("cem", "random"):
            for seed in args.seeds:
                problem = make_problem(log_path, args.joints, optimizer, population,
                                       args.generations, seed)
                curve = []

                def on_generation(g, row, best, curve=curve, population=population):
                    err = np.abs(best / true[:, TRUE_COLUMNS] - 1.0).max(axis=0)
                    curve.append({"generation": g, "simulations": g * population,
                                  "best_loss": row["best_loss"],
                                  **{f"{p}_error": float(e) for p, e in zip(FITTED, err, strict=True)}})

                result = run_fit(problem, log=lambda line: None, on_generation=on_generation)
                last = curve[-1]
                common.log(f"{optimizer:>6} population {population:>4} seed {seed}: loss "
                           f"{result['loss']['before']:.3g} -> {last['best_loss']:.3g}; worst "
                           f"joint errors kp {last['kp_error']:.1%} damping "
                           f"{last['damping_error']:.1%} armature {last['armature_error']:.1%}")
                runs.append({"optimizer": optimizer, "population": population, "seed": seed,
                             "loss_before": result["loss"]["before"],
                             "replay_rms_rad": result["replay_rms_rad"]["after"],
                             "replay_rms_before_rad": result["replay_rms_rad"]["before"],
                             "curve": curve})
    return runs


def wall_runs(args, log_path: pathlib.Path) -> list[dict]:
    from playground.sysid.fit import run_fit

    rows = []
    for parallel in args.parallel_envs:
        problem = make_problem(log_path, args.joints, "cem", parallel, args.wall_generations,
                               0, parallel_envs=parallel)
        t0 = time.monotonic()
        result = run_fit(problem, log=lambda line: None)
        seconds = [h["seconds"] for h in result["history"]]
        per_gen = common.median(seconds[1:])
        rows.append({"parallel_envs": parallel, "generations": len(seconds),
                     "seconds_per_generation": per_gen,
                     "replays_per_s": parallel / per_gen,
                     "first_generation_extra_s": seconds[0] - per_gen,
                     "total_s": time.monotonic() - t0})
        common.log(f"wall: {parallel:>5} envs: {per_gen:.2f} s per generation "
                   f"({parallel / per_gen:,.0f} replays/s); generation 1 +{seconds[0] - per_gen:.1f} s")
    return rows


def summarize(runs: list[dict]) -> list[dict]:
    """Per (optimizer, population): medians over seeds at the last generation."""
    out = []
    for key in sorted({(r["optimizer"], r["population"]) for r in runs},
                      key=lambda k: (k[1], k[0])):
        rs = [r for r in runs if (r["optimizer"], r["population"]) == key]
        last = [r["curve"][-1] for r in rs]
        out.append({"optimizer": key[0], "population": key[1], "seeds": len(rs),
                    "simulations": last[0]["simulations"],
                    "loss": common.median([x["best_loss"] for x in last]),
                    "loss_before": rs[0]["loss_before"],
                    **{f"{p}_error": common.median([x[f"{p}_error"] for x in last])
                       for p in FITTED},
                    **{f"{p}_error_max": max(x[f"{p}_error"] for x in last) for p in FITTED},
                    "replay_rms_rad": common.median([r["replay_rms_rad"] for r in rs]),
                    "replay_rms_before_rad": rs[0]["replay_rms_before_rad"]})
    return out


def to_markdown(result: dict) -> str:
    lines = [f"`{result['command']}`", "", common.machine_line(result["machine"]), ""]
    if result.get("summary"):
        lines += [f"Humanoid on a fixed base, joints {', '.join(result['joints'])}; kp, damping "
                  f"and armature fitted ({3 * len(result['joints'])} dims); "
                  f"{result['generations']} generations; medians over seeds "
                  f"{result['seeds']} (worst seed in brackets); parameter error = the worst "
                  "joint's |fitted / true - 1|.", ""]
        rows = [[s["optimizer"], s["population"], common.fmt_int(s["simulations"]),
                 f"{s['loss_before']:.3g} -> {s['loss']:.3g}",
                 *[f"{100 * s[f'{p}_error']:.1f} % ({100 * s[f'{p}_error_max']:.1f})"
                   for p in FITTED],
                 f"{1e3 * s['replay_rms_before_rad']:.2f} -> {1e3 * s['replay_rms_rad']:.2f}"]
                for s in result["summary"]]
        lines.append(common.markdown_table(
            ["optimizer", "population", "simulations", "loss", "kp error", "damping error",
             "armature error", "replay RMS mrad"], rows))
        lines.append("")
    if result.get("wall"):
        lines += ["CEM, one generation = every candidate replayed at once (population = "
                  "--parallel-envs), median of generations 2.. (generation 1 also compiles):", ""]
        rows = [[common.fmt_int(w["parallel_envs"]), f"{w['seconds_per_generation']:.2f}",
                 common.fmt_int(w["replays_per_s"]), f"{w['first_generation_extra_s']:.1f}"]
                for w in result["wall"]]
        lines.append(common.markdown_table(
            ["--parallel-envs", "s per generation", "replays/s", "generation 1 extra s"], rows))
    lines += ["", f"Load: {result['uptime']}"]
    return "\n".join(lines)


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    colors = {"cem": "tab:blue", "random": "tab:orange"}
    styles = {p: s for p, s in zip(sorted({r["population"] for r in result["runs"]}),
                                    ("-", "--", ":", "-."), strict=False)}
    for r in result["runs"]:
        sims = [c["simulations"] for c in r["curve"]]
        label = f"{r['optimizer']} pop {r['population']}" if r["seed"] == result["seeds"][0] else None
        kw = dict(color=colors[r["optimizer"]], linestyle=styles[r["population"]], alpha=0.7,
                  label=label)
        axes[0].plot(sims, [c["best_loss"] for c in r["curve"]], **kw)
        for ax, p in zip(axes[1:], FITTED, strict=True):
            ax.plot(sims, [100 * c[f"{p}_error"] for c in r["curve"]], **kw)
    axes[0].set_ylabel("best loss")
    for ax, p in zip(axes[1:], FITTED, strict=True):
        ax.set_ylabel(f"worst joint {p} error, %")
    for ax in axes:
        ax.set_xlabel("simulations (replays)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("sysid: CEM vs random search at equal simulations (humanoid, fixed base)")
    fig.tight_layout()
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("search", "wall", "both"), default="both")
    p.add_argument("--joints", nargs="+", default=list(JOINTS))
    p.add_argument("--populations", type=int, nargs="+", default=[32, 128])
    p.add_argument("--generations", type=int, default=12)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--log-seed", type=int, default=1, help="draws the true parameters")
    p.add_argument("--parallel-envs", type=int, nargs="+",
                   default=[256, 512, 1024, 2048, 4096, 8192])
    p.add_argument("--wall-generations", type=int, default=4)
    p.add_argument("--cache", default=common.DEFAULT_CACHE)
    p.add_argument("--json")
    p.add_argument("--png")
    args = p.parse_args()
    if min(args.populations + args.parallel_envs + [args.generations]) < 2 or \
            args.wall_generations < 2:
        common.bad_input("populations, --parallel-envs, --generations and --wall-generations "
                         "must be >= 2")
    common.configure_cache(args.cache)
    from playground.sysid import robot as robot_lib

    result = {"command": common.command_line("sysid_search.py"),
              "machine": common.machine_info(), "joints": list(args.joints),
              "generations": args.generations, "seeds": args.seeds}
    with tempfile.TemporaryDirectory() as tmp:
        log_path = pathlib.Path(tmp) / "log.npz"
        true = robot_lib.make_step_log(log_path, ROBOT, args.joints, ROWS, DT, NOISE,
                                       seed=args.log_seed)
        result["true_params"] = true.tolist()
        if args.part in ("search", "both"):
            result["runs"] = search_runs(args, log_path, true)
            result["summary"] = summarize(result["runs"])
        if args.part in ("wall", "both"):
            result["wall"] = wall_runs(args, log_path)
    result["uptime"] = common.uptime()
    common.publish(result, to_markdown, args.json, title="sysid: CEM vs random, wall per generation")
    if args.png and result.get("runs"):
        plot(result, args.png)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
