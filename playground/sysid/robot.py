"""The robot a log is fitted on: its MJCF, actuated joints, groups, parameters.

No JAX here: the plain-MuJoCo replay (`replay_mujoco`, float64) draws the figures, makes
test logs with known parameters and checks a fit outside the simulator it was fitted in.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
from collections.abc import Mapping, Sequence

import mujoco
import numpy as np

#: The fitted parameters, in the order of `fitted.json` and of the search vector.
PARAMS = ("kp", "damping", "frictionloss", "armature")
#: Default search bounds as multiples of the model's value (frictionloss: see `reference`).
DEFAULT_BOUNDS = {"kp": (0.3, 3.0), "damping": (0.2, 5.0), "frictionloss": (0.0, 5.0),
                  "armature": (0.2, 5.0)}
#: Searched on a log scale (multiplicative); frictionloss is linear from zero.
LOG_SCALE = {"kp": True, "damping": True, "frictionloss": False, "armature": True}
#: A fitted frictionloss needs a non-zero model value at mjx.put_model (MJX builds friction
#: rows only for such dofs); a zero one starts at this, in N m (or N).
MIN_FRICTIONLOSS = 1e-4


class RobotError(ValueError):
    """A robot, joint selection or bound that cannot be fitted; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Robot:
    """A robot model: where it comes from and how its actuated joints are named and grouped."""

    name: str  # the task name or the MJCF path given
    xml_path: pathlib.Path
    sim_dt: float
    joint_names: tuple[str, ...]  # actuated joints, actuator order
    groups: dict[str, tuple[str, ...]]  # MJCF default class -> its actuated joints
    model_sha256: str


def load_robot(robot: str) -> Robot:
    """A registered task name (its `env.robot.xml` and `env.sim_dt`) or an MJCF path."""
    from playground.serve.spec import file_sha256

    path = pathlib.Path(robot).expanduser()
    if path.suffix == ".xml":
        if not path.is_file():
            raise RobotError(f"--robot {robot}: no such MJCF file")
        sim_dt = None
    else:
        from playground import config
        from playground.tasks.locomotion.env import resolve_path
        from playground.tasks.registry import TASKS

        if robot not in TASKS:
            raise RobotError(f"--robot {robot}: neither a task ({', '.join(sorted(TASKS))}) "
                             "nor an .xml file")
        cfg = config.resolve(None, [("env.task", robot)])
        if "robot" not in cfg.env:
            raise RobotError(f"--robot {robot}: the task has no robot model section (env.robot); "
                             "give its MJCF path")
        path, sim_dt = resolve_path(cfg.env.robot.xml), float(cfg.env.sim_dt)
    try:
        model = mujoco.MjModel.from_xml_path(str(path))
        spec = mujoco.MjSpec.from_file(str(path))
    except ValueError as e:
        raise RobotError(f"--robot {robot}: {str(e).splitlines()[0]}") from None
    joints, classes = [], {}
    for i in range(model.nu):
        if model.actuator_trntype[i] != mujoco.mjtTrn.mjTRN_JOINT:
            continue
        joint = model.joint(int(model.actuator_trnid[i, 0])).name
        if not is_position_actuator(model, i):
            continue
        joints.append(joint)
        classes.setdefault(spec.joint(joint).classname.name or "main", []).append(joint)
    if not joints:
        raise RobotError(f"--robot {robot}: no joint is driven by a position actuator (kp, kv "
                         "servo); the log's cmd are position targets")
    return Robot(name=robot, xml_path=path,
                 sim_dt=float(model.opt.timestep) if sim_dt is None else sim_dt,
                 joint_names=tuple(joints), groups={k: tuple(v) for k, v in classes.items()},
                 model_sha256=file_sha256(path))


