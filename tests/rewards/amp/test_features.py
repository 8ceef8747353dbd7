"""AMP features: heading-frame math by hand, one function for clips and env states,
and the shared running normalizer."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import config
from playground.motion.generate import MODEL_XML
from playground.motion.library import (
    build_motion_library,
    default_motion_dir,
    load_motion_files,
    robot_from_env,
)
from playground.rewards.amp.features import (
    FeatureError,
    compute_features,
    compute_transition_features,
    env_foot_positions,
    init_feature_normalizer,
    make_feature_spec,
    make_reference,
    normalize_features,
    sample_reference_features,
    update_feature_normalizer,
)
from playground.tasks import registry
from playground.tasks.mjx_compat import mjx


@pytest.fixture(scope="module")
def env():
    cfg = config.resolve(None, [("env.task", "humanoid_walk")])
    return registry.get_task("humanoid_walk").make_env(cfg)


@pytest.fixture(scope="module")
def robot(env):
    return robot_from_env(env)


def _quat(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.array([math.cos(angle / 2), *(math.sin(angle / 2) * axis)])


def _mul(a, b):
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def test_heading_frame_by_hand(robot):
    """Root yawed 0.7 rad then pitched 0.2 rad (R = Rz(0.7) Ry(0.2)), at (1, 2, 0.25).

    Heading frame = world turned by -0.7 about z, so R_heading = Ry(0.2):
      x axis (cos .2, 0, -sin .2) = (0.980067, 0, -0.198669)
      z axis (sin .2, 0, cos .2)  = (0.198669, 0, 0.980067)
    World linear velocity (1, 0, 0) -> heading (cos .7, -sin .7, 0) = (0.764842, -0.644218, 0).
    Body angular velocity (0, 0, 1) -> heading Ry(0.2) (0, 0, 1) = (0.198669, 0, 0.980067).
    A foot at world (1, 2, 0.25) + Rz(0.7) (0.1, 0.05, -0.2) sits at (0.1, 0.05, -0.2)
    from the root in the heading frame.
    """
    spec = make_feature_spec(robot, {"joint_pos": False, "joint_vel": False, "foot_pos": True})
    assert spec.layout == [("root_height", 1), ("orientation", 6), ("linvel", 3), ("angvel", 3),
                           ("foot_pos", 6)]
    nq, nv = robot.mj_model.nq, robot.mj_model.nv
    qpos = np.zeros(nq)
    qpos[0:3] = [1.0, 2.0, 0.25]
    qpos[3:7] = _mul(_quat([0, 0, 1], 0.7), _quat([0, 1, 0], 0.2))
    qvel = np.zeros(nv)
    qvel[0:3] = [1.0, 0.0, 0.0]
    qvel[3:6] = [0.0, 0.0, 1.0]
    c, s = math.cos(0.7), math.sin(0.7)
    offset = np.array([c * 0.1 - s * 0.05, s * 0.1 + c * 0.05, -0.2])
    feet = np.stack([qpos[0:3] + offset, qpos[0:3]])
    f = np.asarray(compute_features(spec, jnp.asarray(qpos), jnp.asarray(qvel), jnp.asarray(feet)))
    expected = [0.25,
                0.980067, 0, -0.198669, 0.198669, 0, 0.980067,
                0.764842, -0.644218, 0,
                0.198669, 0, 0.980067,
                0.1, 0.05, -0.2, 0, 0, 0]
    np.testing.assert_allclose(f, expected, atol=1e-5)


def test_features_ignore_where_the_robot_is_and_faces(robot):
    spec = make_feature_spec(robot, {"foot_pos": True})
    rng = np.random.default_rng(0)
    nq, nv = robot.mj_model.nq, robot.mj_model.nv
    qpos = rng.normal(size=nq)
    qpos[3:7] /= np.linalg.norm(qpos[3:7])
    qvel, feet = rng.normal(size=nv), rng.normal(size=(2, 3))
    turn, shift = 1.3, np.array([0.4, -2.0, 0.0])
    c, s = math.cos(turn), math.sin(turn)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    moved_q, moved_v = qpos.copy(), qvel.copy()
    moved_q[0:3] = rz @ qpos[0:3] + shift
    moved_q[3:7] = _mul(_quat([0, 0, 1], turn), qpos[3:7])
    moved_v[0:3] = rz @ qvel[0:3]  # world-frame linear velocity turns; body angvel does not
    moved_feet = feet @ rz.T + shift
    a = compute_features(spec, jnp.asarray(qpos), jnp.asarray(qvel), jnp.asarray(feet))
    b = compute_features(spec, jnp.asarray(moved_q), jnp.asarray(moved_v), jnp.asarray(moved_feet))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_clip_played_back_in_the_env_gives_the_clip_features(env, robot):
    """Reference frames written into the env's own mjx Data (then mjx kinematics, as a
    rollout state has it) give the same features as the library's arrays, and agree
    with the env's own sensors (heading-frame velocity, height, joint angles)."""
    folder = default_motion_dir(MODEL_XML)
    clips = load_motion_files([str(folder / "walk_0.3.npz"), str(folder / "walk_0.2_turn_left.npz")])
    library = build_motion_library(clips, robot, env.ctrl_dt)
    spec = make_feature_spec(robot, {"foot_pos": True})
    frames = np.arange(0, 97, 8)
    qpos = library.qpos[:, frames].reshape(-1, robot.mj_model.nq)
    qvel = library.qvel[:, frames].reshape(-1, robot.mj_model.nv)
    feet = library.foot_pos[:, frames].reshape(-1, 2, 3)
    reference = compute_features(spec, qpos, qvel, feet)

    def played(q, v):
        data = mjx.make_data(env.mjx_model).replace(qpos=q, qvel=v)
        pos = env_foot_positions(env.mjx_model, data, env.feet)
        return compute_features(spec, data.qpos, data.qvel, pos), env._sensors(data)

    from_env, sensors = jax.jit(jax.vmap(played))(qpos, qvel)
    np.testing.assert_allclose(np.asarray(from_env), np.asarray(reference), atol=1e-5)
    sizes = dict(spec.layout)
    assert sizes["joint_pos"] == 17 and reference.shape[1] == spec.size == 53
    # layout: height 1, orientation 6, linvel 3 (from column 7), angvel 3, joints 17 (from 13)
    np.testing.assert_allclose(np.asarray(reference[:, 7:10]), np.asarray(sensors["linvel"]),
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(reference[:, 0]), np.asarray(sensors["height"]), atol=1e-6)
    joints = np.asarray(reference[:, 13 : 13 + 17])
    np.testing.assert_allclose(joints - env.home_joints, np.asarray(sensors["joint_pos"]), atol=1e-6)


