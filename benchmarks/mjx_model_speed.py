"""Raw physics throughput of an MJCF model: MJX (jit(vmap) + lax.scan) vs. plain MuJoCo C.

Measures only physics (no policy, no rewards, no resets): `num_envs` copies of the
model start from a keyframe (or qpos0) and are stepped with the keyframe ctrl plus
a small fixed per-env offset, `ctrl_dt / timestep` physics steps per env step.
Compile time is reported separately and excluded from the throughput.

`--emitters both` runs the measurement twice per round in fresh processes, XLA:CPU's
fusion emitters on (jax's default) and off (the product's default since
playground/xla_flags.py), for `--rounds` alternating rounds, and prints them side by
side: the figures behind that flag in benchmarks/RESULTS.md. `--xml chain:N` is a
generated chain of N hinged capsules (the kinematic depth the emitters blow up on).

    .venv/bin/python benchmarks/mjx_model_speed.py
    .venv/bin/python benchmarks/mjx_model_speed.py --xml path/to/model.xml --num-envs 1024
    .venv/bin/python benchmarks/mjx_model_speed.py --emitters both --num-envs 8 --env-steps 2 \
        --repeats 2 \
        --xml chain:3 chain:5 chain:7 playground/tasks/assets/wildrobot/wildrobot.xml \
        --json benchmarks/results/xla_fusion_emitters.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import common  # noqa: F401  (repository on sys.path, XLA logs quiet)
import jax
import jax.numpy as jp
import mujoco
import numpy as np
from mujoco import mjx

import playground  # noqa: F401  (sets XLA_FLAGS before jax's backend starts: playground/xla_flags.py)
from playground.xla_flags import FUSION_EMITTERS

_DEFAULT_XML = (
    pathlib.Path(__file__).resolve().parents[1]
    / "playground"
    / "tasks"
    / "assets"
    / "wildrobot"
    / "wildrobot.xml"
)


def chain_xml(depth: int) -> str:
    """`depth` capsules, each hinged to the last about alternating z and y axes."""
    body = "".join(
        f'<body pos="0 0 0.1"><joint axis="{"0 0 1" if i % 2 == 0 else "0 1 0"}"/>'
        f'<geom type="capsule" size="0.02" fromto="0 0 0 0 0 0.1" mass="1"/>'
        for i in range(depth))
    return f"<mujoco><worldbody>{body}{'</body>' * depth}</worldbody></mujoco>"


def load_model(spec: str) -> mujoco.MjModel:
    if spec.startswith("chain:"):
        return mujoco.MjModel.from_xml_string(chain_xml(int(spec.split(":", 1)[1])))
    return mujoco.MjModel.from_xml_path(spec)


def _initial_state(m: mujoco.MjModel, keyframe: str | None) -> mujoco.MjData:
    d = mujoco.MjData(m)
    if keyframe is not None and m.nkey > 0:
        key_id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_KEY, keyframe)
        mujoco.mj_resetDataKeyframe(m, d, max(key_id, 0))
    mujoco.mj_forward(m, d)
    return d


def bench_c(m: mujoco.MjModel, d0: mujoco.MjData, seconds: float) -> float:
    """Single-thread mj_step throughput (physics steps / s)."""
    d = mujoco.MjData(m)
    d.qpos[:], d.qvel[:], d.ctrl[:] = d0.qpos, d0.qvel, d0.ctrl
    for _ in range(200):  # warm-up
        mujoco.mj_step(m, d)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            mujoco.mj_step(m, d)
        n += 1000
    return n / (time.perf_counter() - t0)


def bench_mjx(
    m: mujoco.MjModel,
    d0: mujoco.MjData,
    num_envs: int,
    n_substeps: int,
    env_steps: int,
    repeats: int,
    seed: int,
) -> dict[str, float]:
    mx = mjx.put_model(m)
    dx0 = mjx.put_data(m, d0)

    rng = np.random.default_rng(seed)
    ctrl0 = np.asarray(d0.ctrl, dtype=np.float32)
    ctrl = ctrl0 + 0.05 * rng.standard_normal((num_envs, m.nu)).astype(np.float32)
    lo, hi = m.actuator_ctrlrange[:, 0], m.actuator_ctrlrange[:, 1]
    ctrl = np.where(m.actuator_ctrllimited[None, :] > 0, np.clip(ctrl, lo, hi), ctrl)
    ctrl = jp.asarray(ctrl)

    batch = jax.vmap(lambda c: dx0.replace(ctrl=c))(ctrl)

    def env_step(d, _):
        d = jax.lax.fori_loop(0, n_substeps, lambda _, dd: mjx.step(mx, dd), d)
        return d, None

    def rollout(d):
        d, _ = jax.lax.scan(jax.vmap(env_step), d, None, length=env_steps)
        return d

    rollout = jax.jit(rollout)

    t0 = time.perf_counter()
    compiled = rollout.lower(batch).compile()
    compile_s = time.perf_counter() - t0

    out = compiled(batch)  # first run (allocations), not timed
    jax.block_until_ready(out)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = compiled(batch)
        jax.block_until_ready(out)
        times.append(time.perf_counter() - t0)
    best = min(times)
    qpos = np.asarray(out.qpos)
    env_sps = num_envs * env_steps / best
    return {
        "compile_s": compile_s,
        "run_s": best,
        "env_steps_per_s": env_sps,
        "physics_steps_per_s": env_sps * n_substeps,
        "finite": bool(np.isfinite(qpos).all()),
        "mean_root_z": float(qpos[:, 2].mean()) if m.nq >= 3 else float("nan"),
        "ncon": int(getattr(dx0._impl, "ncon", -1)),
        "nefc": int(getattr(dx0._impl, "nefc", -1)),
    }


def measure(spec: str, args) -> dict:
    m = load_model(spec)
    d0 = _initial_state(m, args.keyframe)
    n_substeps = max(1, round(args.ctrl_dt / m.opt.timestep))
    r = bench_mjx(m, d0, args.num_envs, n_substeps, args.env_steps, args.repeats, args.seed)
    r.update(model=spec, nv=m.nv, nbody=m.nbody, n_substeps=n_substeps,
             c_physics_steps_per_s=bench_c(m, d0, args.c_seconds),
             xla_flags=os.environ.get("XLA_FLAGS", ""))
    return r


def emitters_table(rows: list[dict]) -> str:
    """Markdown: per model, each round's figure (rounds in order), the ratio of the means."""
    lines = ["| model | bodies | physics steps/s, emitters on | off | off / on | "
             "compile s, on | off | C MuJoCo, 1 thread |", "|---|---|---|---|---|---|---|---|"]
    for spec in dict.fromkeys(r["model"] for r in rows):
        on = [r for r in rows if r["model"] == spec and r["emitters"] == "true"]
        off = [r for r in rows if r["model"] == spec and r["emitters"] == "false"]

        def each(rs, key, fmt):
            return " / ".join(format(r[key], fmt) for r in rs)

        def mean(rs, key):
            return sum(r[key] for r in rs) / len(rs)

        lines.append(
            f"| {spec} | {on[0]['nbody'] - 1} | {each(on, 'physics_steps_per_s', ',.0f')} | "
            f"{each(off, 'physics_steps_per_s', ',.0f')} | "
            f"{mean(off, 'physics_steps_per_s') / mean(on, 'physics_steps_per_s'):.2f}x | "
            f"{each(on, 'compile_s', '.1f')} | {each(off, 'compile_s', '.1f')} | "
            f"{mean(off, 'c_physics_steps_per_s'):,.0f} |")
    return "\n".join(lines)


