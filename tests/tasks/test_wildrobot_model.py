"""Checks of the WildRobot MJCF (playground/tasks/assets/wildrobot/wildrobot.xml).

Everything uses the plain MuJoCo C API except `test_mjx_step`, which compiles one
jitted mjx.step (the only MJX compile in this file).
"""

from __future__ import annotations

import pathlib

import mujoco
import numpy as np
import pytest

XML = (
    pathlib.Path(__file__).resolve().parents[2]
    / "playground"
    / "tasks"
    / "assets"
    / "wildrobot"
    / "wildrobot.xml"
)

JOINTS = (
    "left_hip_pitch",
    "left_hip_roll",
    "left_knee",
    "left_ankle_pitch",
    "left_ankle_roll",
    "right_hip_pitch",
    "right_hip_roll",
    "right_knee",
    "right_ankle_pitch",
    "right_ankle_roll",
    "waist_yaw",
    "left_shoulder_pitch",
    "left_shoulder_roll",
    "left_elbow",
    "right_shoulder_pitch",
    "right_shoulder_roll",
    "right_elbow",
)
FOOT_BODIES = ("left_foot", "right_foot")


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(XML))


def _home(m: mujoco.MjModel) -> mujoco.MjData:
    d = mujoco.MjData(m)
    mujoco.mj_resetDataKeyframe(m, d, m.key("home").id)
    mujoco.mj_forward(m, d)
    return d


def _body_name(m: mujoco.MjModel, body_id) -> str:
    return mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, int(body_id))


def _foot_geoms(m: mujoco.MjModel) -> list[int]:
    foot_ids = {m.body(b).id for b in FOOT_BODIES}
    return [g for g in range(m.ngeom) if m.geom_bodyid[g] in foot_ids and m.geom_contype[g]]


def _geom_top_z(m: mujoco.MjModel, d: mujoco.MjData, g: int) -> float:
    """Highest world z of a geom's local bounding box."""
    center, half = m.geom_aabb[g, :3], m.geom_aabb[g, 3:]
    corners = center + half * np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
    world = d.geom_xpos[g] + corners @ d.geom_xmat[g].reshape(3, 3).T
    return float(world[:, 2].max())


def test_structure_and_actuators(model):
    m = model
    assert m.nu == 17 and m.njnt == 18 and m.nq == 24 and m.nv == 23
    assert int(m.jnt_type[0]) == int(mujoco.mjtJoint.mjJNT_FREE)
    assert m.joint(0).name == "root" and _body_name(m, m.jnt_bodyid[0]) == "pelvis"
    assert _body_name(m, m.body_parentid[m.body("torso").id]) == "pelvis"
    assert _body_name(m, m.jnt_bodyid[m.joint("waist_yaw").id]) == "torso"
    for foot in FOOT_BODIES:
        side = foot.split("_")[0]
        assert _body_name(m, m.jnt_bodyid[m.joint(f"{side}_ankle_roll").id]) == foot
    for i, name in enumerate(JOINTS):
        assert m.actuator(i).name == name
        assert int(m.actuator_trntype[i]) == int(mujoco.mjtTrn.mjTRN_JOINT)
        j = m.actuator_trnid[i, 0]
        assert m.joint(j).name == name
        assert int(m.jnt_type[j]) == int(mujoco.mjtJoint.mjJNT_HINGE)
        # kinematic order == actuator order: qpos[7:24] / qvel[6:23] follow JOINTS
        assert m.jnt_qposadr[j] == 7 + i and m.jnt_dofadr[j] == 6 + i
        # position servo: gain kp, bias -kp*q, ctrlrange == joint range, force limited
        kp = m.actuator_gainprm[i, 0]
        assert 10.0 <= kp <= 25.0
        np.testing.assert_allclose(m.actuator_biasprm[i, :2], [0.0, -kp])
        np.testing.assert_allclose(m.actuator_ctrlrange[i], m.jnt_range[j])
        assert m.actuator_forcelimited[i]
        fmax = m.actuator_forcerange[i, 1]
        assert m.actuator_forcerange[i, 0] == -fmax
        assert 1.5 <= fmax <= (2.0 if "shoulder" in name or "elbow" in name else 4.0)
        dof = m.jnt_dofadr[j]
        assert 0.1 <= m.dof_damping[dof] <= 1.0
        assert 0.005 <= m.dof_armature[dof] <= 0.02
        assert 0.01 <= m.dof_frictionloss[dof] <= 0.05
    # knees bend one way only, and that is enforced
    for side in ("left", "right"):
        knee = m.joint(f"{side}_knee")
        assert knee.range[0] == 0.0 and knee.range[1] > 1.5 and m.jnt_limited[knee.id]


