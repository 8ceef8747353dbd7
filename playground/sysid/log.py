"""Reading and checking a joint log (the npz format of `playground.serve.recorder`).

Every fault a log can have is a `LogError` with a one-line message that names the file;
the CLI prints it and exits 2 before anything compiles.
"""

from __future__ import annotations

import dataclasses
import pathlib
import zipfile
from collections.abc import Sequence

import numpy as np

#: Fewer rows than this leave nothing to fit (a step response needs a few periods).
MIN_ROWS = 10
#: Sampling periods may jitter by this fraction of the median period, no more.
MAX_PERIOD_JITTER = 0.25
#: Accepted names of the two main arrays (the in-hand pipeline writes hand_cmd/hand_state).
ALIASES = {"cmd": ("cmd", "hand_cmd"), "state": ("state", "hand_state")}


class LogError(ValueError):
    """A log that cannot be fitted; the message is one line."""


@dataclasses.dataclass(frozen=True)
class JointLog:
    """A checked log: rows at a constant period `dt`, columns named by `joint_names`."""

    cmd: np.ndarray  # [T, J] joint position targets as sent
    state: np.ndarray  # [T, J] measured joint positions
    qvel: np.ndarray | None  # [T, J] measured joint velocities, or None
    dt: float  # seconds per row
    joint_names: tuple[str, ...]
    model_sha256: str | None
    fixed_base: bool | None
    sha256: str  # of the file

    @property
    def num_rows(self) -> int:
        return int(self.cmd.shape[0])

    def columns(self, names: Sequence[str]) -> JointLog:
        """The same log with only the columns `names`, in that order."""
        idx = [self.joint_names.index(n) for n in names]
        return dataclasses.replace(
            self, cmd=self.cmd[:, idx], state=self.state[:, idx],
            qvel=None if self.qvel is None else self.qvel[:, idx], joint_names=tuple(names))


def _pick(data, name: str, path) -> np.ndarray | None:
    found = [alias for alias in ALIASES[name] if alias in data]
    if len(found) > 1:
        raise LogError(f"{path}: both {found[0]!r} and {found[1]!r} given; keep one")
    return np.asarray(data[found[0]]) if found else None


def load_log(path: str | pathlib.Path, model_joints: Sequence[str] | None = None) -> JointLog:
    """Read and check a log; `model_joints`: the names a joint column may carry."""
    from playground.serve.spec import file_sha256

    path = pathlib.Path(path)
    if not path.is_file():
        raise LogError(f"{path}: no such log file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise LogError(f"{path}: not a readable npz log ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else ''})") from None
    cmd, state = _pick(data, "cmd", path), _pick(data, "state", path)
    for name, array in (("cmd", cmd), ("state", state)):
        if array is None:
            raise LogError(f"{path}: no {name!r} array (also accepted: {ALIASES[name][1]!r}); "
                           f"found {sorted(data)}")
    if "joint_names" not in data:
        raise LogError(f"{path}: no 'joint_names' array (one MJCF joint name per column)")
    names = tuple(str(n) for n in np.atleast_1d(data["joint_names"]))
    if cmd.ndim != 2:
        raise LogError(f"{path}: cmd has shape {cmd.shape}; expected [T, J]")
    if state.shape != cmd.shape:
        raise LogError(f"{path}: state {state.shape} and cmd {cmd.shape} differ in shape")
    if len(names) != cmd.shape[1]:
        raise LogError(f"{path}: {len(names)} joint_names for {cmd.shape[1]} columns")
    if len(set(names)) != len(names):
        raise LogError(f"{path}: joint_names repeat a name")
    if model_joints is not None:
        unknown = [n for n in names if n not in model_joints]
        if unknown:
            raise LogError(f"{path}: joint {unknown[0]!r} is not an actuated joint of the model "
                           f"(it has {', '.join(model_joints)})")
    qvel = data.get("qvel")
    if qvel is not None and qvel.shape != cmd.shape:
        raise LogError(f"{path}: qvel {qvel.shape} and cmd {cmd.shape} differ in shape")
    rows = cmd.shape[0]
    if rows < MIN_ROWS:
        raise LogError(f"{path}: {rows} rows; a fit needs at least {MIN_ROWS}")
    for name, array in (("cmd", cmd), ("state", state), ("qvel", qvel)):
        if array is None:
            continue
        if not np.issubdtype(array.dtype, np.number):
            raise LogError(f"{path}: {name} holds {array.dtype}, not numbers")
        bad = ~np.isfinite(array)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise LogError(f"{path}: {name} is not finite at row {row}, joint {names[col]!r}")
    dt = _period(data, rows, path)
    sha = data.get("model_sha256")
    fixed = data.get("fixed_base")
    return JointLog(
        cmd=cmd.astype(np.float64), state=state.astype(np.float64),
        qvel=None if qvel is None else qvel.astype(np.float64), dt=dt, joint_names=names,
        model_sha256=None if sha is None else str(sha),
        fixed_base=None if fixed is None else bool(fixed), sha256=file_sha256(path))


def _period(data, rows: int, path) -> float:
    """The constant sampling period of `time` (or `dt`), after checking it."""
    if ("time" in data) == ("dt" in data):
        raise LogError(f"{path}: give exactly one of 'time' [T] and 'dt'")
    if "dt" in data:
        dt = np.asarray(data["dt"], np.float64)
        if dt.shape != () or not np.isfinite(dt) or dt <= 0:
            raise LogError(f"{path}: dt must be one positive number, got {dt.tolist()}")
        return float(dt)
    t = np.asarray(data["time"], np.float64)
    if t.shape != (rows,):
        raise LogError(f"{path}: time has shape {t.shape}; expected ({rows},)")
    if not np.all(np.isfinite(t)):
        raise LogError(f"{path}: time is not finite at row {int(np.argmin(np.isfinite(t)))}")
    steps = np.diff(t)
    if np.any(steps <= 0):
        row = int(np.argmax(steps <= 0)) + 1
        raise LogError(f"{path}: time is not increasing at row {row} "
                       f"({t[row - 1]:.6g} s then {t[row]:.6g} s)")
    dt = float(np.median(steps))
    jitter = float(np.max(np.abs(steps - dt)))
    if jitter > MAX_PERIOD_JITTER * dt:
        raise LogError(f"{path}: sampling period varies by {jitter * 1e3:.3g} ms around "
                       f"{dt * 1e3:.3g} ms; the replay needs a constant period")
    return dt
