"""Run the benchmarks one after the other and rewrite their sections of RESULTS.md.

Each benchmark runs as its own subprocess (its own JAX process and settings) with
`--json`; its section of `benchmarks/RESULTS.md` (between `<!-- BEGIN name -->` and
`<!-- END name -->`) is replaced with the measured tables, the exact command, the date,
the machine and the versions; the full result (every timing) is kept as
`benchmarks/results/<name>.json`. Sections of benchmarks not run are left as they are.

    .venv/bin/python benchmarks/run_all.py                       # all three, full sizes
    .venv/bin/python benchmarks/run_all.py --only throughput verify_time
    .venv/bin/python benchmarks/run_all.py --quick --results /tmp/RESULTS.md   # smoke sizes
    .venv/bin/python benchmarks/run_all.py --only vs_brax --args vs_brax="--parts learning"

Run nothing else heavy at the same time: every figure is a wall-clock measurement.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import shlex
import subprocess
import sys
import tempfile

import common

BENCHMARKS = {
    "throughput": ("throughput.py", "Trainer throughput vs raw env (humanoid)"),
    "vs_brax": ("vs_brax.py", "Ours vs brax ppo.train"),
    "verify_time": ("verify_time.py", "`train.py --verify` wall time and memory"),
    "serve_latency": ("serve_latency.py", "Robot side: policy latency and the ZMQ request path"),
    "memory_plan": ("memory_plan.py", "Device memory per env and the 2048-8192 env plan"),
    "checkpoint_cost": ("checkpoint_cost.py", "Checkpoint save time, size and steps/s cost"),
    "amp_throughput": ("amp_throughput.py", "Training throughput with AMP over without"),
}
#: Tiny sizes that exercise every code path in a few minutes (not measurements).
QUICK_ARGS = {
    "throughput": ["--num-envs", "8", "--iterations-per-chunk", "1", "--chunks", "1",
                   "--set", "network.policy_hidden=[16]", "--set", "network.value_hidden=[16]",
                   "--set", "ppo.unroll_length=4"],
    "vs_brax": ["--num-envs", "8", "--iterations", "6", "--progress-points", "3", "--reps", "1",
                "--set", "network.policy_hidden=[16]", "--set", "network.value_hidden=[16]",
                "--set", "ppo.unroll_length=4", "--learning-iterations", "6",
                "--learning-points", "3", "--seeds", "0",
                "--learning-set", "ppo.num_envs=16", "--learning-set", "env.episode_length=50"],
    "verify_time": ["--warm", "1"],
    "serve_latency": ["--calls", "2000", "--seconds", "2", "--echo-seconds", "1"],
    "memory_plan": ["--envs", "8", "16"],
    "checkpoint_cost": ["--chunks", "1"],
    "amp_throughput": ["--chunks", "1"],
}
HEADER = """# Benchmarks

Measured comparisons, written by `benchmarks/run_all.py` (each section by its own
benchmark; rerun one with `--only NAME`). Every figure is wall-clock on the machine
named in its section; ratios compare runs made side by side in one process.
"""


def replace_section(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    return text.rstrip() + "\n\n" + block + "\n"


def section(name: str, title: str, result: dict) -> str:
    return "\n".join([
        f"## {title}",
        "",
        f"Command: `{result['command']}`",
        "",
        common.machine_line(result["machine"]),
        "",
        result["markdown"],
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=list(BENCHMARKS),
                   help="benchmarks to run, in this order (default: all)")
    p.add_argument("--args", action="append", default=[], metavar='NAME="ARGS"',
                   help="extra arguments for one benchmark, e.g. throughput=\"--num-envs 128\"")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke sizes (checks the scripts; the figures mean nothing)")
    p.add_argument("--results", type=pathlib.Path,
                   default=common.REPO_ROOT / "benchmarks" / "RESULTS.md")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing: rewrite the sections from the kept JSON results")
    p.add_argument("--json-dir", type=pathlib.Path,
                   default=common.REPO_ROOT / "benchmarks" / "results",
                   help="where each benchmark's full JSON result is kept (default: %(default)s)")
    args = p.parse_args(argv)

    extra: dict[str, list[str]] = {name: [] for name in BENCHMARKS}
    for item in args.args:
        name, sep, value = item.partition("=")
        if not sep or name not in BENCHMARKS:
            p.error(f"--args expects NAME=ARGS with NAME in {sorted(BENCHMARKS)}, got {item!r}")
        extra[name] += shlex.split(value)

    if args.render_only:
        for name in args.only:
            path = args.json_dir / f"{name}.json"
            if not path.exists():
                common.log(f"run_all: no {path}; section kept")
                continue
            result = json.loads(path.read_text())
            result["markdown"] = importlib.import_module(name).to_markdown(result)
            text = args.results.read_text() if args.results.exists() else HEADER
            args.results.write_text(
                replace_section(text, name, section(name, BENCHMARKS[name][1], result)))
        return 0

    failed = []
    for name in args.only:
        script, title = BENCHMARKS[name]
        bench_args = (QUICK_ARGS[name] if args.quick else []) + extra[name]
        with tempfile.TemporaryDirectory(prefix=f"bench_{name}_") as tmp:
            out = pathlib.Path(tmp) / "result.json"
            cmd = [sys.executable, str(common.REPO_ROOT / "benchmarks" / script), *bench_args,
                   "--json", str(out)]
            common.log(f"run_all: {shlex.join(cmd)}")
            proc = subprocess.run(cmd, cwd=common.REPO_ROOT, stdout=subprocess.DEVNULL)
            if proc.returncode != 0 or not out.exists():
                common.log(f"run_all: {name} failed (exit {proc.returncode}); section kept")
                failed.append(name)
                continue
            result = json.loads(out.read_text())
        args.json_dir.mkdir(parents=True, exist_ok=True)
        (args.json_dir / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
        text = args.results.read_text() if args.results.exists() else HEADER
        args.results.write_text(replace_section(text, name, section(name, title, result)))
        common.log(f"run_all: {name} written to {args.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
