"""Unit quaternions (w, x, y, z), written once for numpy and jax arrays alike.

Each function works on a trailing axis of 4 and keeps the array library of its input:
numpy in, numpy out (clip tools, play); jax in, jax out (envs, features, traced).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def _xp(*arrays):
    """numpy when every input is a numpy array or a Python/numpy scalar, else jax.numpy."""
    plain = (np.ndarray, np.generic, float, int)
    return np if all(isinstance(a, plain) for a in arrays) else jnp


def to_yaw(q):
    """[..., 4] -> [...] heading angle of the body x axis (rad)."""
    xp = _xp(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return xp.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def to_mat(q):
    """[..., 4] -> [..., 3, 3] rotation matrix (body -> world)."""
    xp = _xp(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return xp.stack([xp.stack(row, axis=-1) for row in rows], axis=-2)


def from_yaw(yaw):
    """[...] heading angle -> [..., 4] rotation about the world z axis."""
    xp = _xp(yaw)
    zero = xp.zeros_like(yaw)
    return xp.stack([xp.cos(yaw / 2), zero, zero, xp.sin(yaw / 2)], axis=-1)


def multiply(a, b):
    """[..., 4] Hamilton product a * b (rotate by b, then by a)."""
    xp = _xp(a, b)
    w1, x1, y1, z1 = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    w2, x2, y2, z2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return xp.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], axis=-1)
