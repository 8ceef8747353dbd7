"""`train.py --compare ppo,a2c,sac`: several algorithms on one task at one env-step budget.

    <checkpoint_dir>/compare-<task>-<stamp>/
        compare.json              the plan: algorithms, seeds, the shared train arguments
        <algorithm>-seed<k>/      one ordinary run directory per (algorithm, seed)
        compare.md  compare.png   written when every run has finished

Runs go one after the other; each checkpoints like any run. A killed comparison goes on
with `train.py --resume <compare dir>`: finished runs are kept, an interrupted one resumes
from its newest checkpoint, the rest start. The summary reads only the runs' metrics.jsonl.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import statistics
from typing import Any

PLAN_FILE = "compare.json"
RETURN = "eval/episode_reward"
SUCCESS = "eval/success_rate"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one comparison trains: every algorithm with every seed, the same arguments."""

    algorithms: tuple[str, ...]
    seeds: tuple[int, ...]
    #: the train.py arguments every run shares (config, --set, --steps, ...)
    argv: tuple[str, ...]

    def members(self) -> list[tuple[str, int]]:
        return [(a, s) for a in self.algorithms for s in self.seeds]

    def to_json(self) -> str:
        return json.dumps({"algorithms": list(self.algorithms), "seeds": list(self.seeds),
                           "argv": list(self.argv)}, indent=2)

    @classmethod
    def read(cls, compare_dir: pathlib.Path) -> Plan:
        data = json.loads((pathlib.Path(compare_dir) / PLAN_FILE).read_text())
        return cls(tuple(data["algorithms"]), tuple(int(s) for s in data["seeds"]), tuple(data["argv"]))


def is_compare_dir(path: str | pathlib.Path) -> bool:
    return (pathlib.Path(path).expanduser() / PLAN_FILE).is_file()


def member_name(algorithm: str, seed: int) -> str:
    return f"{algorithm}-seed{seed}"


def member_argv(plan: Plan, algorithm: str, seed: int, compare_dir: pathlib.Path) -> list[str]:
    """train.py arguments of one run of the comparison (later --set wins)."""
    return [*plan.argv, "--set", f"algorithm.name={algorithm}", "--set", f"run.seed={seed}",
            "--set", f"run.name={member_name(algorithm, seed)}",
            "--set", f"run.checkpoint_dir={compare_dir}"]


def parse_list(text: str, what: str) -> list[str]:
    """'a,b , c' -> ['a', 'b', 'c']; ValueError (one line) when empty or repeated."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"--{what}: give a comma-separated list, e.g. --{what} "
                         + ("ppo,sac" if what == "compare" else "0,1,2"))
    if len(set(items)) != len(items):
        raise ValueError(f"--{what} {text}: an entry appears twice")
    return items


def parse_seeds(text: str) -> list[int]:
    seeds = parse_list(text, "seeds")
    bad = [s for s in seeds if not s.lstrip("-").isdigit()]
    if bad:
        raise ValueError(f"--seeds {text}: {bad[0]!r} is not an integer")
    return [int(s) for s in seeds]


# --- the summary ---------------------------------------------------------------------

def read_evals(run_dir: pathlib.Path) -> list[dict[str, Any]]:
    """The rows of a run's metrics.jsonl that hold an evaluation, in order."""
    path = pathlib.Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if isinstance(r.get(RETURN), (int, float))]


