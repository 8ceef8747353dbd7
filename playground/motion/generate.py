"""Reference gait generator for the shipped WildRobot humanoid.

    python -m playground.motion.generate --out playground/tasks/assets/wildrobot/motions/

writes one looping npz clip per gait in `GAITS` (standing, stepping in place,
walking forward at several speeds and backward, turning in place and while
walking) at the control rate of configs/humanoid_walk.yaml, then prints a
validity table (joint-limit margin, stance-foot slide, foot height).

How a clip is made, frame by frame:
  1. A linear-inverted-pendulum (LIPM) plan for the pelvis, used as the centre-of-mass
     proxy: along a path of constant speed and yaw rate, each step of duration Ts
     swings the CoM from L/2 behind to L/2 ahead of the stance foot
     (x = L/2 sinh(w t) / sinh(w Ts/2), t from mid-step) and sways it towards the
     stance foot (y = p (1 - cosh(w t) / cosh(w Ts/2))), w = sqrt(g / z_com): the
     periodic LIPM orbit with the support switching at the step boundary.
  2. Footsteps under the mid-step pelvis, half a hip width to the side; a swing foot
     lifts after a short double support by a 64 s^3 (1 - s)^3 bump (zero speed and
     acceleration at lift-off and touch-down), moves forward on a minimum-jerk curve
     only while it is clear of the floor (the middle 70% of the swing) and lands flat.
  3. Damped-least-squares inverse kinematics (MuJoCo's body Jacobians) puts both
     feet at their targets, flat; the pelvis pose comes from the plan; the arms
     swing against the legs.
The legs have no hip-yaw joint, so a foot always points where the pelvis points
(to first order): while turning, the stance foot pivots about its centre, which
the validity table reports as slide of the foot's contact spheres.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import sys

import mujoco
import numpy as np

from playground.motion.clip import MotionClip, save_npz
from playground.motion.library import (
    RobotKinematics,
    derive_qvel,
    foot_positions,
    kinematic_checks,
    make_robot,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL_XML = ROOT / "playground/tasks/assets/wildrobot/wildrobot.xml"
DEFAULT_OUT = MODEL_XML.parent / "motions"
FEET = ("left_foot", "right_foot")
CTRL_DT = 0.02  # configs/humanoid_walk.yaml env.ctrl_dt
GRAVITY = 9.81
#: Hz; the clips step at the gait clock of configs/humanoid_walk_cpu.yaml (env.gait), so the
#: discriminator never tells the policy from the reference by its cadence alone
GAIT_FREQUENCY = 1.75
#: m; the home keyframe's pelvis height: the clips walk in the posture the `pose` reward
#: pulls towards (knees ~0.6 rad), not in a deeper crouch no policy of the recipe adopts
HOME_PELVIS_HEIGHT = 0.2452


@dataclasses.dataclass(frozen=True)
class Gait:
    """One clip: a periodic gait (or standing) of `cycles` whole cycles."""

    name: str
    vx: float = 0.0  # m/s forward along the heading
    yaw_rate: float = 0.0  # rad/s
    stepping: bool = True  # False: stand still
    cycle: float = 1.0 / GAIT_FREQUENCY  # s per gait cycle (two steps)
    cycles: int = 7  # 7 cycles of 4/7 s = 4 s, a whole number of control steps
    pelvis_height: float = HOME_PELVIS_HEIGHT  # m
    step_height: float = 0.03  # m of swing-foot clearance (env.gait.swing_height)
    double_support: float = 0.2  # fraction of each step with both feet down
    stance_width: float = 0.05  # m from the path to each foot (the hip offset)
    arm_swing: float = 0.15  # rad of shoulder pitch per 0.1 m/s (plus a floor of 0.05)


GAITS = (
    Gait("stand", stepping=False, cycle=1.0, cycles=1),
    Gait("step_in_place"),
    Gait("walk_0.1", vx=0.1),
    Gait("walk_0.2", vx=0.2),
    Gait("walk_0.3", vx=0.3),
    Gait("walk_0.4", vx=0.4, pelvis_height=0.235),  # longer steps need bent knees to reach
    Gait("walk_back_0.2", vx=-0.2),
    Gait("turn_left", yaw_rate=0.5),
    Gait("turn_right", yaw_rate=-0.5),
    Gait("walk_0.2_turn_left", vx=0.2, yaw_rate=0.4),
    Gait("walk_0.2_turn_right", vx=0.2, yaw_rate=-0.4),
)


# --------------------------------------------------------------------------- plan


def _path(t: float, vx: float, yaw_rate: float) -> tuple[np.ndarray, float]:
    """Point [x, y] and heading of the constant-speed, constant-yaw-rate centre path."""
    yaw = yaw_rate * t
    if abs(yaw_rate) < 1e-9:
        return np.array([vx * t, 0.0]), yaw
    return np.array([vx / yaw_rate * math.sin(yaw), vx / yaw_rate * (1 - math.cos(yaw))]), yaw


def _rot2(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s], [s, c]])


def _min_jerk(s: float) -> float:
    return s * s * s * (10 - 15 * s + 6 * s * s)


def _footstep(gait: Gait, step: int, side: int) -> tuple[np.ndarray, float]:
    """Where foot `side` (+1 left, -1 right) stands during `step`: under the mid-step
    path point, half a hip width to its side."""
    ts = gait.cycle / 2
    point, yaw = _path((step + 0.5) * ts, gait.vx, gait.yaw_rate)
    return point + _rot2(yaw) @ np.array([0.0, side * gait.stance_width]), yaw


def plan_frame(gait: Gait, t: float) -> dict:
    """Targets at time t: pelvis [x, y, z] and yaw, each foot's [x, y, z] and yaw, and the
    phase of the cycle (for the arms)."""
    if not gait.stepping:
        return {"pelvis": np.array([0.0, 0.0, gait.pelvis_height]), "yaw": 0.0,
                "feet": {+1: (np.array([0.0, gait.stance_width, 0.0]), 0.0),
                         -1: (np.array([0.0, -gait.stance_width, 0.0]), 0.0)},
                "phase": 0.0}
    ts = gait.cycle / 2
    step = int(math.floor(t / ts + 1e-9))
    tau = t - (step + 0.5) * ts  # time from mid-step, in [-Ts/2, Ts/2)
    stance = +1 if step % 2 == 0 else -1  # even steps stand on the left foot
    omega = math.sqrt(GRAVITY / gait.pelvis_height)
    length = gait.vx * ts
    along = length / 2 * math.sinh(omega * tau) / math.sinh(omega * ts / 2) - gait.vx * tau
    side = stance * gait.stance_width * (1 - math.cosh(omega * tau) / math.cosh(omega * ts / 2))
    point, yaw = _path(t, gait.vx, gait.yaw_rate)
    pelvis_xy = point + _rot2(yaw) @ np.array([along, side])

    feet = {}
    stance_xy, _ = _footstep(gait, step, stance)
    feet[stance] = (np.array([*stance_xy, 0.0]), yaw)
    swing = -stance
    lift_xy, _ = _footstep(gait, step - 1, swing)
    land_xy, _ = _footstep(gait, step + 1, swing)
    half_ds = gait.double_support / 2
    s = np.clip(((tau + ts / 2) / ts - half_ds) / (1 - gait.double_support), 0.0, 1.0)
    # the foot clears the floor before it moves forward and stops before it lands
    xy = lift_xy + (land_xy - lift_xy) * _min_jerk(np.clip((s - 0.15) / 0.7, 0.0, 1.0))
    z = gait.step_height * 64 * s**3 * (1 - s) ** 3
    feet[swing] = (np.array([*xy, z]), yaw)
    return {"pelvis": np.array([*pelvis_xy, gait.pelvis_height]), "yaw": yaw, "feet": feet,
            "phase": 2 * math.pi * t / gait.cycle}


# --------------------------------------------------------------------------- IK


class LegIK:
    """Damped-least-squares IK of both legs for given pelvis pose and foot targets."""

    def __init__(self, robot: RobotKinematics):
        self.robot = robot
        m = robot.mj_model
        self.m = m
        self.data = mujoco.MjData(m)
        self.feet = {+1: m.body(FEET[0]).id, -1: m.body(FEET[1]).id}
        leg = [i for i, n in enumerate(robot.joint_names)
               if n.startswith(("left_hip", "left_knee", "left_ankle", "right_hip", "right_knee",
                                "right_ankle"))]
        self.leg_qpos = robot.qpos_idx[leg]
        self.leg_dof = robot.qvel_idx[leg]
        act_joints = m.actuator_trnid[:, 0]
        self.leg_range = np.array(m.jnt_range[act_joints])[leg]
        # foot origin (the ankle) height when the foot's contact spheres touch the floor
        foot = self.feet[+1]
        spheres = [g for g in range(m.ngeom) if m.geom_bodyid[g] == foot and m.geom_contype[g]]
        self.sole = float(-min(m.geom_pos[g][2] - m.geom_size[g][0] for g in spheres))

    def solve(self, qpos: np.ndarray, targets: dict, iterations: int = 100) -> tuple[np.ndarray, float]:
        """Move the leg joints and the pelvis orientation of `qpos` so each foot reaches its
        (position, yaw) target flat. The pelvis position stays; its orientation is pulled
        weakly towards the planned one, which lets it wobble by the small amount that
        keeps a grounded foot's yaw fixed. Returns (qpos, worst foot position error, m)."""
        m, d = self.m, self.data
        r = self.robot.root_qpos
        dofs = np.concatenate([self.leg_dof, self.robot.root_dof + np.arange(3, 6)])
        plan_quat = qpos[r + 3 : r + 7].copy()
        # rows: position (m) and orientation (rad times a lever arm in m). A raised foot's
        # yaw weighs least (a leg without hip yaw can hardly change it); the weight fades
        # over the first 5 mm of lift so the foot does not twist while still on the floor.
        pelvis_weight = 0.02
        damping = 1e-5
        q = qpos.copy()
        jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        step = np.zeros(m.nv)
        for _ in range(iterations):
            d.qpos[:] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            rows, errs = [], []
            worst = 0.0
            for side, body in self.feet.items():
                pos, yaw = targets[side]
                yaw_weight = 0.1 - 0.095 * min(max(pos[2], 0.0) / 0.005, 1.0)
                weights = np.array([1.0, 1.0, 1.0, 0.1, 0.1, yaw_weight])
                err_p = pos + np.array([0.0, 0.0, self.sole]) - d.xpos[body]
                cur = np.empty(4)
                mujoco.mju_mat2Quat(cur, d.xmat[body])
                err_r = _rotation_error(np.array([math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]), cur)
                mujoco.mj_jacBody(m, d, jacp, jacr, body)
                rows.append(np.vstack([jacp, jacr])[:, dofs] * weights[:, None])
                errs.append(np.concatenate([err_p, err_r]) * weights)
                worst = max(worst, float(np.linalg.norm(err_p)))
            mujoco.mj_jacBody(m, d, jacp, jacr, self.robot.root_body)
            rows.append(jacr[:, dofs] * pelvis_weight)
            errs.append(_rotation_error(plan_quat, q[r + 3 : r + 7]) * pelvis_weight)
            jac, err = np.vstack(rows), np.concatenate(errs)
            if worst < 1e-7 and np.abs(err).max() < 1e-7:
                break
            dq = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(len(err)), err)
            step[:] = 0.0
            step[dofs] = dq
            mujoco.mj_integratePos(m, q, step, 1.0)
            q[self.leg_qpos] = np.clip(q[self.leg_qpos], self.leg_range[:, 0], self.leg_range[:, 1])
        return q, worst


