"""Mapping clips onto the robot: velocity derivation (MuJoCo frames), resampling to the
control rate, looping, and weighted (s, s') sampling inside jit."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from playground.motion.clip import MotionClip
from playground.motion.generate import wildrobot
from playground.motion.library import (
    build_motion_library,
    clip_qpos,
    derive_qvel,
    gather_frames,
    resample,
    sample_pair_indices,
    sample_transitions,
)


@pytest.fixture(scope="module")
def robot():
    return wildrobot()


def _quat_mul(a, b):
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def _spinning_clip(robot, frames=9, fps=50.0, spin=1.2, tilt=0.3, vx=0.5, loop=False):
    """Root tilted by `tilt` about x, spinning about WORLD z at `spin` rad/s, moving along
    world x at `vx`; every joint ramps at 0.1 rad/s, the left knee at 0.5 rad/s."""
    t = np.arange(frames) / fps
    tilt_q = np.array([math.cos(tilt / 2), math.sin(tilt / 2), 0, 0])
    quat = np.stack([_quat_mul([math.cos(spin * s / 2), 0, 0, math.sin(spin * s / 2)], tilt_q)
                     for s in t])
    joints = robot.default_qpos[robot.qpos_idx] + 0.1 * t[:, None]
    joints[:, robot.joint_names.index("left_knee")] += 0.4 * t
    return MotionClip(name="spin", fps=fps, joint_names=robot.joint_names,
                      root_pos=np.stack([vx * t, 0 * t, 0.25 + 0 * t], 1), root_quat=quat,
                      joint_pos=joints, loop=loop)


def test_derived_velocities_follow_mujoco_frames(robot):
    # Worked by hand: a root spinning about world z at w = 1.2 rad/s while tilted by
    # 0.3 rad about its x axis has world angular velocity (0, 0, w); in the BODY frame
    # that is Rx(0.3)^T (0, 0, w) = (0, w sin 0.3, w cos 0.3) = (0, 1.2 * 0.295520, 1.2 * 0.955336)
    # = (0, 0.354624, 1.146404).
    # Its linear velocity stays in the WORLD frame: (0.5, 0, 0).
    clip = _spinning_clip(robot)
    qvel = derive_qvel(clip_qpos(clip, robot), 1 / clip.fps, robot, loop=False)
    d = robot.root_dof
    np.testing.assert_allclose(qvel[:, d : d + 3], np.tile([0.5, 0, 0], (9, 1)), atol=1e-9)
    np.testing.assert_allclose(qvel[:, d + 3 : d + 6],
                               np.tile([0, 0.354624, 1.146404], (9, 1)), atol=1e-6)
    joint_vel = qvel[:, robot.qvel_idx]
    expected = np.full(len(robot.joint_names), 0.1)
    expected[robot.joint_names.index("left_knee")] = 0.5
    np.testing.assert_allclose(joint_vel, np.tile(expected, (9, 1)), atol=1e-9)


def test_loop_velocities_wrap_to_the_next_cycle(robot):
    # one cycle of a periodic joint motion while walking forward and turning: the ends
    # of a looping clip get the same central differences as the middle
    frames, fps = 21, 50.0
    t = np.arange(frames) / fps
    period = (frames - 1) / fps
    yaw = 0.5 * t
    joints = robot.default_qpos[robot.qpos_idx] + 0.2 * np.sin(2 * np.pi * t / period)[:, None]
    xy = np.stack([np.sin(yaw), 1 - np.cos(yaw)], 1) * 0.3 / 0.5  # 0.3 m/s along a 0.5 rad/s arc
    clip = MotionClip(name="loop", fps=fps, joint_names=robot.joint_names,
                      root_pos=np.concatenate([xy, np.full((frames, 1), 0.24)], 1),
                      root_quat=np.stack([np.cos(yaw / 2), 0 * t, 0 * t, np.sin(yaw / 2)], 1),
                      joint_pos=joints, loop=True)
    qvel = derive_qvel(clip_qpos(clip, robot), 1 / fps, robot, loop=True)
    d = robot.root_dof
    w = 2 * np.pi / period
    # central difference of 0.2 sin(w t): 0.2 w cos(w t) sin(w dt) / (w dt)
    expected = 0.2 * np.cos(w * t) * np.sin(w / fps) * fps
    np.testing.assert_allclose(qvel[:, robot.qvel_idx[0]], expected, atol=1e-9)
    speed = np.linalg.norm(qvel[:, d : d + 2], axis=1)
    np.testing.assert_allclose(speed, speed[5], atol=1e-9)  # ends like the middle
    np.testing.assert_allclose(qvel[:, d + 5], 0.5, atol=1e-9)
    np.testing.assert_allclose(qvel[0, d : d + 2], [speed[5], 0.0], atol=1e-9)


def test_resampling_to_the_control_rate(robot):
    clip = _spinning_clip(robot, frames=11, fps=100.0)  # 0.1 s
    qpos = clip_qpos(clip, robot)
    out, vel = resample(qpos, None, 100.0, 0.02, robot, loop=False)
    assert vel is None and out.shape == (6, qpos.shape[1])
    np.testing.assert_allclose(out, qpos[::2], atol=1e-12)  # every other frame, exactly
    out, _ = resample(qpos, None, 100.0, 0.03, robot, loop=False)  # 0, .03, .06, .09
    knee = robot.qpos_idx[robot.joint_names.index("left_knee")]
    np.testing.assert_allclose(out[:, knee], qpos[0, knee] + 0.5 * np.array([0, .03, .06, .09]),
                               atol=1e-12)
    np.testing.assert_allclose(out[:, 0], 0.5 * np.array([0, .03, .06, .09]), atol=1e-12)
    # the quaternion is slerped: halfway between frames 4 and 5 (t = 0.045) it is the
    # spin at t = 0.045 exactly (constant-rate rotation)
    q = resample(qpos, None, 100.0, 0.045, robot, loop=False)[0][1, 3:7]
    expected = _quat_mul([math.cos(1.2 * 0.045 / 2), 0, 0, math.sin(1.2 * 0.045 / 2)],
                         [math.cos(0.15), math.sin(0.15), 0, 0])
    np.testing.assert_allclose(q, expected, atol=1e-12)
    # a looping clip keeps a whole number of steps per period and its end pose
    loop = _spinning_clip(robot, frames=8, fps=30.0, loop=True)  # period 7/30 = 0.2333 s
    qpos = clip_qpos(loop, robot)
    out, _ = resample(qpos, None, 30.0, 0.02, robot, loop=True)
    assert len(out) == 13  # round(0.2333 / 0.02) = 12 steps
    np.testing.assert_allclose(out[-1], qpos[-1], atol=1e-12)


def test_library_sampling_in_jit(robot):
    frames = (9, 5)
    clips = [_spinning_clip(robot, frames=n) for n in frames]
    clips[0].name, clips[1].name = "a", "b"
    clips[0].weight, clips[1].weight = 3.0, 1.0
    library = build_motion_library(clips, robot, 0.02)
    assert library.qpos.shape == (2, 9, robot.mj_model.nq)
    np.testing.assert_allclose(np.asarray(library.weights), [0.75, 0.25])
    clip, t, t_next = jax.jit(sample_pair_indices, static_argnums=2)(library, jax.random.PRNGKey(0),
                                                                     8000)
    clip, t, t_next = map(np.asarray, (clip, t, t_next))
    assert abs((clip == 0).mean() - 0.75) < 0.02
    np.testing.assert_array_equal(t_next, t + 1)
    num = np.array(frames)[clip]
    assert (t_next < num).all() and (t >= 0).all()
    # every pair of clip b is drawn (t in 0..3), none past its end
    assert set(t[clip == 1]) == {0, 1, 2, 3}
    s, s_next = jax.jit(sample_transitions, static_argnums=2)(library, jax.random.PRNGKey(1), 16)
    again = gather_frames(library, *sample_pair_indices(library, jax.random.PRNGKey(1), 16)[::2])
    np.testing.assert_array_equal(np.asarray(s_next["qpos"]), np.asarray(again["qpos"]))
    assert s["foot_pos"].shape == (16, 2, 3) and s["qvel"].shape == (16, robot.mj_model.nv)
