"""play.py, the real CLI in a subprocess: zero/random floors, the shipped bundle, --record,
--video, bad input (the summary math: tests/test_episodes.py)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from playground import episodes
from playground.cli import play

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies" / "humanoid_walk_cpu"


def _play(*args, timeout=300):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "playground" / "play.py"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )
    return proc


def _summary(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args, message", [
    (["no_such_task", "--agent", "zero"], "unknown task"),
    (["humanoid_walk", "--agent", "zero", "--command", "0.3,0"], "--command"),
    (["humanoid_walk", "--agent", "trained", "--checkpoint", "/nonexistent/run"], "no such file"),
    (["humanoid_walk", "--agent", "trained"], "needs --checkpoint"),
    (["humanoid_walk", "--agent", "zero", "--video", "out.gif"], ".mp4"),
    (["humanoid_walk", "--agent", "zero", "--render", "out.gif"], ".mp4"),  # sim2sim's name
    (["humanoid_walk", "--agent", "zero", "--record", "/proc/ep.npz"], "--record /proc/ep.npz"),
    (["humanoid_walk", "--agent", "zero", "--video", "/proc/ep.mp4"], "its parent /proc is not writable"),
    (["humanoid_walk", "--agent", "zero", "--stochastic"], "only for --agent trained"),
    (["humanoid_walk", "--agent", "trained", "--checkpoint", str(SHIPPED), "--stochastic"],
     "deterministic policy only"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = _play(*args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_zero_agent_floor_record_and_video(tmp_path):
    """Zero actions hold the home pose: the robot survives but does not move, so the
    forward-speed error is about the commanded 0.3 m/s; record and video are written."""
    record, video = tmp_path / "ep.npz", tmp_path / "ep.mp4"
    proc = _play("humanoid_walk", "--agent", "zero", "--config", str(SHIPPED / "config.yaml"),
                 "--episodes", "2", "--steps", "25", "--command", "0.3,0,0",
                 "--record", str(record), "--video", str(video))
    s = _summary(proc)
    for key in ("survival_rate", "mean_episode_length", "vx_error", "yaw_rate_error",
                "mean_return", "foot_slip", "action_rate", "reward_terms"):
        assert key in s and s[key] is not None, key
    assert s["survival_rate"] == 1.0 and s["mean_episode_length"] == 25.0
    assert s["action_rate"] == 0.0
    assert abs(s["vx_mean"]) < 0.05 and s["vx_error"] == pytest.approx(0.3, abs=0.05)
    assert set(s["reward_terms"]) >= {"tracking_lin_vel", "feet_phase", "alive"}
    assert "success_rate" not in s  # the humanoid defines no success: no fake 0.0
    assert "episode 1: return" in proc.stdout

    with np.load(record) as r:
        assert r["observations"].shape[:2] == (2, 25) and r["actions"].shape == (2, 25, 17)
        assert r["joint_targets"].shape == (2, 25, 17) and r["qpos"].shape == (2, 25, 24)
        assert r["qvel"].shape == (2, 25, 23)
        assert r["lengths"].tolist() == [25, 25] and float(r["ctrl_dt"]) == 0.02
        assert r["command"].tolist() == pytest.approx([0.3, 0.0, 0.0])
        assert len(r["joint_names"]) == 17
        # zero actions: the joint targets are the home pose, the obs carry the held command
        np.testing.assert_allclose(r["joint_targets"][0, -1], r["joint_targets"][1, 0], atol=1e-6)
        assert np.any(np.isclose(r["observations"][0, -1], 0.3))

    import imageio.v2 as imageio

    with imageio.get_reader(video) as reader:
        frames = [reader.get_data(i) for i in range(reader.count_frames())]
    assert len(frames) == 13  # 25 control steps at 50 Hz, every 2nd step (25 fps)
    assert frames[0].shape == (480, 640, 3) and frames[0].std() > 5  # a picture, not blank


def test_shipped_bundle_plays(tmp_path):
    """The shipped policy (numpy bundle) plays through the same CLI."""
    proc = _play("humanoid_walk", "--agent", "trained", "--checkpoint", str(SHIPPED),
                 "--episodes", "2", "--steps", "25", "--command", "0.3,0,0")
    s = _summary(proc)
    assert s["source"].startswith("bundle") and s["mean_episode_length"] == 25.0
    assert s["action_rate"] > 0.0


def test_random_agent_cartpole():
    proc = _play("cartpole_balance", "--agent", "random", "--episodes", "3", "--steps", "20")
    s = _summary(proc)
    assert s["episodes"] == 3 and s["action_rate"] > 0.0
    assert "vx_error" not in s  # the task declares no locomotion metrics
    # the cart-pole defines success: each episode line says it, the JSON line counts them
    lines = [line for line in proc.stdout.splitlines() if line.startswith("episode ")]
    succeeded = sum("  success" in line for line in lines)
    assert len(lines) == 3 and sum("  no success" in line for line in lines) == 3 - succeeded
    assert s["success_rate"] == pytest.approx(succeeded / 3)


@pytest.mark.slow  # trains 4 iterations of a small cart-pole (its own program)
def test_a_checkpoint_plays_its_policy_deterministic_or_sampled(tmp_path, capsys):
    """play and export act with the policy's mode; --stochastic samples around it,
    repeatably from --seed."""
    from playground import config, policy, runner
    from playground.deploy import export
    from playground.serve import bundle as bundle_lib

    cfg = config.resolve(None, [
        ("env.task", "cartpole_balance"), ("ppo.num_envs", 16), ("ppo.unroll_length", 16),
        ("ppo.num_minibatches", 4), ("ppo.num_epochs", 2), ("ppo.num_iterations", 4),
        ("run.log_every", 1024), ("run.eval_envs", 8),
        ("run.checkpoint_dir", str(tmp_path)), ("run.name", "small"), ("run.progress", False),
        ("run.wandb.enabled", False)])
    runner.Run(cfg, ["test"], log=lambda *_: None).train()

    def actions(*extra, seed=7):
        out = tmp_path / f"rec{len(list(tmp_path.glob('rec*.npz')))}.npz"
        argv = ["cartpole_balance", "--agent", "trained", "--checkpoint", str(tmp_path / "small"),
                "--episodes", "3", "--steps", "30", "--seed", str(seed), "--record", str(out),
                *extra]
        assert play.main(argv) == 0, capsys.readouterr().err
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["stochastic"] == bool(extra)
        with np.load(out) as r:
            return r["observations"], r["actions"]

    obs, det = actions()
    loaded = policy.load(tmp_path / "small")
    np.testing.assert_allclose(det[:, 0], loaded.act()(obs[:, 0]), rtol=1e-5, atol=1e-6)

    sampled, again, other = actions("--stochastic")[1], actions("--stochastic")[1], \
        actions("--stochastic", seed=8)[1]
    np.testing.assert_array_equal(sampled, again)
    assert not np.allclose(sampled[:, 0], det[:, 0], atol=1e-3)
    assert not np.allclose(sampled[:, 0], other[:, 0], atol=1e-3)

    bundle_dir = tmp_path / "bundle"
    report = export.export_checkpoint(loaded, bundle_dir, with_onnx=False, check_count=64)
    numpy_policy = bundle_lib.make_policy(bundle_lib.Bundle(bundle_dir), "numpy")
    np.testing.assert_allclose(numpy_policy.batch(obs[:, 0]), det[:, 0], atol=1e-5)
    assert report["errors"]["numpy"] < 1e-5  # checked against the JAX policy export reads


def test_render_model_lights_follow_a_walking_robot_on_a_copy():
    """The demo video faded to black as the robot walked out of the world-fixed light: the
    render-only copy makes world lights track the centre of mass; the env's model (its
    physics, its file and so the spec's robot_xml_sha256) is left alone."""
    import types

    import mujoco

    xml = ROOT / "playground" / "tasks" / "assets" / "wildrobot" / "wildrobot.xml"
    env = types.SimpleNamespace(mj_model=mujoco.MjModel.from_xml_path(str(xml)))
    fixed = mujoco.mjtCamLight.mjCAMLIGHT_FIXED
    assert env.mj_model.nlight and (env.mj_model.light_mode == fixed).all()
    model = episodes.render_model(env, (2000, 3000), follow=True)
    assert model is not env.mj_model
    assert (model.light_mode == mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM).all()
    assert (model.vis.global_.offheight, model.vis.global_.offwidth) == (2000, 3000)
    assert (env.mj_model.light_mode == fixed).all() and env.mj_model.vis.global_.offwidth < 3000
    # a fixed camera (no floating base): the scene's own lights
    assert (episodes.render_model(env, (10, 10), follow=False).light_mode == fixed).all()