def is_position_actuator(model: mujoco.MjModel, i: int) -> bool:
    """A servo: force = kp (ctrl - q) + bias; gainprm[0] = kp = -biasprm[1], affine bias."""
    return (model.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_FIXED
            and model.actuator_biastype[i] == mujoco.mjtBias.mjBIAS_AFFINE
            and model.actuator_gainprm[i, 0] > 0
            and np.isclose(model.actuator_biasprm[i, 1], -model.actuator_gainprm[i, 0]))


def build_model(robot: Robot, fixed_base: bool) -> tuple[mujoco.MjModel, np.ndarray]:
    """The MuJoCo model of the replay and its initial qpos (the first keyframe, else qpos0).

    `fixed_base`: the free joint is removed, so its body is welded where the model puts it,
    and contacts are off (a robot hanging on a stand touches nothing).
    """
    spec = mujoco.MjSpec.from_file(str(robot.xml_path))
    plain = mujoco.MjModel.from_xml_path(str(robot.xml_path))
    home = np.array(plain.key_qpos[0] if plain.nkey else plain.qpos0)
    if fixed_base:
        free = [j for j in spec.joints if j.type == mujoco.mjtJoint.mjJNT_FREE]
        if not free:
            raise RobotError(f"--fixed-base: {robot.xml_path.name} has no floating base")
        for joint in free:
            spec.delete(joint)
        for key in list(spec.keys):
            spec.delete(key)
        spec.option.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONTACT
    model = spec.compile()
    model.opt.timestep = robot.sim_dt
    qpos = np.array(model.qpos0)
    for j in range(model.njnt):  # the home pose, joint by joint (the free joint is gone)
        name = model.joint(j).name
        src = plain.joint(name)
        width = {0: 7, 1: 4}.get(int(model.jnt_type[j]), 1)
        qpos[model.jnt_qposadr[j]:model.jnt_qposadr[j] + width] = \
            home[src.qposadr[0]:src.qposadr[0] + width]
    return model, qpos


@dataclasses.dataclass(frozen=True)
class Layout:
    """Which joints are fitted, which parameters, and how the search vector maps onto them.

    The search runs in [0, 1]^D: entry d is unit `units[d // P]`'s parameter
    `params[d % P]`; a unit is one joint, or a group whose joints share the value.
    """

    joints: tuple[str, ...]  # fitted joints
    params: tuple[str, ...]
    units: tuple[str, ...]  # names of the search units (joints, or groups)
    unit_of_joint: np.ndarray  # [Jf] index into units
    nominal: np.ndarray  # [Jf, P] the model's values
    lower: np.ndarray  # [Jf, P] physical bounds
    upper: np.ndarray  # [Jf, P]

    @property
    def dim(self) -> int:
        return len(self.units) * len(self.params)

    def values(self, z: np.ndarray, xp=np) -> np.ndarray:
        """[..., D] points of the unit cube -> [..., Jf, P] physical values (np or jnp)."""
        z = xp.clip(z, 0.0, 1.0).reshape(z.shape[:-1] + (len(self.units), len(self.params)))
        z = z[..., self.unit_of_joint, :]
        log = np.array([LOG_SCALE[p] for p in self.params])
        lo, hi = self.lower, self.upper
        safe_lo, safe_hi = np.where(log, lo, 1.0), np.where(log, hi, 1.0)
        geometric = safe_lo * (safe_hi / safe_lo) ** z
        return xp.where(log, geometric, lo + (hi - lo) * z)

    def point(self, values: np.ndarray) -> np.ndarray:
        """[Jf, P] values (equal within a unit) -> [D] point of the unit cube."""
        log = np.array([LOG_SCALE[p] for p in self.params])
        lo, hi = self.lower, self.upper
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(log, np.log(np.where(log, values / lo, 1.0))
                         / np.log(np.where(log, hi / lo, 2.0)),
                         (values - lo) / np.where(hi > lo, hi - lo, 1.0))
        out = np.zeros((len(self.units), len(self.params)))
        for u in range(len(self.units)):  # a unit's value: the mean over its joints
            out[u] = z[self.unit_of_joint == u].mean(axis=0)
        return np.clip(out, 0.0, 1.0).reshape(-1)