def side_by_side(args) -> list[dict]:
    """Every model in fresh processes, emitters on then off, `--rounds` times."""
    rows = []
    for rnd in range(args.rounds):
        for spec in args.xml:
            for emitters in ("true", "false"):
                env = dict(os.environ, XLA_FLAGS=f"--{FUSION_EMITTERS}={emitters}")
                cmd = [sys.executable, __file__, "--xml", spec, "--emitters", "current",
                       "--num-envs", str(args.num_envs), "--env-steps", str(args.env_steps),
                       "--repeats", str(args.repeats), "--c-seconds", str(args.c_seconds),
                       "--ctrl-dt", str(args.ctrl_dt), "--keyframe", args.keyframe,
                       "--json", "-"]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])[0]
                row.update(round=rnd, emitters=emitters)
                rows.append(row)
                print(f"round {rnd} {spec:>12} emitters={emitters:<5} "
                      f"compile {row['compile_s']:6.1f} s  "
                      f"{row['physics_steps_per_s']:>10,.0f} physics steps/s", flush=True)
    print("\n" + emitters_table(rows))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--xml", nargs="+", default=[str(_DEFAULT_XML)],
                   help="MJCF paths, or chain:N for a generated N-link chain")
    p.add_argument("--keyframe", default="home")
    p.add_argument("--num-envs", type=int, default=128)
    p.add_argument("--ctrl-dt", type=float, default=0.02)
    p.add_argument("--env-steps", type=int, default=50, help="env steps per timed rollout")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--c-seconds", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--emitters", choices=("current", "both"), default="current",
                   help="current: this process's XLA_FLAGS; both: on and off side by side")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds for --emitters both")
    p.add_argument("--json", help="write the rows here (- for stdout)")
    args = p.parse_args()

    if args.emitters == "both":
        rows = side_by_side(args)
    else:
        rows = []
        for spec in args.xml:
            r = measure(spec, args)
            rows.append(r)
            if args.json == "-":
                continue
            print(f"model: {spec} (nv={r['nv']}, nbody={r['nbody']}; {r['n_substeps']} physics "
                  f"steps per env step; jax {jax.__version__}, mujoco {mujoco.__version__}; "
                  f"XLA_FLAGS={r['xla_flags']!r})")
            print(f"  MJX {args.num_envs} envs: compile {r['compile_s']:.1f} s, "
                  f"{r['physics_steps_per_s']:,.0f} physics steps/s, "
                  f"{r['env_steps_per_s']:,.0f} env steps/s, finite={r['finite']}, "
                  f"ncon={r['ncon']} nefc={r['nefc']}")
            print(f"  C MuJoCo mj_step, 1 thread: {r['c_physics_steps_per_s']:,.0f} physics steps/s")
    if args.json == "-":
        print(json.dumps(rows))
    elif args.json:
        pathlib.Path(args.json).write_text(json.dumps(
            {"command": " ".join(sys.argv), "jax": jax.__version__, "mujoco": mujoco.__version__,
             "cpu": common.cpu_model(), "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
