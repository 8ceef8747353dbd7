"""AMP features: what the discriminator sees of one state, for clips and rollouts alike.

One pure function, `compute_features(spec, qpos, qvel, foot_pos)`, serves both the
reference frames of a `MotionLibrary` and the policy's env states (`data.qpos`,
`data.qvel` of the pre-reset next state), so the two can never drift apart.
It lives with the AMP agent (not in `playground.motion`) because it defines the
discriminator's input, while `motion/` only reads and writes clips.

Feature vector, in this order (each part optional, from the `amp.features` options):
    root_height,   # 1   root z, m
    orientation,   # 6   root x and z axes in the heading frame (tangent, normal)
    linvel,        # 3   root linear velocity in the heading frame, m/s
    angvel,        # 3   root angular velocity in the heading frame, rad/s
    joint_pos,     # n   actuated joint positions, rad
    joint_vel,     # n   actuated joint velocities, rad/s
    foot_pos,      # 3nf foot body positions relative to the root, heading frame, m
The heading frame is the world frame turned by the root's yaw (the heading of its x
axis): z up, x the root's forward direction projected on the ground, so every part
is blind to where the robot is and which way it faces.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from playground import quaternion
from playground.tasks.mjx_compat import mjx

DEFAULT_OPTIONS = {
    "root_height": True,
    "orientation": True,
    "linvel": True,
    "angvel": True,
    "joint_pos": True,
    "joint_vel": True,
    "foot_pos": False,
}


class FeatureError(ValueError):
    """A bad feature option, in one line (the CLI exits 2 on it)."""


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """Static description of the feature vector (hashable, safe to close over in jit)."""

    root_qpos: int  # qpos address of the free joint
    root_dof: int  # dof address of the free joint
    joint_qpos: tuple[int, ...]  # qpos address of each actuated joint
    joint_dof: tuple[int, ...]  # dof address of each actuated joint
    num_feet: int
    root_height: bool = True
    orientation: bool = True
    linvel: bool = True
    angvel: bool = True
    joint_pos: bool = True
    joint_vel: bool = True
    foot_pos: bool = False

    @property
    def layout(self) -> list[tuple[str, int]]:
        """[(name, size)] of the enabled parts, in vector order."""
        n = len(self.joint_qpos)
        sizes = [("root_height", 1), ("orientation", 6), ("linvel", 3), ("angvel", 3),
                 ("joint_pos", n), ("joint_vel", n), ("foot_pos", 3 * self.num_feet)]
        return [(name, size) for name, size in sizes if getattr(self, name)]

    @property
    def size(self) -> int:
        return sum(size for _, size in self.layout)


def make_feature_spec(robot, options: Mapping[str, bool] | None = None) -> FeatureSpec:
    """Spec for a `playground.motion.library.RobotKinematics` (or anything with
    root_qpos, root_dof, qpos_idx, qvel_idx, foot_ids) and `amp.features` options."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise FeatureError(f"unknown amp.features option(s) {unknown}; known: {list(DEFAULT_OPTIONS)}")
    merged = {**DEFAULT_OPTIONS, **options}
    for key, value in merged.items():
        if not isinstance(value, bool):
            raise FeatureError(f"amp.features.{key} must be true or false, got {value!r}")
    if not any(merged.values()):
        raise FeatureError("amp.features: every part is off; enable at least one")
    return FeatureSpec(
        root_qpos=int(robot.root_qpos), root_dof=int(robot.root_dof),
        joint_qpos=tuple(int(i) for i in robot.qpos_idx),
        joint_dof=tuple(int(i) for i in robot.qvel_idx),
        num_feet=len(robot.foot_ids), **merged,
    )


def heading_rotation(rot: jax.Array) -> jax.Array:
    """[..., 3, 3] world -> heading frame: the inverse of the yaw of `rot`'s x axis."""
    yaw = jnp.arctan2(rot[..., 1, 0], rot[..., 0, 0])
    c, s = jnp.cos(yaw), jnp.sin(yaw)
    zero, one = jnp.zeros_like(yaw), jnp.ones_like(yaw)
    return jnp.stack([
        jnp.stack([c, s, zero], -1),
        jnp.stack([-s, c, zero], -1),
        jnp.stack([zero, zero, one], -1),
    ], axis=-2)


def compute_features(spec: FeatureSpec, qpos: jax.Array, qvel: jax.Array,
                     foot_pos: jax.Array | None = None) -> jax.Array:
    """[..., F] AMP features of states qpos [..., nq], qvel [..., nv], foot_pos [..., nf, 3].

    MuJoCo conventions: free-joint quaternion w, x, y, z; linear velocity in the world
    frame, angular velocity in the body frame; foot_pos in the world frame (only read
    when `spec.foot_pos`).
    """
    r, d = spec.root_qpos, spec.root_dof
    root_pos = qpos[..., r : r + 3]
    rot = quaternion.to_mat(qpos[..., r + 3 : r + 7])  # [..., 3, 3] body -> world
    to_heading = heading_rotation(rot)  # [..., 3, 3] world -> heading
    body_to_heading = to_heading @ rot
    parts = []
    if spec.root_height:
        parts.append(root_pos[..., 2:3])  # 1
    if spec.orientation:
        parts += [body_to_heading[..., :, 0], body_to_heading[..., :, 2]]  # 6: x, z axes
    if spec.linvel:
        parts.append(jnp.einsum("...ij,...j->...i", to_heading, qvel[..., d : d + 3]))  # 3
    if spec.angvel:
        parts.append(jnp.einsum("...ij,...j->...i", body_to_heading, qvel[..., d + 3 : d + 6]))  # 3
    if spec.joint_pos:
        parts.append(qpos[..., jnp.array(spec.joint_qpos)])  # n
    if spec.joint_vel:
        parts.append(qvel[..., jnp.array(spec.joint_dof)])  # n
    if spec.foot_pos:
        if foot_pos is None:
            raise FeatureError("amp.features.foot_pos is on but no foot positions were given")
        rel = foot_pos - root_pos[..., None, :]  # [..., nf, 3] world
        local = jnp.einsum("...ij,...fj->...fi", to_heading, rel)
        parts.append(local.reshape(local.shape[:-2] + (3 * spec.num_feet,)))  # 3 nf
    return jnp.concatenate(parts, axis=-1).astype(jnp.float32)


