"""The shipped CPU humanoid policy: ship a checkpoint, measure it, plot its learning curve.

    python benchmarks/humanoid_walk_cpu.py ship --run checkpoints/walk_cpu/checkpoints/4800 \
        --why ", the best by the trainer's eval reward (run.keep_best)"
    python benchmarks/humanoid_walk_cpu.py evaluate [--episodes 16]
    python benchmarks/humanoid_walk_cpu.py curve --out demo/humanoid_walk_cpu_curve.png
    python benchmarks/humanoid_walk_cpu.py strip --video demo/humanoid_walk_cpu.mp4 \
        --out policies/humanoid_walk_cpu/walk_frames.png
    python benchmarks/humanoid_walk_cpu.py reproduce --run checkpoints/walk_cpu_repro/checkpoints/4800

`ship` exports one checkpoint step of a `configs/humanoid_walk_cpu.yaml` run into
`policies/humanoid_walk_cpu/` (numpy bundle via playground/export.py, the run's config,
provenance and metrics up to that step, learning curve, README with command, seed, wall
time and env steps). `evaluate` plays the shipped bundle with `playground/play.py`'s
machinery (randomization, noise, latency and pushes on; fixed commands) and the zero and
random floors, and writes benchmarks/results/humanoid_walk_cpu.{json,md}. `curve` plots
episode return and forward-speed error against env steps and wall time. `reproduce`
compares a re-run of the shipped policy's reproduction command with what shipped: the
exported arrays of the same step (bit for bit, else the largest difference) and every
logged metric of every shared iteration, and writes
benchmarks/results/humanoid_walk_cpu_repro.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys

import common  # noqa: F401  (repo on sys.path, quiet XLA: before jax)

POLICY_DIR = common.REPO_ROOT / "policies" / "humanoid_walk_cpu"
RESULTS = common.REPO_ROOT / "benchmarks" / "results"
#: (label, command VX,VY,YAW) evaluated for the trained policy; the first is the headline.
COMMANDS = [("vx 0.3", "0.3,0,0"), ("vx 0.1", "0.1,0,0"), ("vx 0.4", "0.4,0,0"),
            ("yaw 0.5 (vx 0)", "0,0,0.5"), ("yaw -0.5 (vx 0)", "0,0,-0.5"),
            ("vx 0.3 + yaw 0.5", "0.3,0,0.5")]
GOAL = {"survival_rate": 0.95, "vx_error": 0.08}
#: logged metrics that come from the wall clock, not from training
TIMING_KEYS = ("wall_time", "train/sps", "eta_seconds")


def read_rows(path: pathlib.Path) -> list[dict]:
    return cumulative_wall_time(
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()])


def cumulative_wall_time(rows: list[dict]) -> list[dict]:
    """Rows whose `wall_time` runs on across resumes.

    Runs logged before the trainer carried wall time over a resume restart it at each
    resume; the row before the drop is the checkpoint the run resumed from, so its wall
    time is added to every later row of that segment.
    """
    out, offset, previous = [], 0.0, 0.0
    for row in rows:
        if row["wall_time"] + offset < previous:
            offset = previous
        out.append({**row, "wall_time": row["wall_time"] + offset})
        previous = out[-1]["wall_time"]
    return out


def stages(steps_dir: pathlib.Path, step: int) -> list[dict]:
    """The training stages behind one checkpoint step, oldest first: {"run_dir", "step",
    "provenance", "config"} each. A warm-started run (`--init-from`) follows its source
    checkpoint (relative paths are the repository's, where the recipe runs)."""
    from playground import runs

    out = []
    while True:
        run_dir = steps_dir.parent
        prov = json.loads((run_dir / "provenance.json").read_text())
        cfg = runs.read_config(steps_dir, step)
        out.insert(0, {"run_dir": run_dir, "step": step, "provenance": prov, "config": cfg})
        source = (prov.get("init_from") or {}).get("checkpoint") or cfg["run"].get("init_from")
        if not source:
            return out
        source = pathlib.Path(source)
        steps_dir, step = runs.find_step(source if source.is_absolute()
                                         else common.REPO_ROOT / source)


def stage_rows(chain: list[dict]) -> list[dict]:
    """The logged rows of every stage up to its step, one curve: a later stage's
    iteration, env steps and wall time continue from where its source stopped; each
    row says its `stage` (0 = the first)."""
    out: list[dict] = []
    for index, stage in enumerate(chain):
        rows = [r for r in read_rows(stage["run_dir"] / "metrics.jsonl")
                if r["iteration"] <= stage["step"]]
        base = out[-1] if out else {"iteration": 0, "env_steps": 0, "wall_time": 0.0}
        out += [{**r, "stage": index, "iteration": r["iteration"] + base["iteration"],
                 "env_steps": r["env_steps"] + base["env_steps"],
                 "wall_time": r["wall_time"] + base["wall_time"]} for r in rows]
    return out


def plot_curve(rows: list[dict], out: pathlib.Path, title: str) -> None:
    """2x2: episode return and vx_error (train, eval) against env steps and wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in rows if "train/episode_reward" in r]
    evals = [r for r in rows if "eval/episode_reward" in r]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex="col")
    panels = [("train/episode_reward", "eval/episode_reward", "episode return"),
              ("task/vx_error", "eval/task/vx_error", "vx error [m/s]")]
    for row, (train_key, eval_key, ylabel) in enumerate(panels):
        for col, (xkey, xlabel) in enumerate((("env_steps", "env steps"),
                                              ("wall_time", "wall time [min]"))):
            ax = axes[row, col]
            scale = 1 / 60 if xkey == "wall_time" else 1.0
            ax.plot([r[xkey] * scale for r in train if train_key in r],
                    [r[train_key] for r in train if train_key in r], label="train (stochastic)")
            ax.plot([r[xkey] * scale for r in evals], [r[eval_key] for r in evals], "o-",
                    ms=3, label="eval (deterministic)")
            for first, previous in zip(rows[1:], rows[:-1], strict=False):
                if first.get("stage", 0) != previous.get("stage", 0):  # a warm start
                    ax.axvline(previous[xkey] * scale, color="gray", ls="--", lw=1)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel(xlabel)
            if row == 0 and col == 0:
                ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def export(step_dir: pathlib.Path, out: pathlib.Path, quiet: bool = False) -> None:
    """A numpy bundle of one checkpoint step, with playground/export.py."""
    subprocess.run([sys.executable, str(common.REPO_ROOT / "playground" / "export.py"),
                    str(step_dir), "--out", str(out), "--force"], check=True,
                   stdout=subprocess.DEVNULL if quiet else None)


def ship(args) -> None:
    from playground import runs

    steps_dir, step = runs.find_step(args.run)
    chain = stages(steps_dir, step)
    run_dir, prov, cfg = chain[-1]["run_dir"], chain[-1]["provenance"], chain[-1]["config"]
    out = pathlib.Path(args.out)
    common.log(f"exporting {steps_dir / str(step)} -> {out}")
    export(steps_dir / str(step), out)
    shutil.copy(run_dir / "config.yaml", out / "config.yaml")
    shutil.copy(run_dir / "provenance.json", out / "provenance.json")
    rows = stage_rows(chain)
    with open(out / "metrics.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    plot_curve(rows, out / "learning_curve.png",
               f"humanoid_walk_cpu, seed {cfg['run']['seed']}, up to iteration {rows[-1]['iteration']}"
               + (f" ({len(chain)} stages)" if len(chain) > 1 else ""))
    last = rows[-1]
    evals = [r for r in rows if "eval/episode_reward" in r]
    ev = evals[-1] if evals else {}
    commands, reproduce, resumes = [], [], []
    for index, stage in enumerate(chain):
        command = " ".join([".venv/bin/python", *stage["provenance"]["command"]])
        label = "" if len(chain) == 1 else (
            f"stage {index + 1}: " if index == 0 else
            f"stage {index + 1} (a warm start from stage {index}'s iteration {chain[index - 1]['step']}): ")
        commands.append(f"{label}`{command}`")
        resumes += [f"{label}resumed at iteration {r['from_iteration']} with "
                    f"`{' '.join(r['command'])}` (git {r['git_commit'][:10]})"
                    for r in stage["provenance"].get("resumes", [])]
        # the LR schedule is constant, so a straight run told to stop here trains the same steps
        reproduce.append(f"`{command} --num-iterations {stage['step']}`"
                         if stage["config"]["ppo"]["lr_schedule"] == "constant" else f"`{command}`")
    stage_steps = "" if len(chain) == 1 else (
        f" (iterations of the last stage; {last['iteration']} over all stages)")
    dirty = (" (the shared working tree had uncommitted work of other tasks)"
             if prov.get("git_dirty") else "")
    recipe_commit = subprocess.run(
        ["git", "log", "-1", "--format=%h", "--", "configs/humanoid_walk_cpu.yaml"],
        cwd=common.REPO_ROOT, capture_output=True, text=True).stdout.strip() or "unknown"
    readme = f"""# humanoid_walk_cpu: the shipped CPU-trained humanoid policy

Trained on a shared 2-core CPU with `configs/humanoid_walk_cpu.yaml` (a copy is
`config.yaml` here), randomization, observation noise, action latency and pushes on.

| | |
|---|---|
| training command | {"; ".join(commands)} |
| seed | {cfg['run']['seed']} |
| resumes | {"; ".join(resumes) or "none"} |
| reproduce this step {"in one run" if len(chain) == 1 else "(one run per stage, in order)"} | {" then ".join(reproduce)} |
| checkpoint | iteration {step} of run `{run_dir.name}`{stage_steps}{args.why} |
| env steps | {last['env_steps']:,} |
| wall time | {last['wall_time'] / 60:.1f} min over all segments (compile included; the CPU was shared with other jobs) |
| code | git {prov['git_commit'][:10]}{dirty}; the recipe `configs/humanoid_walk_cpu.yaml` as trained is in commit {recipe_commit} |
| trainer eval at this step (32 episodes, sampled commands) | survival {ev.get('eval/survival_rate', float('nan')):.2f}, vx_error {ev.get('eval/task/vx_error', float('nan')):.3f} m/s, yaw_rate_error {ev.get('eval/task/yaw_rate_error', float('nan')):.3f} rad/s |

Files: `policy.npz` + `policy_spec.json` (+ `policy.onnx`): the exported bundle
(`playground/export.py`); `config.yaml`, `provenance.json`: how it was trained;
`metrics.jsonl`: the run's rows up to this step; `learning_curve.png`: return and
forward-speed error against env steps and wall time; `walk_frames.png`: six frames
0.12 s apart of `make demo`'s video (vx 0.3 m/s; `humanoid_walk_cpu.py strip`).

![walking](walk_frames.png)

Play it (prints per-episode lines and a JSON summary; `--video out.mp4` renders episode 0):

    .venv/bin/python playground/play.py humanoid_walk --agent trained \\
        --checkpoint policies/humanoid_walk_cpu --episodes 16 --command 0.3,0,0

Measured figures: `benchmarks/results/humanoid_walk_cpu.md`
(`.venv/bin/python benchmarks/humanoid_walk_cpu.py evaluate`).
"""
    (out / "README.md").write_text(readme)
    common.log(f"shipped iteration {step} ({last['env_steps']:,} env steps) to {out}")


def evaluate(args) -> None:
    from playground.cli.play import parse_args
    from playground.deploy.play import play

    rows = []
    jobs = [("trained", label, cmd) for label, cmd in COMMANDS]
    jobs += [("zero", "vx 0.3", "0.3,0,0"), ("random", "vx 0.3", "0.3,0,0")]
    for agent, label, cmd in jobs:
        argv = ["humanoid_walk", "--agent", agent, "--episodes", str(args.episodes),
                "--command", cmd, "--seed", str(args.seed)]
        argv += (["--checkpoint", str(args.policy)] if agent == "trained"
                 else ["--config", str(pathlib.Path(args.policy) / "config.yaml")])
        common.log(f"{agent} at {label}")
        summary = play(parse_args(argv), log=common.log)
        summary["label"] = label
        rows.append(summary)
        common.log(json.dumps({k: summary[k] for k in (
            "survival_rate", "vx_error", "vx_mean", "yaw_rate_error", "yaw_rate_mean",
            "mean_episode_length")}))
    prov = json.loads((pathlib.Path(args.policy) / "provenance.json").read_text())
    result = {"name": "humanoid_walk_cpu", "machine": common.machine_info(),
              "command": common.command_line("humanoid_walk_cpu.py"), "policy": str(args.policy),
              "episodes": args.episodes, "seed": args.seed, "training": prov, "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    result["markdown"] = to_markdown(result, pathlib.Path(args.policy))
    (RESULTS / "humanoid_walk_cpu.md").write_text(result["markdown"] + "\n")
    common.write_json(RESULTS / "humanoid_walk_cpu.json", result)
    print(result["markdown"])


def compare_arrays(ours: dict, shipped: dict) -> dict:
    """{name: max |difference|} of two bundles' arrays (0.0 = bit for bit; None = the
    shapes or names differ)."""
    import numpy as np

    out = {}
    for name in sorted(set(ours) | set(shipped)):
        a, b = ours.get(name), shipped.get(name)
        if a is None or b is None or np.shape(a) != np.shape(b):
            out[name] = None
        elif np.array_equal(a, b):
            out[name] = 0.0
        else:
            out[name] = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
    return out


def compare_metrics(ours: list[dict], shipped: list[dict]) -> dict:
    """Rows of the same iteration: how many match in every numeric metric both logged
    except the clock's (TIMING_KEYS), the first iteration (and keys) where they do not,
    and the metrics only one side logged (added to the code in between)."""
    by_iteration = {r["iteration"]: r for r in shipped}
    shared, equal, first, only = 0, 0, None, set()
    for row in ours:
        other = by_iteration.get(row["iteration"])
        if other is None:
            continue
        shared += 1
        only |= set(row) ^ set(other)
        keys = [k for k in row if k in other and k not in TIMING_KEYS
                and isinstance(row[k], int | float)]
        differ = [k for k in keys if other[k] != row[k]]
        if differ:
            first = first or {"iteration": row["iteration"], "keys": differ[:8]}
        else:
            equal += 1
    return {"shared_rows": shared, "equal_rows": equal, "first_difference": first,
            "logged_by_one_side": sorted(only)}


def _history(prov: dict) -> str:
    """How a run was trained, from its provenance: 'a run started at git X, resumed at
    iteration N (git Y)'."""
    parts = [f"a run started at git {prov['git_commit'][:10]}"]
    parts += [f"resumed at iteration {r['from_iteration']} (git {r['git_commit'][:10]})"
              for r in prov.get("resumes", [])]
    return ", ".join(parts)


