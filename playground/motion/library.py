"""Clips mapped onto one robot at the control rate, stacked so JAX samples (s, s') pairs.

    clips = load_motion_files(cfg.amp.motion_files, default_dir=default_motion_dir(xml))
    library = build_motion_library(clips, robot_from_env(env), ctrl_dt=env.ctrl_dt)
    frames, next_frames = sample_transitions(library, key, batch)   # inside jit

A library frame is what the env's mjx Data holds: full `qpos` [nq] (MuJoCo order,
free-joint quaternion w, x, y, z), `qvel` [nv] (free joint: linear velocity in the
world frame, angular velocity in the body frame), and `foot_pos` [nf, 3] (world
positions of the foot bodies from forward kinematics of that qpos).
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings
from collections.abc import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import yaml

from playground import quaternion
from playground.motion.clip import MotionClip, MotionError, load_npz
from playground.motion.formats import load_legged_gym_json, load_qpos_csv


class ModelHashWarning(UserWarning):
    """A clip was made for a different robot MJCF than the one being trained."""


# --------------------------------------------------------------------------- robot


@dataclasses.dataclass(frozen=True, eq=False)
class RobotKinematics:
    """What a clip needs from the robot: qpos/qvel layout, joint names, feet, home pose."""

    mj_model: mujoco.MjModel
    root_body: int
    root_qpos: int
    root_dof: int
    joint_names: tuple[str, ...]  # actuated joints, actuator order
    qpos_idx: np.ndarray  # [n] qpos address of each joint
    qvel_idx: np.ndarray  # [n] dof address of each joint
    foot_names: tuple[str, ...]
    foot_ids: np.ndarray  # [nf] body ids
    default_qpos: np.ndarray  # [nq] fills joints a clip does not drive
    xml_sha256: str | None = None


def make_robot(mj_model: mujoco.MjModel, *, root_body: str, feet: Sequence[str],
               keyframe: str | None = None, xml_sha256: str | None = None) -> RobotKinematics:
    """Describe `mj_model` (actuated hinge/slide joints, one free-joint root body)."""
    root = mj_model.body(root_body).id
    jnt = mj_model.body_jntadr[root]
    if jnt < 0 or mj_model.jnt_type[jnt] != mujoco.mjtJoint.mjJNT_FREE:
        raise MotionError(f"root body {root_body!r} has no free joint")
    act_joints = mj_model.actuator_trnid[:, 0]
    default = (np.array(mj_model.keyframe(keyframe).qpos) if keyframe
               else np.array(mj_model.qpos0))
    return RobotKinematics(
        mj_model=mj_model, root_body=root, root_qpos=int(mj_model.jnt_qposadr[jnt]),
        root_dof=int(mj_model.jnt_dofadr[jnt]),
        joint_names=tuple(mj_model.joint(j).name for j in act_joints),
        qpos_idx=np.array([mj_model.jnt_qposadr[j] for j in act_joints]),
        qvel_idx=np.array([mj_model.jnt_dofadr[j] for j in act_joints]),
        foot_names=tuple(feet), foot_ids=np.array([mj_model.body(f).id for f in feet], int),
        default_qpos=default, xml_sha256=xml_sha256,
    )


def robot_from_env(env) -> RobotKinematics:
    """The robot of a `LocomotionEnv`: its model, root, actuated joints, feet, home pose
    and MJCF hash, exactly as the env indexes them."""
    from playground.serve.spec import file_sha256

    m = env.mj_model
    return RobotKinematics(
        mj_model=m, root_body=int(env.root_body), root_qpos=int(env.root_qpos),
        root_dof=int(env.root_dof), joint_names=tuple(env.joint_names),
        qpos_idx=np.asarray(env.qpos_idx), qvel_idx=np.asarray(env.qvel_idx),
        foot_names=tuple(m.body(int(b)).name for b in env.feet),
        foot_ids=np.asarray(env.feet, int),
        default_qpos=np.asarray(env.home_qpos, np.float64), xml_sha256=file_sha256(env.xml_path),
    )


# --------------------------------------------------------------------------- qpos math


def _rotate_z(vec: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * vec[0] - s * vec[1], s * vec[0] + c * vec[1], vec[2]])


def clip_qpos(clip: MotionClip, robot: RobotKinematics) -> np.ndarray:
    """[T, nq] robot qpos of every clip frame; joints the robot lacks or the clip lacks
    are errors (a layout's joint_map / fixed_joints fixes foreign names)."""
    names = robot.joint_names
    missing = [j for j in names if j not in clip.joint_names]
    extra = [j for j in clip.joint_names if j not in names]
    if missing or extra:
        detail = []
        if missing:
            detail.append(f"lacks robot joint(s) {missing}")
        if extra:
            detail.append(f"has joint(s) {extra} the robot does not")
        raise MotionError(
            f"motion clip {clip.name!r}: {len(clip.joint_names)} joints vs the robot's "
            f"{len(names)}: it {' and '.join(detail)} (a layout's joint_map renames them)"
        )
    cols = [clip.joint_names.index(j) for j in names]
    qpos = np.tile(robot.default_qpos, (clip.num_frames, 1))
    r = robot.root_qpos
    qpos[:, r : r + 3] = clip.root_pos
    qpos[:, r + 3 : r + 7] = clip.root_quat
    qpos[:, robot.qpos_idx] = clip.joint_pos[:, cols]
    return qpos


def clip_qvel(clip: MotionClip, robot: RobotKinematics) -> np.ndarray | None:
    """[T, nv] robot qvel from the clip's own velocities, or None when it has none."""
    if not clip.has_velocities():
        return None
    cols = [clip.joint_names.index(j) for j in robot.joint_names]
    qvel = np.zeros((clip.num_frames, robot.mj_model.nv))
    d = robot.root_dof
    qvel[:, d : d + 3] = clip.root_linvel
    qvel[:, d + 3 : d + 6] = clip.root_angvel
    qvel[:, robot.qvel_idx] = clip.joint_vel[:, cols]
    return qvel


def _planar(qpos: np.ndarray, robot: RobotKinematics) -> np.ndarray:
    """3x3 homogeneous transform of a frame's planar root pose (x, y, yaw)."""
    r = robot.root_qpos
    yaw = float(quaternion.to_yaw(qpos[r + 3 : r + 7]))
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, qpos[r]], [s, c, qpos[r + 1]], [0.0, 0.0, 1.0]])


