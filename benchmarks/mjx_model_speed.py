"""Raw physics throughput of an MJCF model: MJX (jit(vmap) + lax.scan) vs. plain MuJoCo C.

Measures only physics (no policy, no rewards, no resets): `num_envs` copies of the
model start from a keyframe (or qpos0) and are stepped with the keyframe ctrl plus
a small fixed per-env offset, `ctrl_dt / timestep` physics steps per env step.
Compile time is reported separately and excluded from the throughput.

    .venv/bin/python benchmarks/mjx_model_speed.py
    .venv/bin/python benchmarks/mjx_model_speed.py --xml path/to/model.xml --num-envs 1024
"""

from __future__ import annotations

import argparse
import pathlib
import time

import jax
import jax.numpy as jp
import mujoco
import numpy as np
from mujoco import mjx

_DEFAULT_XML = (
    pathlib.Path(__file__).resolve().parents[1]
    / "playground"
    / "envs"
    / "assets"
    / "wildrobot"
    / "wildrobot.xml"
)


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


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--xml", type=pathlib.Path, default=_DEFAULT_XML)
    p.add_argument("--keyframe", default="home")
    p.add_argument("--num-envs", type=int, default=128)
    p.add_argument("--ctrl-dt", type=float, default=0.02)
    p.add_argument("--env-steps", type=int, default=50, help="env steps per timed rollout")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--c-seconds", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    m = mujoco.MjModel.from_xml_path(str(args.xml))
    d0 = _initial_state(m, args.keyframe)
    n_substeps = max(1, round(args.ctrl_dt / m.opt.timestep))

    print(f"model: {args.xml}")
    print(
        f"nq={m.nq} nv={m.nv} nu={m.nu} ngeom={m.ngeom} timestep={m.opt.timestep} "
        f"solver={mujoco.mjtSolver(m.opt.solver).name} iterations={m.opt.iterations} "
        f"ls_iterations={m.opt.ls_iterations} cone={mujoco.mjtCone(m.opt.cone).name}"
    )
    print(f"ctrl_dt={args.ctrl_dt} -> {n_substeps} physics steps per env step")
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, mujoco {mujoco.__version__}")

    c_sps = bench_c(m, d0, args.c_seconds)
    r = bench_mjx(m, d0, args.num_envs, n_substeps, args.env_steps, args.repeats, args.seed)

    print(f"\nMJX jit(vmap) + lax.scan, {args.num_envs} envs x {args.env_steps} env steps:")
    print(f"  compile            {r['compile_s']:.1f} s")
    print(f"  contacts / efc     ncon={r['ncon']} nefc={r['nefc']} (allocated per env)")
    print(f"  physics steps/s    {r['physics_steps_per_s']:,.0f}")
    print(f"  env steps/s        {r['env_steps_per_s']:,.0f}")
    print(f"  finite={r['finite']} mean root z after rollout={r['mean_root_z']:.4f}")
    print("\nMuJoCo C mj_step, 1 thread:")
    print(f"  physics steps/s    {c_sps:,.0f}")
    print(f"  env steps/s        {c_sps / n_substeps:,.0f}")


if __name__ == "__main__":
    main()