def test_shared_normalizer_by_hand():
    # reference [0, 2] and policy [4, 6] in feature 0; feature 1 is [1, 1, 1, 5]
    # together: mean (3, 2), population std (sqrt(5), sqrt(3))
    #   feature 0: ((-3)^2 + (-1)^2 + 1^2 + 3^2) / 4 = 5
    #   feature 1: (1 + 1 + 1 + 9) / 4 = 3
    state = init_feature_normalizer(2)
    reference = jnp.array([[0.0, 1.0], [2.0, 1.0]])
    policy = jnp.array([[4.0, 1.0], [6.0, 5.0]])
    state = update_feature_normalizer(state, reference, policy)
    np.testing.assert_allclose(np.asarray(state.mean), [3.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(np.asarray(state.std), [math.sqrt(5), math.sqrt(3)], atol=1e-5)
    out = normalize_features(state, jnp.array([3 + math.sqrt(5), 2 - 2 * math.sqrt(3)]))
    np.testing.assert_allclose(np.asarray(out), [1.0, -2.0], atol=1e-5)
    # a constant feature is floored at std 0.05, not blown up by 1e6, and clipped at 10:
    # 1.1 -> (1.1 - 1) / 0.05 = 2; 2.0 -> 20 -> 10
    flat = update_feature_normalizer(init_feature_normalizer(1), jnp.ones((3, 1)), jnp.ones((3, 1)))
    np.testing.assert_allclose(np.asarray(flat.std), [0.05])
    np.testing.assert_allclose(np.asarray(normalize_features(flat, jnp.array([1.1]))), [2.0], atol=1e-4)
    np.testing.assert_allclose(np.asarray(normalize_features(flat, jnp.array([2.0]))), [10.0])


def test_feature_options_are_checked(robot):
    with pytest.raises(FeatureError, match="unknown amp.features option"):
        make_feature_spec(robot, {"feet": True})
    with pytest.raises(FeatureError, match="must be true or false"):
        make_feature_spec(robot, {"linvel": "yes"})
    with pytest.raises(FeatureError, match="enable at least one"):
        make_feature_spec(robot, {k: False for k in ("root_height", "orientation", "linvel",
                                                      "angvel", "joint_pos", "joint_vel")})
    assert make_feature_spec(robot).size == 1 + 6 + 3 + 3 + 17 + 17


def test_policy_and_reference_pairs(env, robot):
    """Policy pairs come from the two Data given (the pre-reset next state as s'); a pair
    with a non-finite side is masked out, not fed to the discriminator. Reference pairs
    go through the same feature function."""
    spec = make_feature_spec(robot)
    folder = default_motion_dir(MODEL_XML)
    library = build_motion_library(load_motion_files([str(folder / "walk_0.2.npz")]), robot,
                                   env.ctrl_dt)
    base = mjx.make_data(env.mjx_model)
    qpos = library.qpos[0, :3]  # [3, nq]: three envs
    qvel = library.qvel[0, :3]
    data = base.replace(qpos=qpos, qvel=qvel)
    next_qvel = library.qvel[0, 1:4].at[1, 0].set(jnp.nan)  # env 1's physics blew up
    next_data = base.replace(qpos=library.qpos[0, 1:4], qvel=next_qvel)
    s, s_next, valid = compute_transition_features(spec, data, next_data)
    np.testing.assert_array_equal(np.asarray(valid), [1.0, 0.0, 1.0])
    expected = compute_features(spec, library.qpos[0, 1:4], library.qvel[0, 1:4])
    np.testing.assert_allclose(np.asarray(s_next[::2]), np.asarray(expected[::2]))
    assert np.isfinite(np.asarray(s_next)).all() and not np.asarray(s_next[1]).any()
    np.testing.assert_allclose(np.asarray(s[0]), np.asarray(compute_features(spec, qpos[0], qvel[0])))

    ref, ref_next = jax.jit(sample_reference_features, static_argnums=(0, 3))(
        spec, library, jax.random.PRNGKey(0), 64)
    assert ref.shape == ref_next.shape == (64, spec.size)
    # each sampled pair is two consecutive frames of the clip
    table = np.asarray(compute_features(spec, library.qpos[0], library.qvel[0]))  # [T, F]
    index = np.argmin(np.abs(table[None, :-1] - np.asarray(ref)[:, None]).sum(-1), axis=1)
    np.testing.assert_allclose(table[index], np.asarray(ref), atol=1e-6)
    np.testing.assert_allclose(table[index + 1], np.asarray(ref_next), atol=1e-6)


def test_make_reference_defaults_to_the_shipped_clips(env):
    library, spec = make_reference(env, feature_options={"joint_vel": False})
    assert len(library.names) == 11 and "walk_0.4" in library.names
    assert library.dt == env.ctrl_dt and spec.size == 1 + 6 + 3 + 3 + 17
    library, _ = make_reference(env, [str(default_motion_dir(MODEL_XML) / "stand.npz@2")])
    assert library.names == ("stand",)