def test_home_keyframe_in_range(model):
    m = model
    key = m.key("home")
    q = key.qpos[7:]
    np.testing.assert_allclose(key.ctrl, q)
    lo, hi = m.jnt_range[1:, 0], m.jnt_range[1:, 1]
    assert np.all(lo < hi)
    assert np.all((q >= lo) & (q <= hi))
    # slightly bent knees, feet flat: hip_pitch = -a, knee = 2a, ankle_pitch = -a
    for side in ("left", "right"):
        hp, kn, ap = (q[JOINTS.index(f"{side}_{j}")] for j in ("hip_pitch", "knee", "ankle_pitch"))
        assert 0.2 <= kn <= 1.0
        assert abs(hp + ap + kn) < 1e-9


def test_mass_inertia_and_height(model):
    m = model
    assert 2.0 <= m.body_subtreemass[m.body("pelvis").id] <= 4.0
    for b in range(1, m.nbody):
        inertia = m.body_inertia[b]
        assert m.body_mass[b] > 0.0
        assert np.all(inertia > 0.0)
        # principal moments of a real body satisfy the triangle inequality
        assert np.all(inertia.sum() - inertia >= inertia - 1e-12)
    d = _home(m)
    floor = m.geom("floor").id
    top = max(_geom_top_z(m, d, g) for g in range(m.ngeom) if g != floor)
    assert 0.45 <= top <= 0.6
    assert abs(d.site("head_top").xpos[2] - top) < 1e-3


def test_sites_camera_floor_options(model):
    m = model
    imu = m.site("imu")
    assert _body_name(m, m.site_bodyid[imu.id]) == "pelvis"
    np.testing.assert_allclose(imu.quat, [1.0, 0.0, 0.0, 0.0])
    for foot in FOOT_BODIES:
        assert _body_name(m, m.site_bodyid[m.site(f"{foot}_site").id]) == foot
    cam = m.camera("track")
    assert int(m.cam_mode[cam.id]) == int(mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM)
    assert _body_name(m, m.cam_bodyid[cam.id]) == "pelvis"
    floor = m.geom("floor")
    assert int(m.geom_type[floor.id]) == int(mujoco.mjtGeom.mjGEOM_PLANE)
    assert m.geom_bodyid[floor.id] == 0
    assert 0.8 <= m.geom_friction[floor.id, 0] <= 1.2
    assert m.opt.timestep == pytest.approx(0.004)
    assert m.opt.iterations <= 4 and m.opt.ls_iterations <= 8
    assert m.vis.global_.offwidth == 1280 and m.vis.global_.offheight == 720


