"""Foreign motion formats: legged_gym-style frame-list JSON and CSV of qpos rows.

Both carry unnamed columns, so a YAML *layout* says how to read them (docs/motion.md):

    quat_order: xyzw            # order of the 4 root-quaternion columns in the file
    linvel_frame: world         # frame of root_linvel columns: world | body
    angvel_frame: body          # frame of root_angvel columns: world | body
    fps: 30                     # CSV only (JSON has FrameDuration)
    loop: false                 # CSV only (JSON has LoopMode)
    joints: [j0, j1, ...]       # the file's joint columns, in column order
    joint_map: {j0: left_hip_pitch, ...}   # file name -> robot joint name (optional)
    fixed_joints: {waist_yaw: 0.0}         # robot joints the file lacks, held constant
    feet: [left_foot, right_foot]          # bodies of the foot_pos columns (optional)
    columns:                    # field -> [start, stop) column slice of a frame row
      root_pos: [0, 3]
      root_quat: [3, 7]
      joint_pos: [7, 19]
      foot_pos: [19, 25]        # optional, 3 per foot, world frame
      root_linvel: [25, 28]     # optional
      root_angvel: [28, 31]     # optional
      joint_vel: [31, 43]       # optional

For CSV, `columns` defaults to the MuJoCo qpos layout (root_pos [0, 3], root_quat
[3, 7], joint_pos after) and `quat_order` to wxyz.
"""

from __future__ import annotations

import csv
import json
import pathlib
from typing import Any

import numpy as np
import yaml

from playground import quaternion
from playground.motion.clip import MotionClip, MotionError

QUAT_ORDERS = ("wxyz", "xyzw")
FRAMES = ("world", "body")
LAYOUT_KEYS = ("quat_order", "linvel_frame", "angvel_frame", "fps", "loop", "joints",
               "joint_map", "fixed_joints", "feet", "columns")
FIELDS = ("root_pos", "root_quat", "joint_pos", "foot_pos", "root_linvel", "root_angvel",
          "joint_vel")


def _reorder_quat(q: np.ndarray, order: str, to_wxyz: bool) -> np.ndarray:
    if order == "wxyz":
        return q.copy()
    return q[:, [3, 0, 1, 2]] if to_wxyz else q[:, [1, 2, 3, 0]]


def load_layout(source: str | pathlib.Path | dict) -> dict[str, Any]:
    """Read and check a layout YAML (or dict). Raises MotionError naming the bad key."""
    if isinstance(source, dict):
        layout, where = dict(source), "motion layout"
    else:
        path = pathlib.Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"motion layout not found: {path}")
        try:
            layout = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise MotionError(f"{path}: unreadable YAML ({str(exc).splitlines()[0]})") from None
        where = str(path)
        if not isinstance(layout, dict):
            raise MotionError(f"{where}: a layout is a mapping, got {type(layout).__name__}")
    unknown = sorted(set(layout) - set(LAYOUT_KEYS))
    if unknown:
        raise MotionError(f"{where}: unknown layout key(s) {unknown}; known: {list(LAYOUT_KEYS)}")
    layout.setdefault("linvel_frame", "world")
    layout.setdefault("angvel_frame", "body")
    for key, choices in (("quat_order", QUAT_ORDERS), ("linvel_frame", FRAMES),
                         ("angvel_frame", FRAMES)):
        if key in layout and layout[key] not in choices:
            raise MotionError(f"{where}: {key} must be one of {list(choices)}, got {layout[key]!r}")
    joints = layout.get("joints")
    if not isinstance(joints, list) or not joints or not all(isinstance(j, str) for j in joints):
        raise MotionError(f"{where}: 'joints' must list the file's joint names in column order")
    for key in ("joint_map", "fixed_joints"):
        if not isinstance(layout.setdefault(key, {}), dict):
            raise MotionError(f"{where}: {key} must be a mapping")
    for joint, value in layout["fixed_joints"].items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise MotionError(f"{where}: fixed_joints.{joint} must be a number, got {value!r}")
    layout.setdefault("feet", [])
    columns = layout.get("columns", {})
    if not isinstance(columns, dict):
        raise MotionError(f"{where}: columns must map a field to [start, stop]")
    for field, span in columns.items():
        if field not in FIELDS:
            raise MotionError(f"{where}: unknown column field {field!r}; known: {list(FIELDS)}")
        if (not isinstance(span, list) or len(span) != 2
                or not all(isinstance(i, int) and i >= 0 for i in span) or span[0] >= span[1]):
            raise MotionError(f"{where}: columns.{field} must be [start, stop) with start < stop")
    layout["where"] = where
    return layout


