"""The discriminator-free closeness measure: 1-D Wasserstein distance of joint angles."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from playground.motion.clip import MotionError, load_npz
from playground.motion.generate import MODEL_XML
from playground.motion.metrics import (
    joint_distribution_distance,
    reference_joint_angles,
    wasserstein_1d,
)


def test_wasserstein_by_hand():
    # {0, 1} vs {0.5}: the CDFs differ by 0.5 on [0, 1): area 0.5
    assert wasserstein_1d([0.0, 1.0], [0.5]) == pytest.approx(0.5)
    # {0, 0, 0} vs {1, 2}: all mass moves 1.5 on average
    assert wasserstein_1d([0.0, 0.0, 0.0], [1.0, 2.0]) == pytest.approx(1.5)
    # a shift moves every sample by the shift
    assert wasserstein_1d([0.1, 0.4, 0.9], [0.3, 0.6, 1.1]) == pytest.approx(0.2)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(1.0, 2.0, size=70)
    assert wasserstein_1d(a, b) == pytest.approx(scipy.stats.wasserstein_distance(a, b))
    with pytest.raises(MotionError, match="samples on both sides"):
        wasserstein_1d([], [1.0])


def test_joint_distance_against_the_shipped_reference():
    folder = MODEL_XML.parent / "motions"
    clips = [load_npz(p) for p in sorted(folder.glob("*.npz"))]
    names = clips[0].joint_names
    by_name = {clip.name: len(clip.joint_pos) - 1 for clip in clips}  # a loop's last frame repeats
    walk = reference_joint_angles(clips, names, vx=0.2)  # walk_0.2 only
    assert walk.shape == (by_name["walk_0.2"], 17)
    turning = reference_joint_angles(clips, names, vx=0.2, yaw_rate=0.4)
    assert turning.shape == (by_name["walk_0.2_turn_left"], 17)
    standing = reference_joint_angles(clips, names, vx=0.0)  # stand and step_in_place
    assert standing.shape == (by_name["stand"] + by_name["step_in_place"], 17)
    same = joint_distribution_distance(walk, walk)
    assert same["mean"] == 0.0
    shifted = joint_distribution_distance(walk + 0.1, walk)
    assert shifted["mean"] == pytest.approx(0.1) and len(shifted["per_joint"]) == 17
    fast = joint_distribution_distance(reference_joint_angles(clips, names, vx=0.4), walk)
    assert 0.0 < fast["mean"] < 0.1
    with pytest.raises(MotionError, match="no reference clip at vx=0.6"):
        reference_joint_angles(clips, names, vx=0.6)
