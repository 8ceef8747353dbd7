"""Assemble the actor observation from named sensor readings, using only the spec.

The robot side (and sim2sim) never re-types a constant: field order, sizes, scales,
the default pose that joint positions are measured from, the history length and
order, the gait clock's frequency and the control period all come from the spec.

    builder = ObservationBuilder(spec)
    obs = builder.reset({"gyro": ..., "gravity": ..., "joint_pos": ..., ...})
    ...                                  # each control period:
    builder.set_last_action(action)      # what the policy answered (in [-1, 1])
    obs = builder.step(readings)

Readings are raw sensor values: `joint_pos` is the measured joint angle (the builder
subtracts the spec's `default_pose`); `last_action` and `phase` are kept by the builder
(pass them to override).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from playground.serve.spec import action_size, observation_frame

#: Frame fields measured relative to the spec's `default_pose`.
RELATIVE_TO_DEFAULT_POSE = ("joint_pos",)
#: Frame fields the builder keeps itself (a reading overrides them).
KEPT_BY_BUILDER = ("last_action", "phase")


class ObservationError(ValueError):
    """Readings that do not fit the spec; the message is one line."""


class ObservationBuilder:
    """Stateful builder of the policy input (history, last action, gait clock)."""

    def __init__(self, spec: dict):
        self.fields, self.frame_size, self.history = observation_frame(spec)
        self.size = self.frame_size * self.history
        self.action_size = action_size(spec)
        pose = spec.get("default_pose")
        self.default_pose = None if pose is None else np.asarray(pose, np.float32)
        obs = spec.get("observation", {})
        self.gait_frequency = obs.get("gait_frequency_hz") or 0.0
        self.ctrl_dt = float(spec["ctrl_dt"])
        self.last_action = np.zeros(self.action_size, np.float32)
        self.phase = 0.0
        self._history = np.zeros((self.history, self.frame_size), np.float32)
        self.names = [f["name"] for f in self.fields]

    def required_readings(self) -> list[str]:
        """Names the caller must give at every step."""
        return [n for n in self.names if n not in KEPT_BY_BUILDER]

    def frame(self, readings: Mapping[str, object]) -> np.ndarray:
        """One frame [frame_size] from readings alone (last_action/phase must be given).

        `phase` may be given as the angle (1 value, rad) or as [sin, cos].
        """
        frame = np.empty(self.frame_size, np.float32)
        missing = [n for n in self.names if n not in readings]
        if missing:
            raise ObservationError(f"missing readings: {', '.join(missing)}")
        for field in self.fields:
            name, start, size = field["name"], int(field["start"]), int(field["size"])
            value = readings[name]
            try:
                value = np.asarray(value, np.float32).reshape(-1)
            except (TypeError, ValueError):
                raise ObservationError(f"{name}: not a vector of numbers") from None
            if name == "phase" and value.size == 1 and size == 2:
                value = np.array([math.sin(value[0]), math.cos(value[0])], np.float32)
            if value.size != size:
                raise ObservationError(f"{name}: {value.size} values, the spec says {size}")
            if not np.all(np.isfinite(value)):
                raise ObservationError(f"{name}: non-finite value")
            if name in RELATIVE_TO_DEFAULT_POSE and self.default_pose is not None:
                value = value - self.default_pose
            frame[start:start + size] = value * np.float32(field.get("scale", 1.0))
        return frame

    def _with_kept(self, readings: Mapping[str, object]) -> dict:
        full = dict(readings)
        if "last_action" in self.names:
            full.setdefault("last_action", self.last_action)
        if "phase" in self.names:
            full.setdefault("phase", [self.phase])
        return full

    def reset(self, readings: Mapping[str, object], phase: float = 0.0) -> np.ndarray:
        """First observation: last action zero, gait clock at `phase`, history all this frame."""
        self.last_action[:] = 0.0
        self.phase = float(phase)
        self._history[:] = self.frame(self._with_kept(readings))
        return self._history.reshape(-1).copy()

    def step(self, readings: Mapping[str, object]) -> np.ndarray:
        """Next observation: advance the gait clock one control period, push a frame."""
        if self.gait_frequency:
            self.phase = (self.phase + 2 * math.pi * self.gait_frequency * self.ctrl_dt) % (2 * math.pi)
        frame = self.frame(self._with_kept(readings))
        self._history[1:] = self._history[:-1].copy()
        self._history[0] = frame
        return self._history.reshape(-1).copy()

    def set_last_action(self, action) -> None:
        """Record the policy's output (clipped to [-1, 1], as the env does) for the next frame."""
        self.last_action[:] = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
