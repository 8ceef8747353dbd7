"""sim2sim: the plain-MuJoCo observation equals the MJX env's; a served policy behaves alike.

Both tests use the shipped bundle policies/humanoid_walk_cpu (its spec and config).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from playground import policy
from playground.deploy.sim2sim import MujocoRobot, build_env
from playground.serve.bundle import Bundle, make_policy
from playground.serve.observation import ObservationBuilder
from playground.tasks.mjx_compat import mjx
from playground.tasks.registry import get_task

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "policies" / "humanoid_walk_cpu"
SIM2SIM = ROOT / "playground" / "sim2sim.py"
#: Randomization, observation noise and action delay off: the MJX eval of the comparison.
PLAIN = [("domain_randomization.enabled", "false"), ("env.noise.scale", "0"),
         ("env.action_delay_steps", "[0, 0]")]


@pytest.fixture(scope="module")
def setup():
    cfg = policy.config_file(BUNDLE / "config.yaml", PLAIN)  # as sim2sim reads it
    env = get_task(cfg.env.task).make_env(cfg)
    spec = Bundle(BUNDLE).spec
    robot = MujocoRobot(env.xml_path, spec, cfg.env.robot.imu_site)
    return cfg, env, spec, robot


def _random_state(env, rng: np.random.Generator):
    """A tilted, spinning, moving robot with every joint somewhere in its range."""
    qpos = np.array(env.home_qpos, np.float64)
    quat = rng.normal(size=4)
    qpos[env.root_qpos + 3 : env.root_qpos + 7] = quat / np.linalg.norm(quat)
    qpos[env.root_qpos : env.root_qpos + 3] += rng.uniform(-0.3, 0.3, 3)
    lo, hi = env.joint_range[:, 0], env.joint_range[:, 1]
    qpos[env.qpos_idx] = rng.uniform(lo, hi)
    qvel = rng.normal(0.0, 2.0, env.mj_model.nv)
    return qpos, qvel


def test_observation_matches_mjx_env_on_the_same_state(setup):
    _, env, spec, robot = setup
    builder = ObservationBuilder(spec)
    template = mjx.make_data(env.mjx_model)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(6):
        qpos, qvel = _random_state(env, rng)
        last_action = rng.uniform(-1, 1, env.action_size).astype(np.float32)
        command = rng.uniform(-0.5, 0.5, 3).astype(np.float32)
        phase = float(rng.uniform(0, 2 * np.pi))
        data = template.replace(qpos=jnp.asarray(qpos, jnp.float32), qvel=jnp.asarray(qvel, jnp.float32))
        info = {"last_action": jnp.asarray(last_action), "command": jnp.asarray(command),
                "phase": jnp.float32(phase)}
        expected = np.asarray(env._frame(env._sensors(data), info))

        robot.set_state(qpos, qvel)
        got = builder.frame({**robot.readings(), "command": command, "last_action": last_action,
                             "phase": [phase]})
        # not a trivial state: the robot is tilted and spinning
        assert np.linalg.norm(got[0:3]) > 0.5 and abs(got[5]) < 0.999
        worst = max(worst, float(np.max(np.abs(got - expected))))
    assert worst < 1e-5, worst


def test_first_observation_matches_mjx_reset(setup):
    """Through ObservationBuilder.reset: history filled, gait clock at the env's phase, noise off."""
    _, env, spec, robot = setup
    state = jax.jit(lambda k: env.reset_with_command(k, jnp.array([0.3, 0.0, 0.1])))(jax.random.PRNGKey(3))
    robot.set_state(np.asarray(state.data.qpos))
    builder = ObservationBuilder(spec)
    obs = builder.reset({**robot.readings(), "command": np.asarray(state.info["command"])},
                        phase=float(state.info["phase"]))
    np.testing.assert_allclose(obs, np.asarray(state.obs["state"]), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_served_policy_in_sim2sim_matches_the_mjx_eval(setup, tmp_path):
    """Same seed, initial states and command (0.3 m/s): the return agrees within 2%.

    MJX (float32, its own collision and solver code) and C MuJoCo (float64) integrate the
    same model slightly differently, and a walking gait amplifies that through contacts;
    measured over these 2 x 200 steps: mean return 581.9 in both, per episode within 0.07%.
    A sim2sim observation or action mapping off by a frame, a sign or an offset makes the
    robot fall or stumble (return off by tens of percent), far outside 2%.
    """
    from playground.episodes import run_episodes, summarize, summary_metrics

    cfg, env, spec, _ = setup
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    server = subprocess.Popen([sys.executable, "-m", "playground.serve", "--bundle", str(BUNDLE),
                               "--bind", endpoint], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        # sim2sim in a subprocess while the MJX eval runs here (deadline generous: a loaded
        # CI machine must not turn a slow reply into a hold)
        proc = subprocess.Popen(
            [sys.executable, str(SIM2SIM), "--server", endpoint, "--config", str(BUNDLE / "config.yaml"),
             "--episodes", "2", "--steps", "200", "--command", "0.3,0,0", "--seed", "0",
             "--timeout-ms", "2000", "--record-log", str(tmp_path / "log.npz")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        policy = make_policy(Bundle(BUNDLE), "numpy")
        roll = run_episodes(env, lambda obs, rng: policy.batch(np.asarray(obs["state"])), 2, 200, 0,
                            (0.3, 0.0, 0.0))
        _, mjx_eval = summarize(roll, summary_metrics(env))
        out, err = proc.communicate(timeout=300)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert proc.returncode == 0, err[-2000:]
    lines = out.strip().splitlines()
    sim = json.loads(lines[-1])
    assert any(line.startswith("episode 1: return") for line in lines)
    assert sim["requests"] > 400 and sim["missed_deadlines"] == 0 and sim["fallbacks"] == 0
    assert sim["survival_rate"] == mjx_eval["survival_rate"] == 1.0
    assert abs(sim["mean_return"] - mjx_eval["mean_return"]) <= 0.02 * abs(mjx_eval["mean_return"])
    assert abs(sim["vx_error"] - mjx_eval["vx_error"]) <= 0.02
    assert sim["vx_mean"] > 0.2  # it walks
    # --record-log: episode 0 as a joint log the fit reads (one row per control period)
    from playground.sysid.log import load_log

    joint_log = load_log(tmp_path / "log.npz", spec["joint_names"])
    # the start, then a row after each of the 200 steps (its targets are never applied)
    assert joint_log.num_rows == 201 and joint_log.joint_names == tuple(spec["joint_names"])
    assert joint_log.dt == pytest.approx(spec["ctrl_dt"])
    assert joint_log.model_sha256 == spec["robot_xml_sha256"] and joint_log.qvel is not None
    # row 0 measures the reset pose; the targets sent stay within ctrl_range
    lo, hi = np.asarray(spec["action"]["ctrl_range"]).T
    assert np.all(joint_log.cmd >= lo - 1e-6) and np.all(joint_log.cmd <= hi + 1e-6)
    assert np.abs(np.diff(joint_log.state, axis=0)).max() > 0.01  # it moved


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SIM2SIM), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    ((), "one of --server ENDPOINT or --bundle DIR"),
    (("--bundle", str(BUNDLE), "--command", "0.3,0"), "expected three numbers"),
    (("--bundle", "/nonexistent/bundle"), "no such bundle directory"),
    (("--server", "tcp://127.0.0.1:5555", "--bundle", str(BUNDLE)), "not allowed with"),
    (("--bundle", str(BUNDLE), "--latency-ms", "-5"), "--latency-ms"),
    (("--server", "not-an-endpoint"), "--server not-an-endpoint: Invalid argument"),
    (("--bundle", str(BUNDLE), "--render", "/proc/ep.mp4"), "--video /proc/ep.mp4: its parent /proc is not writable"),
    (("--bundle", str(BUNDLE), "--video", "ep.gif"), "expected a .mp4 file name"),
    (("--bundle", str(BUNDLE), "--record-log", "log.csv"), "expected a .npz file name"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_contract_mismatch_is_refused(setup, tmp_path):
    """A config whose env is not the policy's (another action scale) is named."""
    _, _, spec, _ = setup
    yaml = (BUNDLE / "config.yaml").read_text().replace("action_scale: 0.4", "action_scale: 0.5")
    assert "action_scale: 0.5" in yaml
    (tmp_path / "other.yaml").write_text(yaml)
    with pytest.raises(ValueError, match="'action' differs from the policy's deploy contract"):
        build_env(spec, argparse.Namespace(config=tmp_path / "other.yaml", bundle=None))
    cfg, env = build_env(spec, argparse.Namespace(config=None, bundle=BUNDLE))
    assert not cfg.domain_randomization.enabled and env.action_scale == 0.4