def carry_frame(qpos: np.ndarray, transform: np.ndarray, robot: RobotKinematics) -> np.ndarray:
    """A frame moved by a planar transform (3x3 homogeneous; z, tilt and joints kept)."""
    r = robot.root_qpos
    out = qpos.copy()
    out[r : r + 2] = transform[:2, :2] @ qpos[r : r + 2] + transform[:2, 2]
    turn = np.arctan2(transform[1, 0], transform[0, 0])
    quat = np.empty(4)
    mujoco.mju_mulQuat(quat, quaternion.from_yaw(turn), qpos[r + 3 : r + 7])
    out[r + 3 : r + 7] = quat
    return out


def cycle_transform(qpos: np.ndarray, robot: RobotKinematics) -> np.ndarray:
    """Planar transform of one cycle of a looping clip: frame 0 -> frame T-1.

    A looping clip's last frame is its first pose one cycle later (the legged_gym
    convention: T frames span one period of T-1 intervals); the root may have moved
    and turned by a whole cycle's worth in between.
    """
    return _planar(qpos[-1], robot) @ np.linalg.inv(_planar(qpos[0], robot))


def derive_qvel(qpos: np.ndarray, dt: float, robot: RobotKinematics, loop: bool) -> np.ndarray:
    """[T, nv] velocities of a [T, nq] trajectory sampled every `dt` s.

    The mean of the backward and forward differences, each from `mj_differentiatePos`,
    so MuJoCo's conventions hold: a free joint's linear velocity in the world frame,
    its angular velocity in the body frame (the rotation vector between two frames is
    the same in either frame). A looping clip's ends take their outer neighbour from
    the next/previous cycle; other clips use one-sided differences there.
    """
    m = robot.mj_model
    frames = len(qpos)
    forward = np.zeros((frames - 1, m.nv))
    for t in range(frames - 1):
        mujoco.mj_differentiatePos(m, forward[t], dt, qpos[t], qpos[t + 1])
    qvel = np.empty((frames, m.nv))
    qvel[1:-1] = 0.5 * (forward[:-1] + forward[1:])
    if loop and frames > 2:
        cycle = cycle_transform(qpos, robot)
        before, after = np.empty(m.nv), np.empty(m.nv)
        mujoco.mj_differentiatePos(m, before, dt, carry_frame(qpos[-2], np.linalg.inv(cycle), robot),
                                   qpos[0])
        mujoco.mj_differentiatePos(m, after, dt, qpos[-1], carry_frame(qpos[1], cycle, robot))
        qvel[0] = 0.5 * (before + forward[0])
        qvel[-1] = 0.5 * (forward[-1] + after)
    else:
        qvel[0], qvel[-1] = forward[0], forward[-1]
    return qvel


