"""The reference-motion clip: one kinematic trajectory of a floating-base robot.

A `MotionClip` is plain numpy and knows nothing about a particular robot model;
`playground.motion.library` maps it onto one (joint order, velocities, forward
kinematics, control rate). The on-disk form is an `.npz` (see docs/motion.md):

    format        str          "playground-motion/1"
    fps           float        frames per second of the arrays below
    joint_names   str [n]      name of each joint_pos / joint_vel column
    root_pos      float [T, 3] floating-base body position, world frame, m
    root_quat     float [T, 4] floating-base orientation body -> world, MuJoCo order w, x, y, z
    joint_pos     float [T, n] joint angles, rad (m for slide joints)
  optional:
    root_linvel   float [T, 3] root linear velocity, WORLD frame, m/s (MuJoCo free-joint qvel[0:3])
    root_angvel   float [T, 3] root angular velocity, BODY frame, rad/s (MuJoCo free-joint qvel[3:6])
    joint_vel     float [T, n] joint velocities, rad/s
    foot_names    str [nf]     body names of foot_pos
    foot_pos      float [T, nf, 3] foot body origins, world frame, m
    model_sha256  str          sha256 of the robot MJCF file the clip was made for
    loop          bool         a cycle: frame T-1 is frame 0's pose one cycle later (root moved
                               and turned by the cycle), so the clip can repeat seamlessly
    weight        float        relative sampling weight of the clip (default 1)
    name          str          a label (default: the file stem)
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

FORMAT = "playground-motion/1"


class MotionError(ValueError):
    """A motion file or clip problem, explained in one line (the CLI exits 2 on it)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


@dataclasses.dataclass
class MotionClip:
    """One clip; arrays are float64 numpy, shapes as in the module docstring."""

    name: str
    fps: float
    joint_names: tuple[str, ...]
    root_pos: np.ndarray
    root_quat: np.ndarray
    joint_pos: np.ndarray
    root_linvel: np.ndarray | None = None
    root_angvel: np.ndarray | None = None
    joint_vel: np.ndarray | None = None
    foot_names: tuple[str, ...] = ()
    foot_pos: np.ndarray | None = None
    model_sha256: str | None = None
    loop: bool = False
    weight: float = 1.0

    @property
    def num_frames(self) -> int:
        return int(self.root_pos.shape[0])

    @property
    def duration(self) -> float:
        """Seconds covered, (T - 1) / fps (for a looping clip: one period)."""
        return (self.num_frames - 1) / self.fps

    def has_velocities(self) -> bool:
        return all(v is not None for v in (self.root_linvel, self.root_angvel, self.joint_vel))

    def validate(self) -> MotionClip:
        """Check shapes, finiteness and units; normalize quaternions. Raises MotionError."""
        where = f"motion clip {self.name!r}"
        fps = self.fps
        if fps is None or not np.isfinite(fps) or fps <= 0:
            raise MotionError(f"{where}: fps must be a positive number, got {fps!r}")
        n = len(self.joint_names)
        if len(set(self.joint_names)) != n:
            raise MotionError(f"{where}: duplicate joint names in {list(self.joint_names)}")
        for field, width in (("root_pos", 3), ("root_quat", 4), ("joint_pos", n)):
            arr = getattr(self, field)
            if arr is None:
                raise MotionError(f"{where}: missing {field}")
            arr = np.asarray(arr, np.float64)
            if arr.ndim != 2 or arr.shape[1] != width:
                raise MotionError(f"{where}: {field} has shape {arr.shape}, expected [T, {width}]")
            setattr(self, field, arr)
        frames = self.root_pos.shape[0]
        if frames < 2:
            raise MotionError(f"{where}: {frames} frame(s); a clip needs at least 2")
        optional = {"root_linvel": (frames, 3), "root_angvel": (frames, 3), "joint_vel": (frames, n)}
        if self.foot_pos is not None:
            optional["foot_pos"] = (frames, len(self.foot_names), 3)
        arrays = {"root_pos": self.root_pos, "root_quat": self.root_quat, "joint_pos": self.joint_pos}
        for field, shape in optional.items():
            arr = getattr(self, field)
            if arr is None:
                continue
            arr = np.asarray(arr, np.float64)
            if arr.shape != shape:
                raise MotionError(f"{where}: {field} has shape {arr.shape}, expected {list(shape)}")
            setattr(self, field, arr)
            arrays[field] = arr
        if (self.root_pos.shape[0], self.root_quat.shape[0], self.joint_pos.shape[0]) != (frames,) * 3:
            raise MotionError(f"{where}: root_pos, root_quat and joint_pos differ in frame count")
        for field, arr in arrays.items():
            if not np.isfinite(arr).all():
                bad = int(np.argwhere(~np.isfinite(arr))[0][0])
                raise MotionError(f"{where}: non-finite value in {field} (first at frame {bad})")
        norms = np.linalg.norm(self.root_quat, axis=1)
        if np.any(np.abs(norms - 1.0) > 0.05):
            worst = int(np.argmax(np.abs(norms - 1.0)))
            raise MotionError(
                f"{where}: root_quat is not a unit quaternion (norm {norms[worst]:.3f} at frame "
                f"{worst}); check the quaternion order"
            )
        self.root_quat = self.root_quat / norms[:, None]
        if not np.isfinite(self.weight) or self.weight <= 0:
            raise MotionError(f"{where}: weight must be positive, got {self.weight!r}")
        return self


