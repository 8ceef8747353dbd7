"""The reference clips shipped for WildRobot: made for the current MJCF, at the control
rate, kinematically valid, and exactly what the generator produces."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import yaml

from playground import config
from playground.motion.clip import load_npz
from playground.motion.generate import GAITS, MODEL_XML, generate_clip, wildrobot
from playground.motion.library import kinematic_checks
from playground.serve.spec import file_sha256

MOTIONS = MODEL_XML.parent / "motions"
REGENERATE = "python -m playground.motion.generate (or make motions)"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def robot():
    return wildrobot()


@pytest.fixture(scope="module")
def clips():
    return {p.stem: load_npz(p) for p in sorted(MOTIONS.glob("*.npz"))}


def test_every_gait_is_shipped_for_the_current_model(clips):
    assert set(clips) == {g.name for g in GAITS}, f"stale clip set; run {REGENERATE}"
    current = file_sha256(MODEL_XML)
    stale = [name for name, c in clips.items() if c.model_sha256 != current]
    assert not stale, (f"clips {stale} were made for another wildrobot.xml; run {REGENERATE} "
                       "and commit the new clips")


def test_clips_are_at_the_control_rate(clips):
    ctrl_dt = config.resolve(None, [("env.task", "humanoid_walk")]).env.ctrl_dt
    for name, clip in clips.items():
        assert clip.fps == pytest.approx(1 / ctrl_dt), name
        assert clip.loop and clip.has_velocities() and clip.foot_pos is not None
        assert 1.0 <= clip.duration <= 4.0, name  # small: a few seconds each


def test_clips_step_at_the_cpu_recipes_gait_clock():
    """The policy of configs/humanoid_walk_cpu.yaml is rewarded for following its gait
    clock (feet_phase); clips at another cadence or swing height would let the
    discriminator tell policy from reference by that alone."""
    from playground.motion import generate

    gait = yaml.safe_load((ROOT / "configs/humanoid_walk_cpu.yaml").read_text())["env"]["gait"]
    assert generate.GAIT_FREQUENCY == gait["frequency"]
    for spec in generate.GAITS:
        if spec.stepping:
            assert spec.cycle == pytest.approx(1 / gait["frequency"]), spec.name
            assert spec.step_height == gait["swing_height"], spec.name


def test_clips_are_kinematically_valid(clips, robot):
    """Joint limits kept, feet never through the floor, grounded feet do not slide.

    Turning pivots the stance foot (the legs have no hip yaw), so turning clips get
    a larger slide budget: 0.5 rad/s about a foot centre moves a corner sphere
    0.046 m * 0.5 rad/s * 0.02 s = 0.46 mm per frame.
    """
    for name, clip in clips.items():
        v = kinematic_checks(clip, robot)
        assert v["limit_margin"] >= 0.05, (name, v)
        assert v["min_foot_height"] >= -1e-4, (name, v)  # 0.1 mm: IK tolerance
        budget = 6e-4 if "turn" in name else 2.5e-4  # m per frame
        assert v["max_slide"] <= budget, (name, v)


def test_walking_clips_move_at_their_speed(clips):
    for gait in GAITS:
        clip = clips[gait.name]
        travelled = np.linalg.norm(clip.root_pos[-1, :2] - clip.root_pos[0, :2])
        if gait.yaw_rate == 0:
            assert travelled / clip.duration == pytest.approx(abs(gait.vx), abs=1e-6), gait.name
        mean_yaw_rate = clip.root_angvel[:-1, 2].mean()
        assert mean_yaw_rate == pytest.approx(gait.yaw_rate, abs=0.02), gait.name


def test_shipped_clip_is_what_the_generator_makes(clips, robot):
    gait = next(g for g in GAITS if g.name == "walk_0.2")
    fresh, _ = generate_clip(gait, robot)
    shipped = clips["walk_0.2"]
    for field in ("root_pos", "root_quat", "joint_pos", "joint_vel", "foot_pos"):
        np.testing.assert_allclose(getattr(fresh, field), getattr(shipped, field), atol=1e-6,
                                   err_msg=f"{field}: regenerate with {REGENERATE}")