def test_sign_conventions(model):
    """Documented in the XML header; a few cheap kinematic checks."""
    m = model
    d = mujoco.MjData(m)

    def foot_pos(joint: str, value: float, site: str) -> np.ndarray:
        d.qpos[:] = m.qpos0
        d.qpos[m.jnt_qposadr[m.joint(joint).id]] = value
        mujoco.mj_kinematics(m, d)
        return d.site(site).xpos.copy()

    for side in ("left", "right"):
        site = f"{side}_foot_site"
        base = foot_pos(f"{side}_knee", 0.0, site)
        assert foot_pos(f"{side}_hip_pitch", 0.3, site)[0] < base[0]  # + = leg backward
        assert foot_pos(f"{side}_knee", 0.5, site)[0] < base[0]  # + = knee bends, shank back
        assert foot_pos(f"{side}_hip_roll", 0.2, site)[1] > base[1]  # + = foot to the left
        hand = f"{side}_hand"
        hbase = foot_pos(f"{side}_elbow", 0.0, hand)
        assert foot_pos(f"{side}_elbow", -0.5, hand)[0] > hbase[0]  # - = elbow flexes
        assert foot_pos(f"{side}_shoulder_pitch", -0.5, hand)[0] > hbase[0]  # - = arm forward
        assert foot_pos(f"{side}_shoulder_roll", 0.3, hand)[1] > hbase[1]  # + = hand left
    # ankle pitch +: toes down (the toe sphere goes below the heel sphere)
    d.qpos[:] = m.qpos0
    d.qpos[m.jnt_qposadr[m.joint("left_ankle_pitch").id]] = 0.3
    mujoco.mj_kinematics(m, d)
    assert d.geom("left_foot_toe_out").xpos[2] < d.geom("left_foot_heel_out").xpos[2]


def test_home_feet_on_floor_and_collision_filter(model):
    m = model
    d = _home(m)
    floor = m.geom("floor").id
    feet = _foot_geoms(m)
    assert len(feet) >= 3 * len(FOOT_BODIES)
    for g in feet:
        assert int(m.geom_type[g]) in (
            int(mujoco.mjtGeom.mjGEOM_SPHERE),
            int(mujoco.mjtGeom.mjGEOM_BOX),
        )
    # soles on the floor: lowest foot collision point of each foot at z = 0 +- 2 mm
    for foot in FOOT_BODIES:
        bid = m.body(foot).id
        low = min(
            d.geom_xpos[g, 2] - m.geom_size[g, 0]
            for g in feet
            if m.geom_bodyid[g] == bid and int(m.geom_type[g]) == int(mujoco.mjtGeom.mjGEOM_SPHERE)
        )
        assert abs(low) <= 2e-3
        assert abs(d.site(f"{foot}_site").xpos[2]) <= 2e-3

    # only foot geoms may collide, and only with the floor
    def can_collide(g1: int, g2: int) -> bool:
        return bool(
            (m.geom_contype[g1] & m.geom_conaffinity[g2])
            or (m.geom_contype[g2] & m.geom_conaffinity[g1])
        )

    for g1 in range(m.ngeom):
        for g2 in range(g1 + 1, m.ngeom):
            if can_collide(g1, g2):
                pair = {g1, g2}
                assert floor in pair, (m.geom(g1).name, m.geom(g2).name)
                assert (pair - {floor}).pop() in feet, (m.geom(g1).name, m.geom(g2).name)
    assert m.npair == 0


def test_standing_stability(model):
    m = model
    d = _home(m)
    z0 = d.qpos[2]
    home_ctrl = m.key("home").ctrl.copy()
    feet = set(_foot_geoms(m))
    floor = m.geom("floor").id
    for _ in range(round(2.0 / m.opt.timestep)):
        d.ctrl[:] = home_ctrl
        mujoco.mj_step(m, d)
        assert abs(d.qpos[2] - z0) < 0.03
        tilt = np.arccos(np.clip(d.xmat[m.body("pelvis").id][8], -1.0, 1.0))
        assert tilt < 0.2
    assert np.all(np.isfinite(d.qpos))
    assert d.ncon > 0
    for c in d.contact[: d.ncon]:
        assert {c.geom1, c.geom2} - {floor} <= feet and floor in (c.geom1, c.geom2)


def test_mjx_step(model):
    jax = pytest.importorskip("jax")
    from mujoco import mjx

    m = model
    d = _home(m)
    mx = mjx.put_model(m)
    dx = mjx.put_data(m, d)
    # one contact per foot sphere (sphere-plane), nothing else: what MJX allocates per env
    impl = getattr(dx, "_impl", None)
    if impl is not None and hasattr(impl, "ncon"):
        assert impl.ncon == len(_foot_geoms(m))
    out = jax.jit(mjx.step)(mx, dx)
    qpos = np.asarray(out.qpos)
    assert np.all(np.isfinite(qpos))
    assert abs(qpos[2] - d.qpos[2]) < 1e-3