def reproduce(args) -> None:
    import tempfile

    import numpy as np

    from playground import runs

    steps_dir, step = runs.find_step(args.run)
    run_dir = steps_dir.parent
    policy = pathlib.Path(args.policy)
    with tempfile.TemporaryDirectory() as tmp:
        common.log(f"exporting {steps_dir / str(step)}")
        export(steps_dir / str(step), pathlib.Path(tmp), quiet=True)
        with np.load(pathlib.Path(tmp) / "policy.npz") as a, np.load(policy / "policy.npz") as b:
            arrays = compare_arrays(dict(a), dict(b))
    ours = stage_rows(stages(steps_dir, step))
    shipped = read_rows(policy / "metrics.jsonl")
    metrics = compare_metrics(ours, shipped)
    prov = json.loads((run_dir / "provenance.json").read_text())
    shipped_prov = json.loads((policy / "provenance.json").read_text())
    at_step = ours[-1]
    shipped_last = shipped[-1]
    bitwise = all(v == 0.0 for v in arrays.values())
    result = {
        "name": "humanoid_walk_cpu_repro", "machine": common.machine_info(),
        "command": common.command_line("humanoid_walk_cpu.py"), "run": str(run_dir),
        "step": step, "training_command": " ".join([".venv/bin/python", *prov["command"]]),
        "training_git_commit": prov["git_commit"], "resumes": prov.get("resumes", []),
        "env_steps": at_step.get("env_steps"), "wall_time_s": at_step.get("wall_time"),
        "shipped_env_steps": shipped_last["env_steps"],
        "shipped_wall_time_s": shipped_last["wall_time"],
        "arrays_max_abs_difference": arrays, "bitwise_equal": bitwise, "metrics": metrics,
    }
    metrics_line = (f"{metrics['equal_rows']} of {metrics['shared_rows']} logged rows equal in "
                    "every metric both logged but the clock's (wall time, sps, eta)" + (
                        "" if not metrics["logged_by_one_side"] else
                        f"; logged by one side only: {', '.join(metrics['logged_by_one_side'])}") + (
                        "" if metrics["first_difference"] is None else
                        f"; first difference at iteration {metrics['first_difference']['iteration']}"
                        f" ({', '.join(metrics['first_difference']['keys'])})"))
    worst = max((v for v in arrays.values() if v is not None), default=None)
    result["markdown"] = "\n".join([
        "## Reproducing the shipped humanoid policy",
        "",
        f"Command: `{result['command']}`",
        "",
        common.machine_line(result["machine"]),
        "",
        f"A fresh run of `{result['training_command']}` (git {prov['git_commit'][:10]}, "
        f"{'resumed ' + str(len(result['resumes'])) + ' time(s)' if result['resumes'] else 'one process, never resumed'}) "
        f"against `{policy.relative_to(common.REPO_ROOT) if policy.is_absolute() else policy}` "
        f"(iteration {step} of {_history(shipped_prov)}):",
        "",
        f"- exported policy arrays: **{'bit for bit equal' if bitwise else 'not bit for bit'}**"
        + ("" if bitwise else f" (largest difference {worst})"),
        f"- learning curve: {metrics_line}",
        f"- env steps {result['env_steps']:,} (shipped {result['shipped_env_steps']:,}); wall "
        f"time {(result['wall_time_s'] or 0) / 60:.1f} min (shipped: "
        f"{result['shipped_wall_time_s'] / 60:.1f} min over {1 + len(shipped_prov.get('resumes', []))}"
        " segment(s)); wall times on this shared CPU depend on what else ran",
    ])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "humanoid_walk_cpu_repro.md").write_text(result["markdown"] + "\n")
    common.write_json(RESULTS / "humanoid_walk_cpu_repro.json", result)
    print(result["markdown"])


