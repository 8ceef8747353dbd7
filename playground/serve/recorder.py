"""Joint logs for system identification, written on the robot (numpy only).

One row per control period: the time, the joint position targets sent to the actuators
(`cmd`), the measured joint positions (`state`) and, when known, velocities (`qvel`).
`python -m playground.sysid fit --log LOG.npz` reads the file; its format is in
docs/sysid.md:

    cmd          [T, J] float64  joint position targets as sent (rad or m)
    state        [T, J] float64  measured joint positions at `time`
    qvel         [T, J] float64  measured joint velocities (optional)
    time         [T]    float64  seconds, strictly increasing (or a scalar `dt`)
    joint_names  [J]    str      the MJCF joint names, in column order
    model_sha256 str             sha256 of the robot MJCF (optional, checked by the fit)
    fixed_base   bool            the floating base was held (a robot on a stand; optional)
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence

import numpy as np


def write_log(path: str | pathlib.Path, *, cmd, state, joint_names: Sequence[str], time=None,
              dt: float | None = None, qvel=None, model_sha256: str | None = None,
              fixed_base: bool | None = None) -> pathlib.Path:
    """Write one log (see the module docstring); exactly one of `time` and `dt` is given."""
    if (time is None) == (dt is None):
        raise ValueError("write_log: give exactly one of time and dt")
    fields = {
        "cmd": np.asarray(cmd, np.float64),
        "state": np.asarray(state, np.float64),
        "joint_names": np.asarray(list(joint_names), dtype=str),
    }
    if time is not None:
        fields["time"] = np.asarray(time, np.float64)
    else:
        fields["dt"] = np.float64(dt)
    if qvel is not None:
        fields["qvel"] = np.asarray(qvel, np.float64)
    if model_sha256 is not None:
        fields["model_sha256"] = np.asarray(model_sha256)
    if fixed_base is not None:
        fields["fixed_base"] = np.asarray(bool(fixed_base))
    path = pathlib.Path(path)
    with open(path, "wb") as f:  # a file object: np.savez would append .npz to other names
        np.savez(f, **fields)
    return path


class LogRecorder:
    """Collects rows in a control loop and writes them with `save`.

        recorder = LogRecorder(spec["joint_names"], model_sha256=spec["robot_xml_sha256"])
        every period: recorder.record(measured_joint_pos, targets_sent, joint_vel)
        recorder.save("log.npz")

    `clock` gives the time of a row (default: time.monotonic; a simulator passes its own).
    """

    def __init__(self, joint_names: Sequence[str], *, model_sha256: str | None = None,
                 fixed_base: bool | None = None, clock: Callable[[], float] = time.monotonic):
        self.joint_names = list(joint_names)
        self.model_sha256, self.fixed_base, self.clock = model_sha256, fixed_base, clock
        self.time: list[float] = []
        self.cmd: list[np.ndarray] = []
        self.state: list[np.ndarray] = []
        self.qvel: list[np.ndarray] = []

    @classmethod
    def for_spec(cls, spec: dict, clock: Callable[[], float] = time.monotonic) -> LogRecorder:
        """A recorder of a policy spec's joints (actuator order) and robot MJCF hash."""
        return cls(spec["joint_names"], model_sha256=spec.get("robot_xml_sha256"), clock=clock)

    def __len__(self) -> int:
        return len(self.time)

    def record(self, state, cmd, qvel=None) -> None:
        """One row: the joint positions measured now and the targets sent now."""
        n = len(self.joint_names)
        state, cmd = np.asarray(state, np.float64).copy(), np.asarray(cmd, np.float64).copy()
        if state.shape != (n,) or cmd.shape != (n,):
            raise ValueError(f"LogRecorder.record: state {state.shape} and cmd {cmd.shape} "
                             f"must both be ({n},), one value per joint name")
        if qvel is None and self.qvel:
            raise ValueError("LogRecorder.record: qvel given in earlier rows, missing now")
        self.time.append(float(self.clock()))
        self.state.append(state)
        self.cmd.append(cmd)
        if qvel is not None:
            self.qvel.append(np.asarray(qvel, np.float64).copy())

    def save(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write the rows recorded so far (see `write_log`)."""
        if not self.time:
            raise ValueError("LogRecorder.save: nothing recorded")
        return write_log(path, cmd=np.stack(self.cmd), state=np.stack(self.state),
                         joint_names=self.joint_names, time=np.asarray(self.time),
                         qvel=np.stack(self.qvel) if self.qvel else None,
                         model_sha256=self.model_sha256, fixed_base=self.fixed_base)
