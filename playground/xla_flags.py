"""XLA:CPU options the product needs, set in the environment before jax starts its backend.

`--xla_cpu_use_fusion_emitters=false`: jax >= 0.7's CPU fusion emitters duplicate work along
MJX's body-tree scans, so a model's step costs grow exponentially with its kinematic depth
(jax-ml/jax#33761). Measured here (jax 0.9.2 and 0.10.2, 8 envs): a 7-hinge chain's
kinematics 62 -> 61,194 calls per CPU-second; the 7-DOF arm's MJX step 18 -> 8,029; the
humanoid's 5,384 -> 5,977, with its compile 45 -> 28 CPU-s. benchmarks/RESULTS.md has the
figures. A user's own `XLA_FLAGS` that names the option wins.

Environment only: no jax import here. It takes effect when set before the first jax
computation of the process, which is why `playground/__init__.py` applies it.
"""

from __future__ import annotations

import os

FUSION_EMITTERS = "xla_cpu_use_fusion_emitters"
CPU_FLAGS = {FUSION_EMITTERS: "false"}


def apply(environ=os.environ) -> str:
    """Append each of CPU_FLAGS to XLA_FLAGS unless the variable already names it."""
    flags = environ.get("XLA_FLAGS", "")
    for name, value in CPU_FLAGS.items():
        if f"--{name}" not in flags:
            flags = f"{flags} --{name}={value}".strip()
    environ["XLA_FLAGS"] = flags
    return flags