def save_npz(clip: MotionClip, path: str | pathlib.Path) -> pathlib.Path:
    """Write `clip` in the npz format of the module docstring; returns the path."""
    clip.validate()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "format": np.array(FORMAT),
        "name": np.array(clip.name),
        "fps": np.array(float(clip.fps)),
        "joint_names": np.array(clip.joint_names, dtype=str),
        "root_pos": clip.root_pos,
        "root_quat": clip.root_quat,
        "joint_pos": clip.joint_pos,
        "loop": np.array(bool(clip.loop)),
        "weight": np.array(float(clip.weight)),
    }
    for field in ("root_linvel", "root_angvel", "joint_vel"):
        if getattr(clip, field) is not None:
            data[field] = getattr(clip, field)
    if clip.foot_pos is not None:
        data["foot_names"] = np.array(clip.foot_names, dtype=str)
        data["foot_pos"] = clip.foot_pos
    if clip.model_sha256:
        data["model_sha256"] = np.array(clip.model_sha256)
    with open(path, "wb") as f:  # np.savez would append ".npz" to a path without it
        np.savez_compressed(f, **data)
    return path


def load_npz(path: str | pathlib.Path) -> MotionClip:
    """Read and validate an npz clip. Raises MotionError / FileNotFoundError in one line."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except Exception as exc:  # a truncated zip, a pickle inside, not an npz at all
        raise MotionError(f"{path}: not a readable npz motion file ({exc})") from None
    fmt = str(data.get("format", FORMAT))
    if fmt != FORMAT:
        raise MotionError(f"{path}: format {fmt!r}, expected {FORMAT!r}")
    for key in ("joint_names", "root_pos", "root_quat", "joint_pos"):
        if key not in data:
            raise MotionError(f"{path}: missing field {key!r}")
    if "fps" not in data:
        raise MotionError(f"{path}: missing field 'fps' (frames per second)")
    try:
        fps = float(data["fps"])
    except (TypeError, ValueError):
        raise MotionError(f"{path}: fps must be a number, got {data['fps']!r}") from None
    try:
        clip = _clip_from_fields(data, path, fps)
    except (TypeError, ValueError) as exc:  # a field of the wrong kind (text for numbers)
        raise MotionError(f"{path}: malformed field ({exc})") from None
    try:
        return clip.validate()
    except MotionError as exc:
        raise MotionError(f"{path}: {exc}") from None


def _clip_from_fields(data: dict, path: pathlib.Path, fps: float) -> MotionClip:
    def optional(key):
        return np.asarray(data[key], np.float64) if key in data else None

    return MotionClip(
        name=str(data["name"]) if "name" in data else path.stem,
        fps=fps,
        joint_names=tuple(str(n) for n in np.atleast_1d(data["joint_names"])),
        root_pos=np.asarray(data["root_pos"], np.float64),
        root_quat=np.asarray(data["root_quat"], np.float64),
        joint_pos=np.asarray(data["joint_pos"], np.float64),
        root_linvel=optional("root_linvel"),
        root_angvel=optional("root_angvel"),
        joint_vel=optional("joint_vel"),
        foot_names=tuple(str(n) for n in np.atleast_1d(data.get("foot_names", np.array([], str)))),
        foot_pos=optional("foot_pos"),
        model_sha256=str(data["model_sha256"]) if "model_sha256" in data else None,
        loop=bool(data.get("loop", False)),
        weight=float(data.get("weight", 1.0)),
    )
