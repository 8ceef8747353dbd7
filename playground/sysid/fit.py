"""The fit: a checked problem (robot, log, layout) -> a search per generation -> fitted.json.

    problem = prepare(FitOptions(robot="humanoid_walk", log="log.npz", out="fitted.json"))
    result = run_fit(problem)        # writes fitted.json and a PNG per joint group

Every check runs in `prepare`, before anything compiles; its errors are one line.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pathlib
import threading
import time
from collections.abc import Callable

import numpy as np

from playground.sysid import robot as robot_lib
from playground.sysid.log import JointLog, LogError, load_log
from playground.sysid.robot import PARAMS, Layout, Robot, RobotError

#: Huber width of the loss, rad: about three times the encoder noise of a hobby servo.
DEFAULT_DELTA = 0.02
RESULT_FORMAT = "playground-sysid/1"


class FitError(ValueError):
    """Options that do not fit together; the message is one line."""


@dataclasses.dataclass(frozen=True)
class FitOptions:
    robot: str
    log: str | pathlib.Path
    out: str | pathlib.Path
    optimizer: str = "cem"
    generations: int = 12
    population: int = 256
    parallel_envs: int | None = None  # simulated at once (default: the whole population)
    joints: str | None = None
    params: tuple[str, ...] = ("kp", "damping", "frictionloss", "armature")
    shared: bool = False
    fixed_base: bool = False
    bounds: dict = dataclasses.field(default_factory=dict)  # param -> (lo, hi) x model value
    elite_fraction: float = 0.2
    smoothing: float = 0.7
    delta: float = DEFAULT_DELTA
    seed: int = 0
    plots: bool = True


@dataclasses.dataclass(frozen=True)
class Problem:
    options: FitOptions
    robot: Robot
    model: object  # mujoco.MjModel of the replay
    qpos0: np.ndarray
    log: JointLog
    layout: Layout
    n_substeps: int
    fixed_base: bool


def prepare(options: FitOptions) -> Problem:
    """Check everything and build the problem (no JAX compile). LogError, RobotError or
    FitError (one line) on bad input."""
    o = options
    if o.optimizer not in ("cem", "random"):
        raise FitError(f"--optimizer {o.optimizer}: cem or random")
    if o.generations < 1 or o.population < 2:
        raise FitError("--generations must be >= 1 and --population >= 2")
    parallel = o.parallel_envs or o.population
    if parallel < 1 or o.population % parallel:
        raise FitError(f"--population {o.population} must be a multiple of --parallel-envs "
                       f"{parallel}")
    if not 0 < o.elite_fraction < 1 or not 0 < o.smoothing <= 1:
        raise FitError("--elite-fraction must be in (0, 1) and --smoothing in (0, 1]")
    if o.delta <= 0:
        raise FitError("--huber-delta must be > 0")
    unknown = [p for p in o.params if p not in PARAMS]
    if unknown or not o.params or len(set(o.params)) != len(o.params):
        raise FitError(f"--params {','.join(o.params)}: a subset of {','.join(PARAMS)}")
    unknown = [p for p in o.bounds if p not in PARAMS]
    if unknown:
        raise FitError(f"--bounds {unknown[0]}: not one of {','.join(PARAMS)}")
    try:
        from playground.paths import OutputError, check_output

        check_output(o.out, "--out")
    except OutputError as e:
        raise FitError(str(e)) from None
    robot = robot_lib.load_robot(o.robot)
    log = load_log(o.log, robot.joint_names)
    if log.model_sha256 is not None and log.model_sha256 != robot.model_sha256:
        raise LogError(f"{o.log}: recorded on another model (model_sha256 {log.model_sha256[:12]}"
                       f"..., {robot.xml_path.name} is {robot.model_sha256[:12]}...)")
    fixed_base = bool(o.fixed_base or log.fixed_base)
    n_substeps = int(round(log.dt / robot.sim_dt))
    if n_substeps < 1 or abs(n_substeps * robot.sim_dt - log.dt) > 0.01 * log.dt:
        raise LogError(f"{o.log}: period {log.dt * 1e3:.4g} ms is not a whole number of the "
                       f"model's {robot.sim_dt * 1e3:.4g} ms physics steps")
    joints = robot_lib.select_joints(robot, o.joints, log.joint_names)
    model, qpos0 = robot_lib.build_model(robot, fixed_base)
    bounds = {**robot_lib.DEFAULT_BOUNDS, **{k: tuple(v) for k, v in o.bounds.items()}}
    layout = robot_lib.make_layout(robot, model, joints, o.params, o.shared, bounds)
    return Problem(options=o, robot=robot, model=model, qpos0=qpos0, log=log, layout=layout,
                   n_substeps=n_substeps, fixed_base=fixed_base)


def make_evaluate(problem: Problem, parallel_envs: int, mesh):
    """(evaluate, data): evaluate([N, D] points, data) -> [N] losses, the replays split in
    batches of `parallel_envs`, each batch sharded over the mesh's devices (axis "envs"),
    batches one after another (lax.map). `data` (the log's arrays) is an argument, not a
    constant, so one compiled program serves every log of the same shape."""
    import jax
    import jax.numpy as jnp

    from playground.sysid.replay import compute_replay_loss, make_replay

    log, layout = problem.log, problem.layout
    replay = make_replay(problem.model, problem.qpos0, log.joint_names, layout,
                         problem.n_substeps)
    cols = np.array([log.joint_names.index(j) for j in layout.joints])
    data = {
        "cmd": jnp.asarray(log.cmd, jnp.float32),  # [T, J]
        "q0": jnp.asarray(log.state[0], jnp.float32),  # [J]
        "v0": jnp.asarray(np.zeros(len(log.joint_names)) if log.qvel is None else log.qvel[0],
                          jnp.float32),  # [J]
        "target": jnp.asarray(log.state[1:, cols], jnp.float32),  # [T - 1, Jf]
    }
    delta = float(problem.options.delta)
    spread = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, "envs"))

    def evaluate(population, data):
        def loss_of(z):
            q = replay(layout.values(z, jnp), data["cmd"], data["q0"], data["v0"])
            return compute_replay_loss(q[:, cols], data["target"], delta)

        n, dim = population.shape
        batches = population.reshape(n // parallel_envs, parallel_envs, dim)
        batches = jax.lax.with_sharding_constraint(batches, spread)
        return jax.lax.map(jax.vmap(loss_of), batches).reshape(n)

    return evaluate, data


def make_mesh(parallel_envs: int):
    """Every local device on one axis ("envs"), as the trainer splits its envs."""
    import jax

    devices = jax.local_devices()
    if parallel_envs % len(devices):
        raise FitError(f"--parallel-envs {parallel_envs} is not divisible by the "
                       f"{len(devices)} {devices[0].platform} devices")
    return jax.sharding.Mesh(np.array(devices), ("envs",))


def run_fit(problem: Problem, log: Callable[[str], None] = print,
            stop: threading.Event | None = None,
            on_generation: Callable[[int, dict, np.ndarray], None] | None = None) -> dict:
    """Run the search, write the result (also when `stop` is set midway: the best so far).

    `stop`: checked after every generation (the CLI sets it on Ctrl-C).
    `on_generation(g, row, best)`: after generation g, its progress row and the best
    candidate so far as parameter values [fitted joints, params] (layout.values).
    """
    import jax

    from playground.sysid.search import SearchConfig, init_state, make_generation

    o, layout = problem.options, problem.layout
    parallel = o.parallel_envs or o.population
    mesh = make_mesh(parallel)
    cfg = SearchConfig(optimizer=o.optimizer, population=o.population,
                       elite_fraction=o.elite_fraction, smoothing=o.smoothing)
    evaluate, data = make_evaluate(problem, parallel, mesh)
    # state, key and log replicated on every device, the population split inside: fixed
    # shardings in and out, so generation 2 runs the program generation 1 compiled
    whole = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    generation = jax.jit(make_generation(evaluate, cfg, layout.dim), in_shardings=whole,
                         out_shardings=whole)
    state = jax.device_put(init_state(layout.point(layout.nominal), cfg), whole)
    data = jax.device_put(data, whole)
    # host arrays: placed by in_shardings, whatever the device count
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(o.seed), o.generations))
    log(f"sysid: {len(layout.joints)} joints x {','.join(layout.params)} "
        f"({layout.dim} dims, {'per group' if o.shared else 'per joint'}) of {problem.robot.name}"
        f"{' on a fixed base' if problem.fixed_base else ''}; {problem.log.num_rows} rows at "
        f"{problem.log.dt * 1e3:g} ms; {o.optimizer}, {o.generations} generations x "
        f"{o.population} candidates ({parallel} at once on {mesh.devices.size} device(s))")
    t0 = time.monotonic()
    history, loss_before = [], None
    for g in range(o.generations):
        t = time.monotonic()
        state, metrics = generation(state, keys[g], data)
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if g == 0:
            loss_before = metrics["start_loss"]
        row = {"generation": g + 1, **metrics, "seconds": round(time.monotonic() - t, 3)}
        history.append(row)
        log(progress_line(g + 1, o.generations, row, loss_before))
        if on_generation is not None:
            on_generation(g + 1, row, layout.values(np.asarray(jax.device_get(state.best),
                                                             np.float64)))
        if stop is not None and stop.is_set():
            log(f"sysid: stopped after generation {g + 1}; writing the best so far")
            break
    best = np.asarray(jax.device_get(state.best), np.float64)
    result = make_result(problem, best, loss_before, history, time.monotonic() - t0,
                         interrupted=len(history) < o.generations)
    write_result(problem, result, log)
    return result


def progress_line(g: int, total: int, row: dict, loss_before: float) -> str:
    width = 20
    done = int(round(width * g / total))
    return (f"[{'#' * done}{'.' * (width - done)}] generation {g}/{total}  best loss "
            f"{row['best_loss']:.4g} (start {loss_before:.4g})  median {row['median_loss']:.4g}  "
            f"std {row['std_mean']:.3f}  {row['seconds']:.1f}s")


def replay_errors(problem: Problem, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain-MuJoCo replay with the fitted joints at `values` [Jf, P]: ([T, J] positions of
    the log's joints, [J] RMS error against the log, rad)."""
    model = copy.deepcopy(problem.model)
    robot_lib.write_params(model, problem.layout.joints, values, problem.layout.params)
    log = problem.log
    qpos0 = problem.qpos0.copy()
    for name, q in zip(log.joint_names, log.state[0], strict=True):
        qpos0[model.joint(name).qposadr[0]] = q
    q, _ = robot_lib.replay_mujoco(model, qpos0, log.joint_names, log.cmd, problem.n_substeps,
                                   None if log.qvel is None else log.qvel[0])
    rms = np.sqrt(np.mean((q[1:] - log.state[1:]) ** 2, axis=0))
    return q, rms


def make_result(problem: Problem, best: np.ndarray, loss_before: float, history: list[dict],
                wall_time: float, interrupted: bool) -> dict:
    """The fitted.json content (see docs/sysid.md)."""
    o, layout, log = problem.options, problem.layout, problem.log
    fitted = layout.values(best)
    _, rms_before = replay_errors(problem, layout.nominal)
    _, rms_after = replay_errors(problem, fitted)
    cols = [log.joint_names.index(j) for j in layout.joints]

    def table(values):
        return {j: {p: float(v) for p, v in zip(layout.params, row, strict=True)}
                for j, row in zip(layout.joints, values, strict=True)}

    return {
        "format": RESULT_FORMAT,
        "robot": problem.robot.name,
        "model_xml": str(problem.robot.xml_path),
        "model_sha256": problem.robot.model_sha256,
        "log": str(o.log),
        "log_sha256": log.sha256,
        "fixed_base": problem.fixed_base,
        "joints": table(fitted),
        "nominal": table(layout.nominal),
        "groups": {j: robot_lib.group_of(problem.robot, j) for j in layout.joints},
        "shared_per_group": o.shared,
        "bounds": {p: [float(layout.lower[:, c].min()), float(layout.upper[:, c].max())]
                   for c, p in enumerate(layout.params)},
        "loss": {
            "definition": f"mean Huber (delta {o.delta} rad) of simulated - logged joint "
                          "positions over the rows and fitted joints (MJX replay)",
            "before": loss_before,
            "after": history[-1]["best_loss"] if history else loss_before,
        },
        "replay_rms_rad": {  # plain MuJoCo (float64) replays of the log
            "before": float(np.sqrt(np.mean(rms_before[cols] ** 2))),
            "after": float(np.sqrt(np.mean(rms_after[cols] ** 2))),
            "per_joint_before": {j: float(rms_before[c]) for j, c in zip(layout.joints, cols, strict=True)},
            "per_joint_after": {j: float(rms_after[c]) for j, c in zip(layout.joints, cols, strict=True)},
        },
        "optimizer": o.optimizer,
        "generations": len(history),
        "generations_requested": o.generations,
        "population": o.population,
        "parallel_envs": o.parallel_envs or o.population,
        "elite_fraction": o.elite_fraction,
        "smoothing": o.smoothing,
        "seed": o.seed,
        "history": history,
        "wall_time_s": round(wall_time, 2),
        "interrupted": interrupted,
    }


def write_result(problem: Problem, result: dict, log: Callable[[str], None]) -> None:
    """fitted.json (atomically) and, unless disabled, a PNG per joint group beside it."""
    out = pathlib.Path(problem.options.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    rms = result["replay_rms_rad"]
    log(f"sysid: wrote {out} (loss {result['loss']['before']:.4g} -> "
        f"{result['loss']['after']:.4g}; replay RMS {rms['before']:.4g} -> {rms['after']:.4g} "
        f"rad; {result['wall_time_s']:.1f}s)")
    if problem.options.plots:
        from playground.sysid.plots import write_plots

        for path in write_plots(problem, result, out):
            log(f"sysid: wrote {path}")


__all__ = ["FitError", "FitOptions", "LogError", "Problem", "RobotError", "prepare", "run_fit"]