def _widths(layout: dict) -> dict[str, int]:
    n = len(layout["joints"])
    return {"root_pos": 3, "root_quat": 4, "joint_pos": n, "joint_vel": n,
            "foot_pos": 3 * len(layout["feet"]), "root_linvel": 3, "root_angvel": 3}


def _check_columns(layout: dict, columns: dict, row_width: int, where: str) -> None:
    widths = _widths(layout)
    for field in ("root_pos", "root_quat", "joint_pos"):
        if field not in columns:
            raise MotionError(f"{where}: the layout has no columns.{field}")
    for field, (start, stop) in columns.items():
        if stop - start != widths[field]:
            raise MotionError(
                f"{where}: columns.{field} spans {stop - start} columns, expected {widths[field]}"
                + (" (3 per foot in 'feet')" if field == "foot_pos" else "")
            )
        if stop > row_width:
            raise MotionError(
                f"{where}: columns.{field} = [{start}, {stop}] does not fit rows of {row_width} "
                "columns"
            )


def _clip_from_rows(rows: np.ndarray, layout: dict, columns: dict, *, name: str, fps: float,
                    loop: bool, weight: float, where: str) -> MotionClip:
    """Slice a [T, C] frame table into a MotionClip in robot joint names and MuJoCo conventions."""
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise MotionError(f"{where}: no frames")
    _check_columns(layout, columns, rows.shape[1], where)
    if not np.isfinite(rows).all():
        frame, col = np.argwhere(~np.isfinite(rows))[0]
        raise MotionError(f"{where}: non-finite value at frame {frame}, column {col}")

    def take(field):
        if field not in columns:
            return None
        start, stop = columns[field]
        return rows[:, start:stop].astype(np.float64)

    quat = _reorder_quat(take("root_quat"), layout.get("quat_order", "wxyz"), to_wxyz=True)
    norms = np.linalg.norm(quat, axis=1, keepdims=True)
    if np.any(np.abs(norms - 1.0) > 0.05):
        raise MotionError(f"{where}: root_quat columns are not unit quaternions; check "
                          "columns.root_quat and quat_order")
    quat = quat / norms
    rot = quaternion.to_mat(quat)
    linvel, angvel = take("root_linvel"), take("root_angvel")
    if linvel is not None and layout["linvel_frame"] == "body":
        linvel = np.einsum("tij,tj->ti", rot, linvel)  # body -> world (MuJoCo free-joint qvel)
    if angvel is not None and layout["angvel_frame"] == "world":
        angvel = np.einsum("tji,tj->ti", rot, angvel)  # world -> body
    names = [layout["joint_map"].get(j, j) for j in layout["joints"]]
    joint_pos, joint_vel = take("joint_pos"), take("joint_vel")
    fixed = layout["fixed_joints"]
    if fixed:
        names = names + list(fixed)
        const = np.array([float(v) for v in fixed.values()])
        joint_pos = np.concatenate([joint_pos, np.broadcast_to(const, (len(rows), len(const)))], 1)
        if joint_vel is not None:
            joint_vel = np.concatenate([joint_vel, np.zeros((len(rows), len(const)))], 1)
    foot = take("foot_pos")
    clip = MotionClip(
        name=name, fps=fps, joint_names=tuple(names), root_pos=take("root_pos"), root_quat=quat,
        joint_pos=joint_pos, root_linvel=linvel, root_angvel=angvel, joint_vel=joint_vel,
        foot_names=tuple(layout["feet"]),
        foot_pos=None if foot is None else foot.reshape(len(rows), -1, 3),
        loop=loop, weight=weight,
    )
    try:
        return clip.validate()
    except MotionError as exc:
        raise MotionError(f"{where}: {exc}") from None