def _rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """World-frame rotation vector taking quaternion `current` to `target` (w, x, y, z)."""
    diff, neg = np.empty(4), np.empty(4)
    mujoco.mju_negQuat(neg, current)
    mujoco.mju_mulQuat(diff, target, neg)
    out = np.empty(3)
    mujoco.mju_quat2Vel(out, diff, 1.0)
    return out


def generate_clip(gait: Gait, robot: RobotKinematics, dt: float = CTRL_DT) -> tuple[MotionClip, float]:
    """The clip of `gait` every `dt` s (with velocities and foot positions), and the worst
    IK foot position error (m)."""
    ik = LegIK(robot)
    m = robot.mj_model
    frames = int(round(gait.cycle * gait.cycles / dt)) + 1  # the last repeats the first pose
    names = robot.joint_names
    home = robot.default_qpos
    r = robot.root_qpos
    q = home.copy()
    qpos = np.empty((frames, m.nq))
    worst = 0.0
    speed_swing = 0.05 + gait.arm_swing * abs(gait.vx) / 0.1 if gait.stepping else 0.0
    for k in range(frames):
        plan = plan_frame(gait, k * dt)
        q[r : r + 3] = plan["pelvis"]
        q[r + 3 : r + 7] = [math.cos(plan["yaw"] / 2), 0, 0, math.sin(plan["yaw"] / 2)]
        for side, prefix in ((+1, "left"), (-1, "right")):
            idx = robot.qpos_idx[names.index(f"{prefix}_shoulder_pitch")]
            q[idx] = home[idx] + side * speed_swing * math.cos(plan["phase"])
        q, err = ik.solve(q, plan["feet"])
        worst = max(worst, err)
        qpos[k] = q
    qvel = derive_qvel(qpos, dt, robot, loop=True)
    d = robot.root_dof
    clip = MotionClip(
        name=gait.name, fps=1.0 / dt, joint_names=names,
        root_pos=qpos[:, r : r + 3], root_quat=qpos[:, r + 3 : r + 7],
        joint_pos=qpos[:, robot.qpos_idx], root_linvel=qvel[:, d : d + 3],
        root_angvel=qvel[:, d + 3 : d + 6], joint_vel=qvel[:, robot.qvel_idx],
        foot_names=robot.foot_names, foot_pos=foot_positions(qpos, robot),
        model_sha256=robot.xml_sha256, loop=True, weight=1.0,
    )
    return clip.validate(), worst