def first_reaching(evals: list[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    """The first eval row whose return is at least `threshold` (None: never)."""
    return next((r for r in evals if r[RETURN] >= threshold), None)


def default_threshold(curves: dict[str, list[list[dict[str, Any]]]]) -> float:
    """90% of the way from the lowest first evaluation to the best algorithm's mean final
    return: a level the best algorithm reaches, so the others' time to it is comparable."""
    firsts = [evals[0][RETURN] for runs in curves.values() for evals in runs if evals]
    finals = [statistics.fmean(e[-1][RETURN] for e in runs if e)
              for runs in curves.values() if any(runs)]
    if not firsts or not finals:
        return math.nan
    low, high = min(firsts), max(finals)
    return low + 0.9 * (high - low)


def _mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {std:.1f}"


def _rate(values: list[float]) -> str:
    return "n/a" if not values else f"{statistics.fmean(values):.2f} ± " \
        f"{(statistics.pstdev(values) if len(values) > 1 else 0.0):.2f}"


def _median_reached(values: list[float | None], fmt: str) -> str:
    reached = [v for v in values if v is not None]
    if not reached:
        return f"not reached (0/{len(values)})"
    text = fmt.format(statistics.median(reached))
    return text if len(reached) == len(values) else f"{text} ({len(reached)}/{len(values)} seeds)"


def summarize(plan: Plan, compare_dir: pathlib.Path, threshold: float | None = None) -> dict[str, Any]:
    """Per algorithm: final and best eval return and success rate over seeds, env steps
    and wall-clock to `threshold` (default: `default_threshold`)."""
    curves = {a: [read_evals(compare_dir / member_name(a, s)) for s in plan.seeds]
              for a in plan.algorithms}
    if threshold is None:
        threshold = default_threshold(curves)
    table = {}
    for algorithm, runs in curves.items():
        done = [e for e in runs if e]
        hits = [first_reaching(e, threshold) for e in done]
        table[algorithm] = {
            "seeds": len(done),
            "env_steps": max((e[-1]["env_steps"] for e in done), default=0),
            "final_return": [e[-1][RETURN] for e in done],
            "best_return": [max(r[RETURN] for r in e) for e in done],
            "final_success": [e[-1][SUCCESS] for e in done if SUCCESS in e[-1]],
            "best_success": [max(r[SUCCESS] for r in e) for e in done if SUCCESS in e[-1]],
            "steps_to_threshold": [h["env_steps"] if h else None for h in hits],
            "wall_to_threshold": [h["wall_time"] if h else None for h in hits],
            "wall_total": [e[-1]["wall_time"] for e in done],
        }
    return {"threshold": threshold, "table": table, "curves": curves}


def markdown(plan: Plan, summary: dict[str, Any], title: str) -> str:
    """compare.md: one row per algorithm, spreads over seeds (mean ± population std)."""
    has_success = any(row["final_success"] for row in summary["table"].values())
    head = ["algorithm", "seeds", "env steps", "final return", "best return"]
    if has_success:
        head += ["final success", "best success"]
    head += [f"env steps to {summary['threshold']:.1f}", f"wall-clock to {summary['threshold']:.1f}",
             "wall-clock total"]
    lines = [f"# {title}", "",
             f"Algorithms {', '.join(plan.algorithms)}; seeds {', '.join(map(str, plan.seeds))}; "
             f"train arguments `{' '.join(plan.argv) or '(defaults)'}`.",
             "Return and success rate are the deterministic policy's evaluation "
             "(mean ± std over seeds); the time to the threshold is the median over the seeds that "
             "reached it; wall-clock counts from the run's start, compiling included. Threshold: 90% of the way from the lowest first evaluation to the best "
             "mean final return, unless given.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for algorithm, row in summary["table"].items():
        cells = [algorithm, str(row["seeds"]), f"{row['env_steps']:,}",
                 _mean_std(row["final_return"]), _mean_std(row["best_return"])]
        if has_success:
            cells += [_rate(row["final_success"]), _rate(row["best_success"])]
        cells += [_median_reached(row["steps_to_threshold"], "{:,.0f}"),
                  _median_reached(row["wall_to_threshold"], "{:.0f} s"),
                  _mean_std(row["wall_total"]) + " s" if row["wall_total"] else "n/a"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], png_path: pathlib.Path, title: str) -> None:
    """compare.png: return (and success rate where the task has one) against env steps
    and against wall-clock; the line is the mean over seeds, the band their min..max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = summary["curves"]
    metrics = [(RETURN, "eval return")]
    if any(SUCCESS in e[-1] for runs in curves.values() for e in runs if e):
        metrics.append((SUCCESS, "eval success rate"))
    fig, axes = plt.subplots(len(metrics), 2, figsize=(11, 3.8 * len(metrics)), squeeze=False)
    for algorithm, runs in curves.items():
        runs = [e for e in runs if e]
        if not runs:
            continue
        n = min(len(e) for e in runs)  # seeds of one algorithm evaluate at the same steps
        for row, (key, label) in enumerate(metrics):
            if not all(key in e[0] for e in runs):
                continue
            ys = [[e[i][key] for e in runs] for i in range(n)]
            mean = [statistics.fmean(y) for y in ys]
            for col, xkey, xlabel in ((0, "env_steps", "env steps"), (1, "wall_time", "wall-clock [s]")):
                x = [statistics.fmean(e[i][xkey] for e in runs) for i in range(n)]
                ax = axes[row][col]
                (line,) = ax.plot(x, mean, "o-", ms=3, label=f"{algorithm} ({len(runs)} seeds)")
                ax.fill_between(x, [min(y) for y in ys], [max(y) for y in ys],
                                color=line.get_color(), alpha=0.2)
                ax.set_xlabel(xlabel)
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
    for ax in axes.flat:
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def write_report(plan: Plan, compare_dir: pathlib.Path, title: str,
                 threshold: float | None = None) -> tuple[pathlib.Path, pathlib.Path]:
    """compare.md and compare.png in `compare_dir`; returns their paths."""
    summary = summarize(plan, compare_dir, threshold)
    md, png = compare_dir / "compare.md", compare_dir / "compare.png"
    md.write_text(markdown(plan, summary, title))
    plot(summary, png, title)
    return md, png


# --- running it ----------------------------------------------------------------------

def member_state(run_dir: pathlib.Path, total_iterations: int) -> str:
    """'done' (its final step is saved), 'partial' (a step to resume from), 'empty' (the
    directory holds no step: killed before the first checkpoint) or 'new'."""
    from playground import runs

    if not run_dir.exists():
        return "new"
    steps_dir = run_dir / runs.STEPS_DIRNAME
    step = runs.newest_restorable_step(steps_dir) if steps_dir.is_dir() else None
    if step is None:
        return "empty"
    return "done" if step >= total_iterations else "partial"


def set_aside(run_dir: pathlib.Path) -> pathlib.Path:
    """Rename a run directory that holds no checkpoint (kept, not deleted)."""
    k = 1
    while run_dir.with_name(f"{run_dir.name}.unfinished-{k}").exists():
        k += 1
    target = run_dir.with_name(f"{run_dir.name}.unfinished-{k}")
    run_dir.rename(target)
    return target


def run_members(plan: Plan, compare_dir: pathlib.Path, configs: dict, resolve,
                log=print) -> None:
    """Train every (algorithm, seed) of `plan` in turn. `configs[algorithm, seed]` is each
    run's resolved config; `resolve(argv) -> cfg` resolves the arguments of a resumed one.
    Finished runs are kept, interrupted ones resumed."""
    from playground import config, runner

    members = plan.members()
    for i, (algorithm, seed) in enumerate(members, 1):
        name = member_name(algorithm, seed)
        argv = member_argv(plan, algorithm, seed, compare_dir)
        cfg = configs[algorithm, seed]
        total = config.derive(cfg).total_iterations
        run_dir = compare_dir / name
        state = member_state(run_dir, total)
        if state == "done":
            log(f"compare [{i}/{len(members)}] {name}: finished earlier, kept")
            continue
        if state == "empty":
            log(f"compare [{i}/{len(members)}] {name}: no checkpoint; set aside as "
                f"{set_aside(run_dir).name}, starting again")
        if state == "partial":
            argv = [*argv, "--set", f"run.resume={run_dir}"]
            cfg = resolve(argv)
            log(f"compare [{i}/{len(members)}] {name}: resuming {run_dir}")
        else:
            log(f"compare [{i}/{len(members)}] {name}: training")
        runner.Run(cfg, ["train.py", *argv]).train()