def read_params(model: mujoco.MjModel, joints: Sequence[str]) -> np.ndarray:
    """[J, 4] the model's kp, damping, frictionloss, armature of `joints` (PARAMS order)."""
    rows = []
    for name in joints:
        j = model.joint(name)
        dof = int(j.dofadr[0])
        rows.append([float(model.actuator_gainprm[actuator_of(model, name), 0]),
                     float(model.dof_damping[dof]), float(model.dof_frictionloss[dof]),
                     float(model.dof_armature[dof])])
    return np.array(rows)


def actuator_of(model: mujoco.MjModel, joint: str) -> int:
    """The position actuator driving `joint`."""
    jid = model.joint(joint).id
    for i in range(model.nu):
        if (model.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT
                and model.actuator_trnid[i, 0] == jid and is_position_actuator(model, i)):
            return i
    raise RobotError(f"joint {joint!r} has no position actuator")


def write_params(model: mujoco.MjModel, joints: Sequence[str], values: np.ndarray,
                 params: Sequence[str] = PARAMS) -> None:
    """Set [J, len(params)] values into `model` (kp into gainprm[0] and -biasprm[1])."""
    for name, row in zip(joints, np.asarray(values, np.float64), strict=True):
        dof = int(model.joint(name).dofadr[0])
        for param, value in zip(params, row, strict=True):
            if param == "kp":
                i = actuator_of(model, name)
                model.actuator_gainprm[i, 0] = value
                model.actuator_biasprm[i, 1] = -value
            else:
                getattr(model, f"dof_{param}")[dof] = value


def make_layout(robot: Robot, model: mujoco.MjModel, joints: Sequence[str],
                params: Sequence[str], shared: bool,
                bounds: Mapping[str, tuple[float, float]]) -> Layout:
    """The search layout; `shared`: one value per group (MJCF default class) of joints."""
    units = sorted({group_of(robot, j) for j in joints}, key=list(robot.groups).index) \
        if shared else list(joints)
    unit_of = np.array([units.index(group_of(robot, j) if shared else j) for j in joints])
    columns = [PARAMS.index(p) for p in params]
    nominal = read_params(model, joints)[:, columns]
    lower, upper = np.zeros_like(nominal), np.zeros_like(nominal)
    for c, param in enumerate(params):
        lo, hi = bounds[param]
        if not (lo <= 1.0 <= hi) or (LOG_SCALE[param] and lo <= 0):
            raise RobotError(f"--bounds {param}={lo}:{hi}: must hold 1 (the model's value)"
                             + (" and be > 0" if LOG_SCALE[param] else ""))
        ref = nominal[:, c]
        if param == "frictionloss":  # from zero; a frictionless joint: 1 % of kp x 1 rad
            ref = np.where(ref > 0, ref, 0.01 * read_params(model, joints)[:, 0])
        lower[:, c], upper[:, c] = lo * ref, hi * ref
    return Layout(joints=tuple(joints), params=tuple(params), units=tuple(units),
                  unit_of_joint=unit_of, nominal=nominal, lower=lower, upper=upper)


def group_of(robot: Robot, joint: str) -> str:
    return next(g for g, members in robot.groups.items() if joint in members)


def select_joints(robot: Robot, spec: str | None, logged: Sequence[str]) -> tuple[str, ...]:
    """`--joints`: None (every logged actuated joint), 'all', a group name or joint names."""
    if spec is None or spec == "all":
        return tuple(j for j in robot.joint_names if j in logged)
    chosen: list[str] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        names = robot.groups.get(item, (item,))
        for name in names:
            if name not in robot.joint_names:
                raise RobotError(f"--joints {item}: not a position-actuated joint or group of "
                                 f"{robot.name} (groups: {', '.join(robot.groups)})")
            if name not in logged:
                raise RobotError(f"--joints {item}: joint {name!r} is not in the log")
            if name not in chosen:
                chosen.append(name)
    if not chosen:
        raise RobotError("--joints: no joint named")
    return tuple(chosen)