def _slerp(q0: np.ndarray, q1: np.ndarray, frac: float) -> np.ndarray:
    if np.dot(q0, q1) < 0:
        q1 = -q1
    dot = np.clip(np.dot(q0, q1), -1.0, 1.0)
    angle = np.arccos(dot)
    if angle < 1e-9:
        return q0
    out = (np.sin((1 - frac) * angle) * q0 + np.sin(frac * angle) * q1) / np.sin(angle)
    return out / np.linalg.norm(out)


def resample(qpos: np.ndarray, qvel: np.ndarray | None, fps: float, dt: float,
             robot: RobotKinematics, loop: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Trajectory at `fps` -> trajectory every `dt` s (root quaternion by slerp, the rest
    linearly). A looping clip keeps its period as a whole number of steps (time scaled
    by under half a step) and still ends on the first pose one cycle later; a
    non-looping one ends at its last whole step."""
    frames = len(qpos)
    if abs(fps * dt - 1.0) < 1e-9:
        return qpos, qvel
    span = (frames - 1) / fps
    if loop:
        intervals = max(1, int(round(span / dt)))
        times = np.arange(intervals + 1) * (span / intervals)
    else:
        intervals = int(np.floor(span / dt + 1e-9))
        times = np.arange(intervals + 1) * dt
    if len(times) < 2:
        raise MotionError(f"clip of {span:.3f} s is shorter than one control step of {dt} s")
    r = robot.root_qpos
    out = np.empty((len(times), qpos.shape[1]))
    out_vel = None if qvel is None else np.empty((len(times), qvel.shape[1]))
    for k, t in enumerate(times):
        pos = t * fps
        i = min(int(np.floor(pos + 1e-9)), frames - 2)
        frac = pos - i
        out[k] = (1 - frac) * qpos[i] + frac * qpos[i + 1]
        out[k, r + 3 : r + 7] = _slerp(qpos[i, r + 3 : r + 7], qpos[i + 1, r + 3 : r + 7], frac)
        if out_vel is not None:
            out_vel[k] = (1 - frac) * qvel[i] + frac * qvel[i + 1]
    return out, out_vel


def foot_positions(qpos: np.ndarray, robot: RobotKinematics) -> np.ndarray:
    """[T, nf, 3] world positions of the foot bodies (mujoco forward kinematics)."""
    data = mujoco.MjData(robot.mj_model)
    out = np.empty((len(qpos), len(robot.foot_ids), 3))
    for t, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(robot.mj_model, data)
        out[t] = data.xpos[robot.foot_ids]
    return out


# --------------------------------------------------------------------------- checks

#: m: a foot collision sphere this close to the floor counts as touching it
CONTACT_TOL = 1e-3


def kinematic_checks(clip: MotionClip, robot: RobotKinematics) -> dict[str, float]:
    """Kinematic checks of a clip on `robot`, from its own frames:

    limit_margin   min over frames and joints of the distance to the joint range, rad
                   (negative = outside)
    min_foot_height  min over frames of (foot contact sphere centre z - radius), m
                   (negative = through the floor)
    max_slide      max horizontal move in one frame of a contact sphere that touches the
                   floor in both frames, m
    max_slide_speed  the same divided by the frame time, m/s
    The foot checks use the colliding spheres of the foot bodies (NaN when there are none).
    """
    m = robot.mj_model
    qpos = clip_qpos(clip, robot)
    act_joints = m.actuator_trnid[:, 0]
    joint_range = np.array(m.jnt_range[act_joints])
    joints = qpos[:, robot.qpos_idx]
    margin = float(np.min(np.minimum(joints - joint_range[:, 0], joint_range[:, 1] - joints)))
    spheres = [g for g in range(m.ngeom)
               if m.geom_bodyid[g] in robot.foot_ids and m.geom_contype[g]
               and m.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE]
    if not spheres:  # feet made of other shapes: only the joint limits are checked
        return {"limit_margin": margin, "min_foot_height": float("nan"),
                "max_slide": float("nan"), "max_slide_speed": float("nan")}
    radius = np.array([m.geom_size[g][0] for g in spheres])
    data = mujoco.MjData(m)
    centres = np.empty((len(qpos), len(spheres), 3))
    for t, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(m, data)
        centres[t] = data.geom_xpos[spheres]
    height = centres[..., 2] - radius  # [T, S]
    touching = height < CONTACT_TOL
    both = touching[1:] & touching[:-1]
    moved = np.linalg.norm(centres[1:, :, :2] - centres[:-1, :, :2], axis=-1)
    slide = float(np.max(np.where(both, moved, 0.0))) if both.any() else 0.0
    return {"limit_margin": margin, "min_foot_height": float(height.min()),
            "max_slide": slide, "max_slide_speed": slide * clip.fps}


# --------------------------------------------------------------------------- loading


def load_clip(path: str | pathlib.Path, layout: str | pathlib.Path | dict | None = None) -> MotionClip:
    """Any supported clip by extension: .npz, .json (legged_gym) or .csv (qpos rows).

    JSON and CSV need a layout: `layout`, else `<stem>.layout.yaml`, else `layout.yaml`
    in the clip's directory.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix not in (".json", ".csv"):
        raise MotionError(f"{path}: unknown motion format {suffix!r} (use .npz, .json or .csv)")
    if layout is None:
        for candidate in (path.with_name(f"{path.stem}.layout.yaml"), path.with_name("layout.yaml")):
            if candidate.is_file():
                layout = candidate
                break
        else:
            if not path.is_file():
                raise FileNotFoundError(f"motion file not found: {path}")
            raise MotionError(f"{path}: a {suffix} clip needs a column layout YAML "
                              f"({path.stem}.layout.yaml or layout.yaml beside it)")
    return load_legged_gym_json(path, layout) if suffix == ".json" else load_qpos_csv(path, layout)


def parse_motion_entry(entry: str) -> tuple[str, float | None]:
    """`PATH` or `PATH@WEIGHT` -> (path, weight or None)."""
    path, sep, weight = str(entry).rpartition("@")
    if not sep:
        return str(entry), None
    try:
        value = float(weight)
    except ValueError:
        raise MotionError(f"amp.motion_files entry {entry!r}: weight after '@' must be a number") from None
    if not np.isfinite(value) or value <= 0:
        raise MotionError(f"amp.motion_files entry {entry!r}: weight must be positive")
    return path, value


def _resolve(path: str, base: pathlib.Path | None) -> pathlib.Path:
    p = pathlib.Path(path).expanduser()
    if p.is_absolute():
        return p
    if base is not None:
        return base / p
    from playground.tasks.locomotion.env import resolve_path

    return resolve_path(path)


def _load_manifest(path: pathlib.Path) -> list[MotionClip]:
    """A YAML list of clips: `clips: [{path, weight, layout}, ...]`, paths relative to it."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise MotionError(f"{path}: unreadable YAML ({str(exc).splitlines()[0]})") from None
    items = doc.get("clips") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise MotionError(f"{path}: a motion manifest needs a non-empty 'clips' list")
    clips = []
    for item in items:
        item = {"path": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or "path" not in item or set(item) - {"path", "weight", "layout"}:
            raise MotionError(f"{path}: each clip is a path or {{path, weight, layout}}, got {item!r}")
        layout = item.get("layout")
        clip = load_clip(_resolve(item["path"], path.parent),
                         None if layout is None else _resolve(layout, path.parent))
        if "weight" in item:
            clip.weight = float(item["weight"])
        clips.append(clip.validate())
    return clips


def default_motion_dir(robot_xml: str | pathlib.Path) -> pathlib.Path:
    """Where a robot's shipped clips live: `motions/` beside its MJCF."""
    return pathlib.Path(robot_xml).parent / "motions"


def load_motion_files(entries: Sequence[str], default_dir: str | pathlib.Path | None = None,
                      layout: str | pathlib.Path | None = None) -> list[MotionClip]:
    """Clips named by `amp.motion_files` (empty: every .npz in `default_dir`).

    An entry is `PATH` or `PATH@WEIGHT`; PATH is a clip (.npz/.json/.csv), a directory
    (its .npz clips) or a manifest .yaml. `layout` reads .json/.csv entries that have no
    layout of their own beside them. Raises MotionError / FileNotFoundError.
    """
    if not entries:
        folder = pathlib.Path(default_dir) if default_dir is not None else None
        if folder is None or not folder.is_dir() or not any(folder.glob("*.npz")):
            raise MotionError(
                "AMP needs reference motions: set amp.motion_files (no shipped clips in "
                f"{folder})" if folder else "AMP needs reference motions: set amp.motion_files"
            )
        return [load_npz(p) for p in sorted(folder.glob("*.npz"))]
    clips = []
    for entry in entries:
        raw, weight = parse_motion_entry(entry)
        path = _resolve(raw, None)
        if path.is_dir():
            found = sorted(path.glob("*.npz"))
            if not found:
                raise MotionError(f"motion directory {path} holds no .npz clips")
            loaded = [load_npz(p) for p in found]
        elif path.suffix.lower() in (".yaml", ".yml"):
            if not path.is_file():
                raise FileNotFoundError(f"motion manifest not found: {path}")
            loaded = _load_manifest(path)
        else:
            own = [path.with_name(f"{path.stem}.layout.yaml"), path.with_name("layout.yaml")]
            use = None if any(p.is_file() for p in own) else layout
            loaded = [load_clip(path, None if use is None else _resolve(str(use), None))]
        for clip in loaded:
            if weight is not None:
                clip.weight = weight
        clips += loaded
    return clips


# --------------------------------------------------------------------------- library


@flax.struct.dataclass
class MotionLibrary:
    """Every clip at the control rate, padded to the longest ([C] clips, [L] frames)."""

    qpos: jax.Array  # [C, L, nq]
    qvel: jax.Array  # [C, L, nv]
    foot_pos: jax.Array  # [C, L, nf, 3]
    num_frames: jax.Array  # [C] int32, frames of each clip (the rest is padding)
    loop: jax.Array  # [C] bool, the clip's last frame is its first pose one cycle later
    weights: jax.Array  # [C] float32, sampling probability of each clip (sums to 1)
    names: tuple[str, ...] = flax.struct.field(pytree_node=False, default=())
    dt: float = flax.struct.field(pytree_node=False, default=0.02)

    @property
    def num_pairs(self) -> jax.Array:
        """[C] (s, s') pairs per clip: T - 1 (a looping clip's last frame already is the
        start of the next cycle, so no pair needs to cross the wrap)."""
        return self.num_frames - 1


def prepare_clip(clip: MotionClip, robot: RobotKinematics, ctrl_dt: float
                 ) -> dict[str, np.ndarray]:
    """One clip on `robot` every `ctrl_dt` s: {"qpos" [T, nq], "qvel" [T, nv], "foot_pos"}."""
    clip.validate()
    if clip.model_sha256 and robot.xml_sha256 and clip.model_sha256 != robot.xml_sha256:
        warnings.warn(
            f"motion clip {clip.name!r} was made for another robot model (sha256 "
            f"{clip.model_sha256[:12]} vs {robot.xml_sha256[:12]}); regenerate it if the "
            "robot changed", ModelHashWarning, stacklevel=2,
        )
    qpos = clip_qpos(clip, robot)
    qpos, qvel = resample(qpos, clip_qvel(clip, robot), clip.fps, ctrl_dt, robot, clip.loop)
    if qvel is None:
        qvel = derive_qvel(qpos, ctrl_dt, robot, clip.loop)
    return {"qpos": qpos, "qvel": qvel, "foot_pos": foot_positions(qpos, robot)}


def build_motion_library(clips: Sequence[MotionClip], robot: RobotKinematics, ctrl_dt: float
                         ) -> MotionLibrary:
    """Map, resample, differentiate and stack `clips` (weights from each clip)."""
    if not clips:
        raise MotionError("no motion clips to build a library from")
    prepared = [prepare_clip(c, robot, ctrl_dt) for c in clips]
    longest = max(len(p["qpos"]) for p in prepared)

    def stack(key):
        # pad with the last frame: never sampled, but keeps every gather finite
        return np.stack([
            np.concatenate([p[key], np.repeat(p[key][-1:], longest - len(p[key]), axis=0)])
            for p in prepared
        ]).astype(np.float32)

    weights = np.array([c.weight for c in clips], np.float64)
    return MotionLibrary(
        qpos=jnp.asarray(stack("qpos")), qvel=jnp.asarray(stack("qvel")),
        foot_pos=jnp.asarray(stack("foot_pos")),
        num_frames=jnp.asarray([len(p["qpos"]) for p in prepared], jnp.int32),
        loop=jnp.asarray([c.loop for c in clips]),
        weights=jnp.asarray(weights / weights.sum(), jnp.float32),
        names=tuple(c.name for c in clips), dt=float(ctrl_dt),
    )


def sample_pair_indices(library: MotionLibrary, key: jax.Array, batch: int
                        ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """[B] clip, frame t and frame t + 1: the clip drawn by weight, then t uniformly
    among that clip's T - 1 pairs."""
    key_clip, key_frame = jax.random.split(key)
    clip = jax.random.choice(key_clip, library.weights.shape[0], (batch,), p=library.weights)
    pairs = library.num_pairs[clip]
    t = jnp.floor(jax.random.uniform(key_frame, (batch,)) * pairs).astype(jnp.int32)
    t = jnp.minimum(t, pairs - 1)
    return clip, t, t + 1


def gather_frames(library: MotionLibrary, clip: jax.Array, t: jax.Array) -> dict[str, jax.Array]:
    """Frames at [B] (clip, t): {"qpos" [B, nq], "qvel" [B, nv], "foot_pos" [B, nf, 3]}."""
    return {"qpos": library.qpos[clip, t], "qvel": library.qvel[clip, t],
            "foot_pos": library.foot_pos[clip, t]}


def sample_transitions(library: MotionLibrary, key: jax.Array, batch: int
                       ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """[B] reference (s, s') frame pairs, jittable (`batch` static)."""
    clip, t, t_next = sample_pair_indices(library, key, batch)
    return gather_frames(library, clip, t), gather_frames(library, clip, t_next)
