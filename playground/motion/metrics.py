"""How close a motion is to reference motion, without a discriminator.

For the AMP figure: the mean over joints of the 1-D Wasserstein distance between the
policy's and the reference's joint-angle distributions (rad), at one commanded speed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from playground import quaternion
from playground.motion.clip import MotionClip, MotionError


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """W1 distance between the empirical distributions of samples a [N] and b [M]:
    the area between their CDFs, integral |F_a(x) - F_b(x)| dx."""
    a, b = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
    if a.size == 0 or b.size == 0:
        raise MotionError("wasserstein_1d needs samples on both sides")
    points = np.sort(np.concatenate([a, b]))
    widths = np.diff(points)
    cdf_a = np.searchsorted(a, points[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, points[:-1], side="right") / b.size
    return float(np.sum(np.abs(cdf_a - cdf_b) * widths))


def joint_distribution_distance(policy: np.ndarray, reference: np.ndarray) -> dict[str, object]:
    """Per-joint and mean W1 between joint angles policy [N, n] and reference [M, n]."""
    policy, reference = np.asarray(policy), np.asarray(reference)
    if policy.ndim != 2 or reference.ndim != 2 or policy.shape[1] != reference.shape[1]:
        raise MotionError(f"joint samples must be [N, n] and [M, n], got {policy.shape} and "
                          f"{reference.shape}")
    per_joint = [wasserstein_1d(policy[:, j], reference[:, j]) for j in range(policy.shape[1])]
    return {"per_joint": per_joint, "mean": float(np.mean(per_joint))}


def reference_joint_angles(clips: Sequence[MotionClip], joint_names: Sequence[str],
                           vx: float, yaw_rate: float = 0.0, tolerance: float = 0.05
                           ) -> np.ndarray:
    """[M, n] joint angles (in `joint_names` order) of the clips whose mean forward speed
    and yaw rate are within `tolerance` of (vx, yaw_rate). Raises when none is."""
    picked = []
    for clip in clips:
        speed = (clip.root_pos[-1, :2] - clip.root_pos[0, :2]) / clip.duration
        quat = clip.root_quat
        yaw = np.unwrap(quaternion.to_yaw(quat))
        clip_yaw_rate = (yaw[-1] - yaw[0]) / clip.duration
        forward = float(np.linalg.norm(speed)) * np.sign(np.dot(speed, [np.cos(yaw[0]), np.sin(yaw[0])]))
        if abs(forward - vx) <= tolerance and abs(clip_yaw_rate - yaw_rate) <= tolerance:
            cols = [clip.joint_names.index(j) for j in joint_names]
            frames = clip.joint_pos[:-1] if clip.loop else clip.joint_pos  # a cycle counts once
            picked.append(frames[:, cols])
    if not picked:
        raise MotionError(f"no reference clip at vx={vx} m/s, yaw_rate={yaw_rate} rad/s "
                          f"(+-{tolerance})")
    return np.concatenate(picked)
