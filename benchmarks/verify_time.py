"""Wall time and peak memory of `playground/train.py --verify`, run as a user runs it.

Each run is a fresh subprocess:

    .venv/bin/python playground/train.py --verify \
        --set run.compilation_cache=<DIR> --checkpoint-dir <TMP>

cold: DIR is a new, empty directory (nothing compiled yet on this machine);
warm: the same DIR again, `--warm` times, best of them. The checkpoint directory is a
temporary one so the benchmark writes nothing into the repository. Wall time is
measured around the whole process (interpreter start, imports, compile, train,
checkpoint, restore, eval); peak RSS is the process's own `ru_maxrss` from `wait4`.
Goals: cold <= 45 s, warm <= 15 s, peak RSS <= 2 GB.

    .venv/bin/python benchmarks/verify_time.py
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

import common

GOALS = {"cold_s": 45.0, "warm_s": 15.0, "rss_gb": 2.0}


def run_verify(repo: pathlib.Path, cache_dir: str, checkpoint_dir: str,
               extra: list[str]) -> dict[str, Any]:
    """One `--verify` subprocess: wall seconds, peak RSS, exit code, its VERIFY line."""
    cmd = [sys.executable, str(repo / "playground" / "train.py"), "--verify",
           "--set", f"run.compilation_cache={cache_dir}", "--checkpoint-dir", checkpoint_dir,
           *extra]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = next((x for x in output.splitlines() if x.startswith("VERIFY ")), "")
    match = re.search(r"compile ([\d.]+)s", line)
    return {
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024.0,  # Linux reports KiB
        "exit_code": proc.returncode,
        "verify_line": line,
        "reported_compile_s": float(match.group(1)) if match else None,
        "output_tail": output[-2000:] if proc.returncode else "",
    }


def to_markdown(result: dict[str, Any]) -> str:
    rows = []
    for r in result["runs"]:
        rows.append([
            r["kind"], f"{r['wall_s']:.1f}",
            f"{r['reported_compile_s']:.1f}" if r["reported_compile_s"] is not None else "-",
            f"{r['peak_rss_mb']:,.0f}", r["exit_code"], f"`{r['verify_line'][:60]}`",
        ])
    s = result["summary"]

    def verdict(value, goal, unit):
        return f"{value:.1f} {unit} (goal <= {goal:g} {unit}: {'met' if value <= goal else 'NOT met'})"

    return "\n".join([
        f"`{result['verify_command']}` in a fresh subprocess per run; cold = empty "
        "compilation cache directory, warm = the same directory again (best of "
        f"{result['warm_runs']}). Checkpoints go to a temporary directory. Code: "
        f"{'this repository' if result['repo'] == str(common.REPO_ROOT) else result['repo']}.",
        "",
        common.markdown_table(
            ["run", "wall s", "compile s (its own report)", "peak RSS MB", "exit", "verify line"],
            rows),
        "",
        f"- cold: {verdict(s['cold_s'], GOALS['cold_s'], 's')}",
        f"- warm: {verdict(s['warm_s'], GOALS['warm_s'], 's')}",
        f"- peak RSS: {verdict(s['peak_rss_gb'], GOALS['rss_gb'], 'GB')}",
    ])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warm", type=int, default=2, help="warm runs (best is reported)")
    p.add_argument("--no-cold", action="store_true",
                   help="skip the cold run (warm runs then reuse --cache-dir)")
    p.add_argument("--cache-dir", help="cache dir for --no-cold (default: the trainer's)")
    p.add_argument("--repo", type=pathlib.Path, default=common.REPO_ROOT,
                   help="checkout whose playground/train.py runs, with this interpreter "
                        "(default: this repository)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="more train.py arguments (everything after --extra)")
    p.add_argument("--json", help="write the result (and its markdown) here")
    args = p.parse_args(argv)

    runs = []
    with tempfile.TemporaryDirectory(prefix="verify_time_") as tmp:
        cache = (args.cache_dir or common.DEFAULT_CACHE) if args.no_cold else os.path.join(tmp, "cache")
        ckpt = os.path.join(tmp, "checkpoints")
        kinds = ([] if args.no_cold else ["cold"]) + [f"warm {i + 1}" for i in range(args.warm)]
        for kind in kinds:
            common.log(f"verify: {kind}")
            r = run_verify(args.repo.resolve(), cache, ckpt, args.extra)
            r["kind"] = kind
            common.log(f"  {r['wall_s']:.1f} s, {r['peak_rss_mb']:,.0f} MB, exit {r['exit_code']}: "
                       f"{r['verify_line']}")
            runs.append(r)
    cold = [r["wall_s"] for r in runs if r["kind"] == "cold"]
    warm = [r["wall_s"] for r in runs if r["kind"].startswith("warm")]
    result: dict[str, Any] = {
        "benchmark": "verify_time",
        "command": common.command_line("verify_time.py"),
        "verify_command": ".venv/bin/python playground/train.py --verify "
                          "--set run.compilation_cache=DIR --checkpoint-dir TMP "
                          + " ".join(args.extra),
        "machine": common.machine_info(),
        "warm_runs": args.warm,
        "repo": str(args.repo.resolve()),
        "runs": runs,
        "summary": {
            "cold_s": cold[0] if cold else float("nan"),
            "warm_s": min(warm) if warm else float("nan"),
            "peak_rss_gb": max(r["peak_rss_mb"] for r in runs) / 1024.0,
            "all_passed": all(r["exit_code"] == 0 for r in runs),
        },
    }
    return common.publish(result, to_markdown, args.json)


if __name__ == "__main__":
    main()