def wildrobot() -> RobotKinematics:
    from playground.tasks.locomotion.env import file_sha256

    m = mujoco.MjModel.from_xml_path(str(MODEL_XML))
    return make_robot(m, root_body="pelvis", feet=FEET, keyframe="home",
                      xml_sha256=file_sha256(MODEL_XML))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground.motion.generate",
        description="Regenerate the WildRobot reference clips (npz) and print their validity.",
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output directory")
    parser.add_argument("--dt", type=float, default=CTRL_DT, help="s between frames (ctrl_dt)")
    args = parser.parse_args(argv)
    if not args.dt > 0:
        print(f"error: --dt must be positive, got {args.dt}", file=sys.stderr)
        return 2
    robot = wildrobot()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.npz"):
        stale.unlink()
    print(f"{'clip':22s} {'frames':>6s} {'ik_err_mm':>9s} {'limit_margin':>12s} "
          f"{'min_foot_h_mm':>13s} {'max_slide_mm':>12s} {'slide_m/s':>9s}")
    for gait in GAITS:
        clip, err = generate_clip(gait, robot, args.dt)
        save_npz(clip, out / f"{gait.name}.npz")
        v = kinematic_checks(clip, robot)
        print(f"{gait.name:22s} {clip.num_frames:6d} {err * 1e3:9.3f} {v['limit_margin']:12.3f} "
              f"{v['min_foot_height'] * 1e3:13.3f} {v['max_slide'] * 1e3:12.3f} "
              f"{v['max_slide_speed']:9.3f}", flush=True)
    print(f"wrote {len(GAITS)} clips to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