def replay_mujoco(model: mujoco.MjModel, qpos0: np.ndarray, joints: Sequence[str], cmd: np.ndarray,
                  n_substeps: int, qvel0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plain MuJoCo (float64): start at `qpos0` (joints at cmd's columns from the caller),
    hold cmd[t] for `n_substeps` physics steps per row; ([T, J] qpos, [T, J] qvel) with row
    0 the start. Actuators of joints not in `joints` hold their joint's start position."""
    data = mujoco.MjData(model)
    data.qpos[:] = qpos0
    qpos_idx = np.array([model.joint(n).qposadr[0] for n in joints])
    dof_idx = np.array([model.joint(n).dofadr[0] for n in joints])
    if qvel0 is not None:
        data.qvel[dof_idx] = qvel0
    data.ctrl[:] = hold_targets(model, qpos0)
    act = np.array([actuator_of(model, n) for n in joints])
    mujoco.mj_forward(model, data)
    q, v = [data.qpos[qpos_idx].copy()], [data.qvel[dof_idx].copy()]
    for row in cmd[:-1]:
        data.ctrl[act] = row
        for _ in range(n_substeps):
            mujoco.mj_step(model, data)
        q.append(data.qpos[qpos_idx].copy())
        v.append(data.qvel[dof_idx].copy())
    return np.array(q), np.array(v)


def hold_targets(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """[nu] ctrl that holds every joint-driven actuator at its joint's position in `qpos`."""
    ctrl = np.zeros(model.nu)
    for i in range(model.nu):
        if model.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT:
            ctrl[i] = qpos[model.jnt_qposadr[model.actuator_trnid[i, 0]]]
    return ctrl


def make_step_log(path, robot_name: str, joints: Sequence[str], rows: int, dt: float,
                  noise: float, seed: int, hold_s: float = 0.25, step_rad: float = 0.5,
                  frictionloss: float = 0.02) -> np.ndarray:
    """A log with known parameters, made in plain MuJoCo on a fixed base: each of `joints`
    gets kp x U(0.7, 1.4), damping and armature x U(0.5, 2) and `frictionloss` added (drawn
    once from `seed`), and is driven by random target steps of up to `step_rad` from home
    every `hold_s` (the first hold at rest); measured positions carry N(0, noise) rad.
    Writes `path` (serve.recorder.write_log) and returns the true [J, 4] PARAMS. Tests and
    benchmarks fit it to see what a fit recovers, and a user can check with it which joints
    an excitation makes identifiable before logging the robot."""
    from playground.serve.recorder import write_log

    robot = load_robot(robot_name)
    model, qpos0 = build_model(robot, fixed_base=True)
    rng = np.random.default_rng(seed)
    n = len(joints)
    true = read_params(model, joints)
    true[:, 0] *= rng.uniform(0.7, 1.4, n)
    true[:, 1] *= rng.uniform(0.5, 2.0, n)
    true[:, 3] *= rng.uniform(0.5, 2.0, n)
    true[:, 2] += frictionloss
    truth = copy.deepcopy(model)
    write_params(truth, joints, true)
    home = np.array([qpos0[model.joint(j).qposadr[0]] for j in joints])
    hold = int(round(hold_s / dt))
    steps = home + rng.uniform(-step_rad, step_rad, (rows // hold + 1, n))
    cmd = np.repeat(steps, hold, axis=0)[:rows]
    cmd[:hold] = home  # rest first: row 0 is a still robot
    q, _ = replay_mujoco(truth, qpos0, joints, cmd, int(round(dt / robot.sim_dt)))
    write_log(path, cmd=cmd, state=q + rng.normal(0.0, noise, q.shape), joint_names=joints,
              dt=dt, model_sha256=robot.model_sha256, fixed_base=True)
    return true
