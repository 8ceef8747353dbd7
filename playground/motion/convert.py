"""Convert a motion file for a robot: any supported format in, npz (or legged_gym JSON) out.

    python -m playground.motion.convert walk.json --layout my_layout.yaml --out walk.npz
    python -m playground.motion.convert walk.csv --config configs/custom_robot.yaml --out walk.npz
    python -m playground.motion.convert walk.npz --out walk.json --layout my_layout.yaml

The robot is the one of `--config` (default: the humanoid_walk task's). The clip's
joints must match the robot's actuated joints by name (a layout's joint_map renames
them); the output holds the robot's joint order, velocities (derived with MuJoCo's
conventions when the input has none), foot positions from forward kinematics, and
the robot MJCF's sha256. A summary with the clip's kinematic checks is printed;
bad input is one `error:` line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys

import mujoco

from playground.motion.clip import MotionClip, MotionError, save_npz
from playground.motion.formats import save_legged_gym_json
from playground.motion.library import (
    RobotKinematics,
    clip_qpos,
    derive_qvel,
    foot_positions,
    kinematic_checks,
    load_clip,
    make_robot,
)


def robot_from_config(config_path: str | None) -> RobotKinematics:
    """The robot of a task config's `env.robot` section."""
    from playground import config
    from playground.tasks.locomotion.env import file_sha256, resolve_path

    cfg = config.resolve(config_path, [] if config_path else [("env.task", "humanoid_walk")])
    robot = cfg.env.robot
    xml = resolve_path(robot.xml)
    if not xml.is_file():
        raise FileNotFoundError(f"robot MJCF not found: {xml}")
    model = mujoco.MjModel.from_xml_path(str(xml))
    return make_robot(model, root_body=robot.root_body, feet=list(robot.feet),
                      keyframe=robot.keyframe, xml_sha256=file_sha256(xml))


def for_robot(clip: MotionClip, robot: RobotKinematics) -> MotionClip:
    """`clip` in the robot's joint order with velocities, foot positions and model hash."""
    qpos = clip_qpos(clip, robot)  # raises on joint-name mismatches
    names = robot.joint_names
    cols = [clip.joint_names.index(j) for j in names]
    out = dataclasses.replace(clip, joint_names=names, joint_pos=clip.joint_pos[:, cols],
                              model_sha256=robot.xml_sha256)
    if clip.has_velocities():
        out.joint_vel = clip.joint_vel[:, cols]
    else:
        qvel = derive_qvel(qpos, 1.0 / clip.fps, robot, clip.loop)
        d = robot.root_dof
        out.root_linvel, out.root_angvel = qvel[:, d : d + 3], qvel[:, d + 3 : d + 6]
        out.joint_vel = qvel[:, robot.qvel_idx]
    out.foot_names, out.foot_pos = robot.foot_names, foot_positions(qpos, robot)
    return out.validate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground.motion.convert",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="clip: .npz, .json (legged_gym) or .csv (qpos rows)")
    parser.add_argument("--out", required=True, help="output .npz or .json")
    parser.add_argument("--layout", help="column layout YAML for .json/.csv input or .json output")
    parser.add_argument("--config", help="task config whose env.robot is the target robot")
    args = parser.parse_args(argv)
    from playground.config import ConfigError

    try:
        out_path = pathlib.Path(args.out)
        if out_path.suffix.lower() not in (".npz", ".json"):
            raise MotionError(f"--out must end in .npz or .json, got {out_path.name!r}")
        if out_path.suffix.lower() == ".json" and not args.layout:
            raise MotionError("a .json output needs --layout (its column layout)")
        in_layout = args.layout if pathlib.Path(args.input).suffix.lower() != ".npz" else None
        clip = load_clip(args.input, in_layout)
        robot = robot_from_config(args.config)
        clip = for_robot(clip, robot)
        checks = kinematic_checks(clip, robot)
        if out_path.suffix.lower() == ".npz":
            save_npz(clip, out_path)
        else:
            save_legged_gym_json(clip, out_path, args.layout)
    except (MotionError, ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{out_path}: {clip.num_frames} frames at {clip.fps:g} fps ({clip.duration:.2f} s, "
          f"{'looping' if clip.loop else 'one-shot'}), joint-limit margin "
          f"{checks['limit_margin']:.3f} rad, min foot height {checks['min_foot_height'] * 1e3:.2f} "
          f"mm, max stance slide {checks['max_slide'] * 1e3:.2f} mm/frame")
    if checks["limit_margin"] < 0:
        print("warning: some joint angles are outside the robot's joint range", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