def _f(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def to_markdown(result: dict, policy: pathlib.Path) -> str:
    rows = result["rows"]
    table = common.markdown_table(
        ["agent", "command (vx, vy, yaw)", "survival", "mean length", "vx mean m/s",
         "vx_error m/s", "yaw mean rad/s", "yaw_rate_error rad/s", "foot_slip m/s",
         "action_rate", "return"],
        [[r["agent"], ", ".join(f"{c:g}" for c in r["command"]), _f(r["survival_rate"], 2),
          f"{r['mean_episode_length']:.0f}", _f(r["vx_mean"]), _f(r["vx_error"]),
          _f(r.get("yaw_rate_mean")), _f(r["yaw_rate_error"]), _f(r["foot_slip"]), _f(r["action_rate"], 2),
          f"{r['mean_return']:.0f}"] for r in rows])
    head = rows[0]
    met = (head["survival_rate"] >= GOAL["survival_rate"] and head["vx_error"] <= GOAL["vx_error"])
    readme = (policy / "README.md").read_text() if (policy / "README.md").is_file() else ""
    facts = [line for line in readme.splitlines() if line.startswith("| ") and "---" not in line
             and line.strip() != "| | |"]
    return "\n".join([
        "## The shipped CPU humanoid policy (`policies/humanoid_walk_cpu`)",
        "",
        f"Command: `{result['command']}` ({result['episodes']} episodes per row, 1000 control "
        "steps = 20 s each, randomization, noise, action latency and pushes on, the command "
        f"held fixed; seed {result['seed']}).",
        "",
        common.machine_line(result["machine"]),
        "",
        "Training:",
        "",
        "| | |",
        "|---|---|",
        *facts,
        "",
        table,
        "",
        f"Goal at vx = 0.3 m/s: survival >= {GOAL['survival_rate']} and vx_error <= "
        f"{GOAL['vx_error']} m/s: measured {head['survival_rate']:.2f} and "
        f"{head['vx_error']:.3f} m/s: **{'met' if met else 'not met'}**.",
        "vx_error is the per-step |commanded - actual| forward speed of the pelvis (heading "
        "frame), averaged over alive steps, so gait oscillation and the start from rest count; "
        "vx mean shows the average speed reached. yaw_rate_error likewise counts the yaw "
        "wobble of each step (the zero-yaw rows show its size); yaw mean is the average "
        "turning rate reached.",
        "",
        "![learning curve](../policies/humanoid_walk_cpu/learning_curve.png) "
        "![walking](../policies/humanoid_walk_cpu/walk_frames.png)",
    ])


def curve(args) -> None:
    rows = read_rows(pathlib.Path(args.metrics))
    plot_curve(rows, pathlib.Path(args.out), args.title)
    common.log(f"wrote {args.out}")


def strip(args) -> None:
    """A filmstrip PNG of `count` frames, `every` frames apart, from an mp4 (for READMEs)."""
    import imageio.v2 as imageio
    import numpy as np

    with imageio.get_reader(args.video) as reader:
        frames = [reader.get_data(args.start + i * args.every) for i in range(args.count)]
    row = np.concatenate([f[:, f.shape[1] // 6: -f.shape[1] // 6] for f in frames], axis=1)
    imageio.imwrite(args.out, row[::2, ::2] if args.half else row)
    common.log(f"wrote {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("ship")
    p.add_argument("--run", required=True, help="run dir, step dir, or 'latest'")
    p.add_argument("--out", default=str(POLICY_DIR))
    p.add_argument("--why", default="", help="how this step was chosen (README text)")
    p = sub.add_parser("evaluate")
    p.add_argument("--policy", default=str(POLICY_DIR))
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("curve")
    p.add_argument("--metrics", default=str(POLICY_DIR / "metrics.jsonl"))
    p.add_argument("--out", required=True)
    p.add_argument("--title", default="humanoid_walk_cpu (shipped policy)")
    p = sub.add_parser("strip")
    p.add_argument("--video", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--start", type=int, default=50, help="first frame")
    p.add_argument("--every", type=int, default=4, help="frames between shots")
    p.add_argument("--count", type=int, default=6)
    p.add_argument("--half", action="store_true", help="half resolution")
    p = sub.add_parser("reproduce")
    p.add_argument("--run", required=True, help="the re-run's step dir (or run dir: newest)")
    p.add_argument("--policy", default=str(POLICY_DIR))
    args = parser.parse_args()
    {"ship": ship, "evaluate": evaluate, "curve": curve, "strip": strip,
     "reproduce": reproduce}[args.what](args)


if __name__ == "__main__":
    main()
