"""A fitted.json as the nominal model of training (the robot config key `env.robot.sysid`).

Import-light (json, numpy, mujoco): the env applies the file to its MjModel before
`mjx.put_model`, so domain randomization's scales multiply the fitted values.
"""

from __future__ import annotations

import json
import pathlib

import mujoco
import numpy as np

RESULT_FORMAT = "playground-sysid/1"


class FittedModelError(ValueError):
    """A fitted file that does not belong to this model; the message is one line."""


def load_fitted(path: str | pathlib.Path) -> dict:
    """The content of a fitted.json, its format checked (FittedModelError otherwise)."""
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FittedModelError(f"{path}: no such fitted file") from None
    except (OSError, ValueError) as e:
        raise FittedModelError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT \
            or not isinstance(data.get("joints"), dict):
        raise FittedModelError(f"{path}: not a fitted file of `python -m playground.sysid fit` "
                               f"(format {RESULT_FORMAT})")
    return data


def apply_fitted(model: mujoco.MjModel, path: str | pathlib.Path, model_sha256: str) -> dict:
    """Write the fitted joint values into `model` (in place); the provenance record.

    kp goes into the joint's position actuator as gainprm[0] = kp and biasprm[1] = -kp
    (MuJoCo's position actuator: force = kp ctrl - kp q - kv qdot); damping, frictionloss
    and armature into the joint's dof. A file fitted on another MJCF (sha256) is refused.
    """
    from playground.serve.spec import file_sha256
    from playground.sysid.robot import PARAMS, RobotError, write_params

    path = pathlib.Path(path)
    data = load_fitted(path)
    if data.get("model_sha256") != model_sha256:
        raise FittedModelError(
            f"{path}: fitted on another model (model_sha256 {str(data.get('model_sha256'))[:12]}"
            f"..., this robot's MJCF is {model_sha256[:12]}...); fit again on this model")
    for joint, values in data["joints"].items():
        unknown = [p for p in values if p not in PARAMS]
        if unknown:
            raise FittedModelError(f"{path}: joint {joint!r}: unknown parameter {unknown[0]!r}")
        try:
            model.joint(joint)
        except KeyError:
            raise FittedModelError(f"{path}: joint {joint!r} is not in the model") from None
        params = [p for p in PARAMS if p in values]
        row = np.array([[float(values[p]) for p in params]])
        if not np.all(np.isfinite(row)) or np.any(row < 0):
            raise FittedModelError(f"{path}: joint {joint!r}: values must be finite and >= 0")
        try:
            write_params(model, [joint], row, params)
        except RobotError as e:
            raise FittedModelError(f"{path}: {e}") from None
    return {"path": str(path), "sha256": file_sha256(path), "joints": len(data["joints"])}
