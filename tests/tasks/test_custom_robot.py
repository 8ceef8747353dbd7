"""Any legged robot from YAML: the humanoid task on a quadruped MJCF, no code change."""

import pathlib

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from playground import config
from playground.tasks import registry, wrappers
from playground.tasks.locomotion import env as locomotion

QUADRUPED = pathlib.Path(__file__).resolve().parents[1] / "assets" / "quadruped.xml"


def _stand(env):
    """The state after 5 zero-action steps of 2 envs of the 8-actuator quadruped."""
    def rollout(key):
        state = wrappers.reset_batch(env, key, 2)
        return jax.lax.scan(lambda s, _: (wrappers.step_batch(env, s, jnp.zeros((2, 8))), None),
                            state, None, length=5)[0]

    return jax.jit(rollout)(jax.random.PRNGKey(0))


def test_the_task_runs_a_quadruped_named_only_in_config():
    cfg = config.resolve(registry.CONFIG_DIR / "custom_robot.yaml", [
        ("env.robot.xml", str(QUADRUPED)),
        ("env.robot.keyframe", "stand"),
        ("env.robot.root_body", "trunk"),
        ("env.robot.feet", ["fl_foot", "fr_foot", "hl_foot", "hr_foot"]),
        ("env.robot.imu_site", "imu"),
        ("env.termination.min_base_height", 0.1),
    ], verify=True)
    env = registry.get_task(cfg.env.task).make_env(cfg)
    assert env.action_size == 8 and env.model_warnings == []
    assert env.policy_spec()["joint_names"][:2] == ["fl_hip", "fl_knee"]
    state = _stand(env)
    assert np.isfinite(np.asarray(state.obs["state"])).all()
    assert np.asarray(state.info["feet_contact"]).shape == (2, 4)
    assert np.asarray(state.done).tolist() == [0.0, 0.0]  # it stands


def test_mjx_hostile_models_are_warned_about():
    xml = """<mujoco><asset><mesh name="m" vertex="0 0 0 1 0 0 0 1 0 0 0 1"/></asset>
      <option iterations="50"/>
      <worldbody><geom type="plane" size="1 1 .1"/>
      <body><freejoint/><geom type="mesh" mesh="m"/>""" + "".join(
        f'<geom type="sphere" size=".01" pos="{i * 0.02} 0 0"/>' for i in range(12)
    ) + "</body></worldbody></mujoco>"
    warnings = locomotion.check_mjx_friendly(mujoco.MjModel.from_xml_string(xml))
    assert any("mesh collision" in w for w in warnings)
    assert any("can collide" in w for w in warnings)
    assert any("iterations=50" in w for w in warnings)


def test_bad_robot_names_are_one_line_errors():
    cfg = config.resolve(None, [("env.robot.root_body", "nope")], verify=True)
    with pytest.raises((config.ConfigError, ValueError)) as err:  # one line, exit 2 in a CLI
        registry.get_task("humanoid_walk").make_env(cfg)
    assert "nope" in str(err.value)


def test_a_robot_without_an_imu_site_reads_its_imu_in_the_root_frame(tmp_path):
    """env.robot.imu_site: null: gyro and gravity in the root body's frame, no MJCF edit;
    here the same readings as the quadruped's own IMU site (which sits at the trunk's
    origin, unrotated), in the env and in sim2sim's plain-MuJoCo robot alike."""
    from playground.deploy.sim2sim import MujocoRobot

    no_site = tmp_path / "quadruped_no_imu.xml"
    no_site.write_text(QUADRUPED.read_text().replace('<site name="imu"/>', ""))
    robot = [("env.robot.keyframe", "stand"), ("env.robot.root_body", "trunk"),
             ("env.robot.feet", ["fl_foot", "fr_foot", "hl_foot", "hr_foot"]),
             ("env.termination.min_base_height", 0.1)]
    cfg = config.resolve(registry.CONFIG_DIR / "custom_robot.yaml", [
        ("env.robot.xml", str(no_site)), ("env.robot.imu_site", None), *robot], verify=True)
    env = registry.get_task(cfg.env.task).make_env(cfg)
    with_site = registry.get_task(cfg.env.task).make_env(config.resolve(
        registry.CONFIG_DIR / "custom_robot.yaml",
        [("env.robot.xml", str(QUADRUPED)), *robot], verify=True))
    np.testing.assert_array_equal(env.imu_rel_rot, with_site.imu_rel_rot)
    assert "root body frame" in env.policy_spec()["observation"]["frame"][0]["definition"]
    state = _stand(env)
    assert np.isfinite(np.asarray(state.obs["state"])).all()
    assert np.asarray(state.done).tolist() == [0.0, 0.0]

    spec = {"sim_dt": 0.004, "ctrl_dt": 0.02, "joint_names": list(env.joint_names),
            "actuator_names": list(env.actuator_names)}
    qpos = np.array(env.home_qpos, np.float64)
    qpos[3:7] = np.array([0.96, 0.1, 0.2, 0.15]) / np.linalg.norm([0.96, 0.1, 0.2, 0.15])
    qvel = np.linspace(-0.5, 0.7, 14)  # spinning
    readings = []
    for xml, site in ((no_site, None), (QUADRUPED, "imu")):
        sim = MujocoRobot(xml, spec, site, "trunk")
        sim.set_state(qpos, qvel)  # tilted and spinning
        readings.append(sim.readings())
    for key in ("gyro", "gravity"):
        np.testing.assert_allclose(readings[0][key], readings[1][key], atol=1e-12)
    np.testing.assert_allclose(readings[0]["gyro"], qvel[3:6], atol=1e-12)  # body frame
