"""`python -m playground.motion.convert` end to end: a legged_gym JSON for the humanoid
becomes a complete npz clip; bad input is one error line and exit code 2."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import yaml

from playground.motion.clip import load_npz
from playground.motion.generate import MODEL_XML
from playground.serve.spec import file_sha256

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _convert(*args):
    return subprocess.run([sys.executable, "-m", "playground.motion.convert", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_json_to_npz_for_the_humanoid(tmp_path):
    shipped = load_npz(MODEL_XML.parent / "motions" / "walk_0.3.npz")
    # a foreign file: x y z w quaternion, joints in reverse order, positions only
    names = list(reversed(shipped.joint_names))
    rows = np.concatenate([shipped.root_pos, shipped.root_quat[:, [1, 2, 3, 0]],
                           shipped.joint_pos[:, ::-1]], axis=1)
    (tmp_path / "walk.json").write_text(json.dumps(
        {"Frames": rows.tolist(), "FrameDuration": 0.02, "LoopMode": "Wrap", "MotionWeight": 2}))
    (tmp_path / "legged.yaml").write_text(yaml.safe_dump({
        "quat_order": "xyzw", "joints": names,
        "columns": {"root_pos": [0, 3], "root_quat": [3, 7], "joint_pos": [7, 24]}}))
    out = tmp_path / "walk.npz"
    done = _convert(str(tmp_path / "walk.json"), "--layout", str(tmp_path / "legged.yaml"),
                    "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"{len(rows)} frames at 50 fps" in done.stdout and "looping" in done.stdout
    clip = load_npz(out)
    assert clip.joint_names == shipped.joint_names and clip.weight == 2.0
    assert clip.model_sha256 == file_sha256(MODEL_XML)
    np.testing.assert_allclose(clip.joint_pos, shipped.joint_pos, atol=1e-12)
    # velocities were derived from positions alone and match the generator's
    np.testing.assert_allclose(clip.joint_vel, shipped.joint_vel, atol=1e-9)
    np.testing.assert_allclose(clip.root_angvel, shipped.root_angvel, atol=1e-9)
    np.testing.assert_allclose(clip.foot_pos, shipped.foot_pos, atol=1e-9)

    (tmp_path / "short.yaml").write_text(yaml.safe_dump({
        "quat_order": "xyzw", "joints": names,
        "columns": {"root_pos": [0, 3], "root_quat": [3, 7], "joint_pos": [10, 27]}}))
    bad = _convert(str(tmp_path / "walk.json"), "--layout", str(tmp_path / "short.yaml"),
                   "--out", str(tmp_path / "x.npz"))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'walk.json'}: columns.joint_pos = [10, 27] does not fit rows of 24 "
        "columns"
    ]
    assert not (tmp_path / "x.npz").exists()
