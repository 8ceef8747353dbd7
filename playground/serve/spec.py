"""The policy spec as the robot side reads it: hash and observation layout (no JAX).

The trainer writes the spec (`playground/policy_spec.py`); this module is the one
definition of its hash, shared by the trainer, the export and the shim, so a client
and a server agree on a contract without re-typing any of it.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any

#: Fields that may differ between two checkpoints of one contract.
VOLATILE_FIELDS = ("normalizer", "provenance", "config_sha256", "robot_xml")


def file_sha256(path: str | pathlib.Path) -> str:
    """Hex sha256 of a file's bytes (robot models, bundle files, the lock file)."""
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def spec_hash(spec: dict) -> str:
    """Hash of the contract itself (normalizer values and provenance excluded)."""
    contract = {k: v for k, v in spec.items() if k not in VOLATILE_FIELDS}
    contract["normalizer_layout"] = {k: spec["normalizer"][k] for k in ("enabled", "eps", "clip")}
    return hashlib.sha256(json.dumps(contract, sort_keys=True).encode()).hexdigest()


def observation_frame(spec: dict) -> tuple[list[dict[str, Any]], int, int]:
    """(frame fields with start/size/scale, frame size, history length) of the actor input.

    Locomotion specs describe `observation.frame` (+ history); simple tasks
    (cart-pole) give a flat `observation_layout` without history.
    """
    if "observation" in spec:
        obs = spec["observation"]
        fields = [dict(f) for f in obs["frame"]]
        return fields, int(obs["frame_size"]), int(obs.get("history", 1))
    fields, start = [], 0
    for entry in spec["observation_layout"]:
        fields.append({**entry, "start": start})
        start += int(entry["size"])
    return fields, start, 1


def action_size(spec: dict) -> int:
    """Number of policy outputs (one per actuator)."""
    return int(spec["action"]["size"]) if "action" in spec else int(spec["action_size"])