def load_legged_gym_json(path: str | pathlib.Path, layout: str | pathlib.Path | dict) -> MotionClip:
    """A legged_gym-style clip: {"Frames": [[...], ...], "FrameDuration": s,
    "MotionWeight": w, "LoopMode": "Wrap" | "Clamp"}, read through `layout`."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion file not found: {path}")
    layout = load_layout(layout)
    layout.setdefault("quat_order", "xyzw")  # legged_gym stores x, y, z, w
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MotionError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or "Frames" not in doc:
        raise MotionError(f"{path}: no 'Frames' list")
    duration = doc.get("FrameDuration")
    if not isinstance(duration, int | float) or isinstance(duration, bool) or duration <= 0:
        raise MotionError(f"{path}: missing or invalid FrameDuration (seconds per frame), "
                          f"got {duration!r}")
    try:
        rows = np.array(doc["Frames"], dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionError(f"{path}: Frames must be rows of numbers of equal length") from None
    if rows.ndim != 2:
        raise MotionError(f"{path}: Frames must be rows of numbers of equal length")
    mode = doc.get("LoopMode", "Wrap")
    if mode not in ("Wrap", "Clamp"):
        raise MotionError(f"{path}: LoopMode must be 'Wrap' or 'Clamp', got {mode!r}")
    weight = doc.get("MotionWeight", 1.0)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not weight > 0:
        raise MotionError(f"{path}: MotionWeight must be a positive number, got {weight!r}")
    return _clip_from_rows(rows, layout, layout.get("columns", {}), name=path.stem,
                           fps=1.0 / float(duration), loop=mode == "Wrap",
                           weight=float(weight), where=str(path))


def save_legged_gym_json(clip: MotionClip, path: str | pathlib.Path,
                         layout: str | pathlib.Path | dict) -> pathlib.Path:
    """Write `clip` as legged_gym-style JSON with the columns of `layout` (the inverse of
    `load_legged_gym_json` for a layout without joint_map renames or fixed_joints)."""
    clip.validate()
    layout = load_layout(layout)
    order = layout.setdefault("quat_order", "xyzw")
    columns = layout.get("columns", {})
    width = max(stop for _, stop in columns.values())
    _check_columns(layout, columns, width, layout["where"])
    index = {name: i for i, name in enumerate(clip.joint_names)}
    missing = [j for j in layout["joints"] if j not in index]
    if missing:
        raise MotionError(f"clip {clip.name!r} has no joint(s) {missing} named by the layout")
    cols = [index[j] for j in layout["joints"]]
    rot = quaternion.to_mat(clip.root_quat)
    values = {
        "root_pos": clip.root_pos,
        "root_quat": _reorder_quat(clip.root_quat, order, to_wxyz=False),
        "joint_pos": clip.joint_pos[:, cols],
    }
    if clip.root_linvel is not None:
        values["root_linvel"] = (np.einsum("tji,tj->ti", rot, clip.root_linvel)
                                 if layout["linvel_frame"] == "body" else clip.root_linvel)
    if clip.root_angvel is not None:
        values["root_angvel"] = (np.einsum("tij,tj->ti", rot, clip.root_angvel)
                                 if layout["angvel_frame"] == "world" else clip.root_angvel)
    if clip.joint_vel is not None:
        values["joint_vel"] = clip.joint_vel[:, cols]
    if clip.foot_pos is not None and layout["feet"]:
        feet = [clip.foot_names.index(f) for f in layout["feet"]]
        values["foot_pos"] = clip.foot_pos[:, feet].reshape(clip.num_frames, -1)
    rows = np.zeros((clip.num_frames, width))
    for field, (start, stop) in columns.items():
        if field not in values:
            raise MotionError(f"clip {clip.name!r} has no {field} for columns.{field}")
        rows[:, start:stop] = values[field]
    doc = {
        "LoopMode": "Wrap" if clip.loop else "Clamp",
        "FrameDuration": 1.0 / clip.fps,
        "EnableCycleOffsetPosition": True,
        "EnableCycleOffsetRotation": True,
        "MotionWeight": clip.weight,
        "Frames": rows.tolist(),
    }
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def load_qpos_csv(path: str | pathlib.Path, layout: str | pathlib.Path | dict) -> MotionClip:
    """A CSV whose rows are qpos (root x y z, quaternion, joints; an optional header row
    is skipped), read through `layout` (needs `fps` and `joints`)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion file not found: {path}")
    layout = load_layout(layout)
    layout.setdefault("quat_order", "wxyz")
    fps = layout.get("fps")
    if not isinstance(fps, int | float) or isinstance(fps, bool) or fps <= 0:
        raise MotionError(f"{layout['where']}: a CSV layout needs fps (frames per second), "
                          f"got {fps!r}")
    n = len(layout["joints"])
    columns = layout.get("columns") or {"root_pos": [0, 3], "root_quat": [3, 7],
                                        "joint_pos": [7, 7 + n]}
    with open(path, newline="") as f:
        table = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    if table:
        try:
            [float(cell) for cell in table[0]]
        except ValueError:
            table = table[1:]  # a header row
    try:
        rows = np.array([[float(cell) for cell in row] for row in table], dtype=np.float64)
    except ValueError as exc:
        raise MotionError(f"{path}: not a table of numbers ({exc})") from None
    if rows.ndim != 2:
        raise MotionError(f"{path}: rows have different numbers of columns")
    return _clip_from_rows(rows, layout, columns, name=path.stem, fps=float(fps),
                           loop=bool(layout.get("loop", False)),
                           weight=1.0, where=str(path))
