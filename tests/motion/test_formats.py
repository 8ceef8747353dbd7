"""Clip formats: npz, legged_gym JSON with a layout, CSV of qpos rows; round trips,
conventions (quaternion order, velocity frames) and one-line rejection of bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
import yaml

from playground.motion.clip import MotionClip, MotionError, load_npz, save_npz
from playground.motion.formats import load_legged_gym_json, load_qpos_csv, save_legged_gym_json
from playground.motion.generate import MODEL_XML, wildrobot
from playground.motion.library import (
    ModelHashWarning,
    build_motion_library,
    clip_qpos,
    load_clip,
    load_motion_files,
    parse_motion_entry,
)

JOINTS = ("hip", "knee")


def _clip(frames=5, **kw) -> MotionClip:
    t = np.arange(frames) / 10.0
    yaw = 0.3 * t
    fields = dict(
        name="toy", fps=10.0, joint_names=JOINTS,
        root_pos=np.stack([t, 0.1 * t, 0.25 + 0 * t], 1),
        root_quat=np.stack([np.cos(yaw / 2), 0 * t, 0 * t, np.sin(yaw / 2)], 1),
        joint_pos=np.stack([np.sin(t), np.cos(t)], 1),
        root_linvel=np.tile([1.0, 0.1, 0.0], (frames, 1)),
        root_angvel=np.tile([0.0, 0.0, 0.3], (frames, 1)),
        joint_vel=np.stack([np.cos(t), -np.sin(t)], 1),
        foot_names=("lf", "rf"), foot_pos=np.random.default_rng(0).normal(size=(frames, 2, 3)),
        model_sha256="ab" * 32, loop=False, weight=2.0,
    )
    fields.update(kw)
    return MotionClip(**fields)


LAYOUT = {
    "quat_order": "xyzw",
    "joints": ["knee", "hip"],  # file order differs from the clip's
    "feet": ["lf", "rf"],
    "columns": {"root_pos": [0, 3], "root_quat": [3, 7], "joint_pos": [7, 9],
                "foot_pos": [9, 15], "root_linvel": [15, 18], "root_angvel": [18, 21],
                "joint_vel": [21, 23]},
}


def _same(a: MotionClip, b: MotionClip, skip=("model_sha256", "name")):
    for field in ("fps", "joint_names", "loop", "weight", "foot_names"):
        assert getattr(a, field) == getattr(b, field), field
    for field in ("root_pos", "root_quat", "joint_pos", "root_linvel", "root_angvel", "joint_vel",
                  "foot_pos"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-12, err_msg=field)


def test_npz_json_npz_round_trip(tmp_path):
    original = _clip()
    save_npz(original, tmp_path / "a.npz")
    first = load_npz(tmp_path / "a.npz")
    _same(original, first)
    assert first.model_sha256 == "ab" * 32 and first.name == "toy"
    save_legged_gym_json(first, tmp_path / "a.json", LAYOUT)
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["LoopMode"] == "Clamp" and doc["MotionWeight"] == 2.0
    assert doc["FrameDuration"] == pytest.approx(0.1)
    # the file's columns really are in the layout's order: knee before hip, quaternion x y z w
    row = doc["Frames"][2]
    assert row[7] == pytest.approx(first.joint_pos[2, 1]) and row[8] == pytest.approx(first.joint_pos[2, 0])
    assert row[3:7] == pytest.approx(list(first.root_quat[2, [1, 2, 3, 0]]))
    second = load_legged_gym_json(tmp_path / "a.json", LAYOUT)
    assert second.joint_names == ("knee", "hip")  # the file's column order
    save_npz(_reordered(second, JOINTS), tmp_path / "b.npz")
    _same(original, load_npz(tmp_path / "b.npz"))


def _reordered(clip: MotionClip, names) -> MotionClip:
    cols = [clip.joint_names.index(j) for j in names]
    return dataclasses.replace(clip, joint_names=tuple(names), joint_pos=clip.joint_pos[:, cols],
                               joint_vel=clip.joint_vel[:, cols])


def test_layout_velocity_frames_and_quaternion_order(tmp_path):
    # root turned 90 deg about z: body x = world y. A body-frame linvel column (1, 0, 0)
    # is world (0, 1, 0); a world-frame angvel column (1, 0, 0) is body (0, -1, 0).
    q_xyzw = [0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]
    frame = [0, 0, 0.3, *q_xyzw, 0.1, 0.2, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    doc = {"Frames": [frame, frame], "FrameDuration": 0.02, "LoopMode": "Wrap", "MotionWeight": 0.5}
    (tmp_path / "m.json").write_text(json.dumps(doc))
    layout = {"joints": ["a", "b"], "linvel_frame": "body", "angvel_frame": "world",
              "columns": {"root_pos": [0, 3], "root_quat": [3, 7], "joint_pos": [7, 9],
                          "root_linvel": [9, 12], "root_angvel": [12, 15]}}
    clip = load_legged_gym_json(tmp_path / "m.json", layout)  # quat_order defaults to xyzw
    np.testing.assert_allclose(clip.root_quat[0], [math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)])
    np.testing.assert_allclose(clip.root_linvel[0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(clip.root_angvel[0], [0, -1, 0], atol=1e-12)
    assert clip.fps == pytest.approx(50.0) and clip.loop and clip.weight == 0.5


def test_csv_with_header_joint_map_and_fixed_joints(tmp_path):
    robot = wildrobot()
    names = list(robot.joint_names)
    home = robot.default_qpos
    rows = [["x", "y", "z", "qw", "qx", "qy", "qz"] + [f"j{i}" for i in range(16)]]
    for k in range(3):
        rows.append([str(v) for v in [0.01 * k, 0, 0.24, 1, 0, 0, 0] + [0.1 * k] * 16])
    (tmp_path / "walk.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    layout = {"fps": 25, "joints": [f"j{i}" for i in range(16)],
              "joint_map": {f"j{i}": n for i, n in enumerate(n for n in names if n != "waist_yaw")},
              "fixed_joints": {"waist_yaw": 0.2}}
    (tmp_path / "walk.layout.yaml").write_text(yaml.safe_dump(layout))
    clip = load_clip(tmp_path / "walk.csv")  # finds walk.layout.yaml beside it
    assert clip.num_frames == 3 and clip.fps == 25
    qpos = clip_qpos(clip, robot)
    assert qpos.shape == (3, robot.mj_model.nq)
    waist = robot.qpos_idx[names.index("waist_yaw")]
    np.testing.assert_allclose(qpos[:, waist], 0.2)
    knee = robot.qpos_idx[names.index("left_knee")]
    np.testing.assert_allclose(qpos[:, knee], [0.0, 0.1, 0.2])
    np.testing.assert_allclose(qpos[:, 0], [0.0, 0.01, 0.02])
    assert home.shape == (robot.mj_model.nq,)


def _write_json(tmp_path, frames, **doc):
    doc = {"Frames": frames, "FrameDuration": 0.02, **doc}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    return tmp_path / "bad.json"


GOOD_ROW = [0, 0, 0.3, 0, 0, 0, 1, 0.1, 0.2]
SMALL_LAYOUT = {"joints": ["a", "b"], "columns": {"root_pos": [0, 3], "root_quat": [3, 7],
                                                  "joint_pos": [7, 9]}}


@pytest.mark.parametrize("case, expect", [
    ("nan", "non-finite value at frame 1"),
    ("no_duration", "FrameDuration"),
    ("one_frame", "at least 2"),
    ("short_rows", "does not fit rows of 8 columns"),
    ("wide_span", "spans 3 columns, expected 2"),
    ("bad_quat", "not unit quaternions"),
    ("ragged", "equal length"),
    ("unknown_key", "unknown layout key"),
    ("bad_weight", "MotionWeight must be a positive number"),
    ("bad_fixed", "fixed_joints.waist must be a number"),
])
def test_json_rejections_are_one_line(tmp_path, case, expect):
    layout = json.loads(json.dumps(SMALL_LAYOUT))
    frames = [GOOD_ROW, GOOD_ROW]
    extra = {}
    if case == "nan":
        frames = [GOOD_ROW, GOOD_ROW[:7] + [float("nan"), 0.2]]
    elif case == "no_duration":
        extra["FrameDuration"] = None
    elif case == "one_frame":
        frames = [GOOD_ROW]
    elif case == "short_rows":
        frames = [GOOD_ROW[:8], GOOD_ROW[:8]]
    elif case == "wide_span":
        layout["columns"]["joint_pos"] = [7, 10]
    elif case == "bad_quat":
        frames = [GOOD_ROW[:3] + [0, 0, 0, 3] + GOOD_ROW[7:]] * 2
    elif case == "ragged":
        frames = [GOOD_ROW, GOOD_ROW[:8]]
    elif case == "unknown_key":
        layout["quaternion"] = "xyzw"
    elif case == "bad_weight":
        extra["MotionWeight"] = "heavy"
    elif case == "bad_fixed":
        layout["fixed_joints"] = {"waist": "zero"}
    path = _write_json(tmp_path, frames, **extra)
    if case == "nan":  # JSON has no NaN literal; Python writes one, other tools too
        assert "NaN" in path.read_text()
    with pytest.raises(MotionError) as err:
        load_legged_gym_json(path, layout)
    assert expect in str(err.value) and "\n" not in str(err.value)


def test_npz_rejections(tmp_path):
    good = _clip()
    save_npz(good, tmp_path / "good.npz")
    data = dict(np.load(tmp_path / "good.npz"))
    del data["fps"]
    with open(tmp_path / "nofps.npz", "wb") as f:
        np.savez(f, **data)
    with pytest.raises(MotionError, match="missing field 'fps'"):
        load_npz(tmp_path / "nofps.npz")
    data = dict(np.load(tmp_path / "good.npz"))
    data["weight"] = np.array("heavy")
    with open(tmp_path / "textweight.npz", "wb") as f:
        np.savez(f, **data)
    with pytest.raises(MotionError, match="malformed field"):
        load_npz(tmp_path / "textweight.npz")
    with pytest.raises(MotionError, match="1 frame"):
        _clip(frames=1).validate()
    with pytest.raises(MotionError, match="non-finite value in root_pos"):
        _clip(root_pos=np.full((5, 3), np.inf)).validate()
    with pytest.raises(FileNotFoundError, match="motion file not found"):
        load_npz(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MotionError, match="not a readable npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(MotionError, match="fps"):
        _clip(fps=0.0).validate()
    with pytest.raises(MotionError, match="needs a column layout"):
        (tmp_path / "x.json").write_text("{}")
        load_clip(tmp_path / "x.json")
    with pytest.raises(MotionError, match="a CSV layout needs fps"):
        (tmp_path / "x.csv").write_text("0,0,0,1,0,0,0,0\n")
        load_qpos_csv(tmp_path / "x.csv", {"joints": ["a"]})


def test_joint_names_must_match_the_robot_and_hash_mismatch_warns():
    robot = wildrobot()
    n = len(robot.joint_names)
    frames = 3
    base = dict(name="c", fps=50.0, root_pos=np.tile([0, 0, 0.24], (frames, 1)),
                root_quat=np.tile([1.0, 0, 0, 0], (frames, 1)))
    short = MotionClip(joint_names=robot.joint_names[:-1], joint_pos=np.zeros((frames, n - 1)), **base)
    with pytest.raises(MotionError, match=r"16 joints vs the robot's 17: it lacks robot joint\(s\) \['right_elbow'\]"):
        clip_qpos(short, robot)
    renamed = MotionClip(joint_names=robot.joint_names[:-1] + ("elbow_r",),
                         joint_pos=np.zeros((frames, n)), **base)
    with pytest.raises(MotionError, match=r"has joint\(s\) \['elbow_r'\] the robot does not"):
        clip_qpos(renamed, robot)
    other = MotionClip(joint_names=robot.joint_names, joint_pos=np.zeros((frames, n)),
                       model_sha256="0" * 64, **base)
    with pytest.warns(ModelHashWarning, match="another robot model"):
        build_motion_library([other], robot, 0.02)
    same = MotionClip(joint_names=robot.joint_names, joint_pos=np.zeros((frames, n)),
                      model_sha256=robot.xml_sha256, **base)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_motion_library([same], robot, 0.02)


def test_motion_file_entries(tmp_path):
    assert parse_motion_entry("a/b.npz@2.5") == ("a/b.npz", 2.5)
    assert parse_motion_entry("a/b.npz") == ("a/b.npz", None)
    with pytest.raises(MotionError, match="weight after '@'"):
        parse_motion_entry("a.npz@heavy")
    save_npz(_clip(name="one"), tmp_path / "clips" / "one.npz")
    save_npz(_clip(name="two", weight=1.0), tmp_path / "clips" / "two.npz")
    clips = load_motion_files([f"{tmp_path / 'clips' / 'one.npz'}@3", str(tmp_path / "clips")])
    assert [(c.name, c.weight) for c in clips] == [("one", 3.0), ("one", 2.0), ("two", 1.0)]
    save_legged_gym_json(_clip(name="j"), tmp_path / "j.json", LAYOUT)
    (tmp_path / "lay.yaml").write_text(yaml.safe_dump(LAYOUT))
    (tmp_path / "set.yaml").write_text(yaml.safe_dump(
        {"clips": [{"path": "j.json", "layout": "lay.yaml", "weight": 4}, "clips/two.npz"]}))
    clips = load_motion_files([str(tmp_path / "set.yaml")])
    assert [(c.name, c.weight) for c in clips] == [("j", 4.0), ("two", 1.0)]
    # a run-wide layout reads JSON entries that have none beside them
    clips = load_motion_files([f"{tmp_path / 'j.json'}@0.5"], layout=tmp_path / "lay.yaml")
    assert [(c.name, c.weight, c.joint_names) for c in clips] == [("j", 0.5, ("knee", "hip"))]
    shipped = load_motion_files([], default_dir=MODEL_XML.parent / "motions")
    assert {"stand", "walk_0.2", "turn_left"} <= {c.name for c in shipped}
    with pytest.raises(MotionError, match="AMP needs reference motions"):
        load_motion_files([], default_dir=tmp_path / "nowhere")