def compute_transition_features(spec: FeatureSpec, data, next_data, foot_pos=None,
                                next_foot_pos=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Policy (s, s') features of one batched env step, and which pairs are usable.

    `data` is the state the action was applied to (after the previous auto-reset) and
    `next_data` the step's PRE-reset result (`wrappers.step_batch` output, before
    `autoreset`), so a pair never spans a reset. Returns s [B, F], s' [B, F] and
    valid [B] float32: 0 where either side is non-finite (an env the NaN guard ended).
    """
    feats = compute_features(spec, data.qpos, data.qvel, foot_pos)
    next_feats = compute_features(spec, next_data.qpos, next_data.qvel, next_foot_pos)
    valid = jnp.all(jnp.isfinite(feats), axis=-1) & jnp.all(jnp.isfinite(next_feats), axis=-1)
    zero = jnp.zeros_like(feats)
    mask = valid[..., None]
    return (jnp.where(mask, feats, zero), jnp.where(mask, next_feats, zero),
            valid.astype(jnp.float32))


def compute_reference_table(spec: FeatureSpec, library) -> jax.Array:
    """[C, L, F] features of every frame of a `MotionLibrary` (padding frames included).

    The clips never change during a run, so the learner computes this once and each
    iteration only gathers rows (`sample_reference_features`)."""
    return compute_features(spec, library.qpos, library.qvel, library.foot_pos)


def sample_reference_features(spec: FeatureSpec, library, key: jax.Array, batch: int,
                              table: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """[B, F] reference s and s' features drawn from a `MotionLibrary` (jittable).

    table: `compute_reference_table(spec, library)`, computed here when None."""
    from playground.motion.library import sample_pair_indices

    if table is None:
        table = compute_reference_table(spec, library)
    clip, t, t_next = sample_pair_indices(library, key, batch)
    return table[clip, t], table[clip, t_next]


def make_reference(env, motion_files=(), *, layout=None, feature_options=None):
    """(MotionLibrary, FeatureSpec) for a `LocomotionEnv`, from `amp.motion_files`-style
    entries (empty: the robot's shipped clips in `motions/` beside its MJCF), at the
    env's control rate. Raises MotionError / FeatureError / FileNotFoundError in one line."""
    from playground.motion.library import (
        build_motion_library,
        default_motion_dir,
        load_motion_files,
        robot_from_env,
    )

    robot = robot_from_env(env)
    spec = make_feature_spec(robot, feature_options)
    clips = load_motion_files(list(motion_files), default_dir=default_motion_dir(env.xml_path),
                              layout=layout)
    return build_motion_library(clips, robot, env.ctrl_dt), spec


def env_foot_positions(mjx_model, data, foot_ids) -> jax.Array:
    """[nf, 3] world foot positions consistent with `data.qpos` (one mjx kinematics pass).

    `data.xpos` after `mjx.step` belongs to the qpos *before* the last integration, so
    it lags `data.qpos` by one physics step; recompute when `foot_pos` features are on.
    """
    return mjx.kinematics(mjx_model, data).xpos[jnp.asarray(foot_ids)]


# --------------------------------------------------------------------------- normalizer
# brax's running statistics (imported after mjx_compat, which keeps mjx's import quiet)
from brax.training.acme import running_statistics  # noqa: E402

from playground.algorithms.ppo.networks import init_running_statistics  # noqa: E402


def init_feature_normalizer(size: int) -> running_statistics.RunningStatisticsState:
    """Running mean/std of AMP features (zero mean, unit std before any update)."""
    return init_running_statistics(jnp.zeros((size,), jnp.float32))


#: floor on the normalizer's std (m, rad, m/s, rad/s alike): a feature the reference
#: never moves (an arm joint every clip holds still) would otherwise turn the policy's
#: smallest deviation into a huge, trivially separable input and saturate the
#: discriminator at once
FEATURE_STD_MIN = 0.05


def update_feature_normalizer(state: running_statistics.RunningStatisticsState,
                              reference: jax.Array, policy: jax.Array,
                              std_min: float = FEATURE_STD_MIN,
                              policy_weights: jax.Array | None = None,
                              ) -> running_statistics.RunningStatisticsState:
    """Update with reference [Br, F] and policy [Bp, F] features together, so both
    sides are scaled by the same statistics (the discriminator sees one input space).
    policy_weights [Bp]: 0 leaves a policy row out (None: every row counts)."""
    batch = jnp.concatenate([reference, policy], axis=0)
    if policy_weights is None:
        return running_statistics.update(state, batch, std_min_value=std_min)
    weights = jnp.concatenate([jnp.ones((reference.shape[0],), jnp.float32),
                               policy_weights.astype(jnp.float32)])
    return running_statistics.update(state, batch, weights=weights, std_min_value=std_min)


def normalize_features(state: running_statistics.RunningStatisticsState, features: jax.Array,
                       clip: float | None = 10.0) -> jax.Array:
    """[..., F] features scaled by the shared running statistics (and clipped)."""
    return running_statistics.normalize(features, state, max_abs_value=clip)
