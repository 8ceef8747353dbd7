"""playground.policy: one loader for a checkpoint step, a run dir, `latest`, `RUN/best` and a
bundle; damaged steps skipped; nothing of the trainer imported.

The checkpoints hold an initial cart-pole carry with random normalizer statistics (no
training): steps 3 and 5 with logged eval rewards, step 7 without.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from playground import checkpoint, config, paths, runs
from playground import policy as policy_lib
from playground.algorithms.ppo import networks as ppo_networks
from playground.deploy import export

ROOT = pathlib.Path(__file__).resolve().parents[1]
REWARDS = {3: 10.0, 5: 30.0, 7: None}  # None: no eval at that iteration


@pytest.fixture(scope="module")
def saved(tmp_path_factory, save_initial_checkpoint):
    """(run dir, the carry saved, the trainer's deterministic policy) with steps 3, 5, 7."""
    run_dir = tmp_path_factory.mktemp("runs") / "cartpole-test"
    rows = {step: {"iteration": step} | ({} if reward is None else {checkpoint.BEST_METRIC: reward})
            for step, reward in REWARDS.items()}
    carry, run = save_initial_checkpoint(run_dir / "checkpoints", rows)
    trainer_policy = jax.jit(lambda obs: run.fns.algorithm.deterministic_policy(carry.normalizer, carry.params.policy,
                                                        {"state": obs}))
    return run_dir, carry, trainer_policy


def _obs(n: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(1).normal(0.0, 3.0, (size, n)).astype(np.float32)


def test_checkpoint_run_dir_latest_and_bundle_act_alike(saved, tmp_path):
    run_dir, carry, trainer_policy = saved
    step = policy_lib.load(run_dir / "checkpoints" / "7")
    newest = policy_lib.load(run_dir)
    latest = policy_lib.load("latest", checkpoint_dir=run_dir.parent)
    assert newest.path == latest.path == step.path == (run_dir / "checkpoints" / "7").resolve()
    obs = _obs(step.spec["network"]["input_size"])
    expected = np.asarray(trainer_policy(obs))
    for loaded in (step, newest, latest):
        assert loaded.kind == "checkpoint" and loaded.cfg.env.task == "cartpole_balance"
        np.testing.assert_array_equal(np.asarray(jax.jit(loaded.apply)(obs)), expected)
        np.testing.assert_array_equal(loaded.act()(obs), expected)
    np.testing.assert_array_equal(step.normalizer.mean["state"], carry.normalizer.mean["state"])

    out = tmp_path / "bundle"
    report = export.export_checkpoint(step, out, with_onnx=False, check_count=64)
    assert report["errors"]["numpy"] < 1e-5
    bundle = policy_lib.load(out)
    assert bundle.kind == "bundle" and bundle.sample is None and bundle.cfg is None
    np.testing.assert_allclose(np.asarray(jax.jit(bundle.apply)(obs)), expected, atol=1e-5)
    np.testing.assert_allclose(bundle.act()(obs), expected, atol=1e-5)


def test_sampling_is_repeatable_and_bounded(saved):
    run_dir, _, _ = saved
    loaded = policy_lib.load(run_dir)
    obs = _obs(loaded.spec["network"]["input_size"])
    sample = jax.jit(loaded.sample)
    a, b = np.asarray(sample(obs, jax.random.PRNGKey(0))), np.asarray(sample(obs, jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(a) <= 1.0)
    assert not np.allclose(a, np.asarray(sample(obs, jax.random.PRNGKey(1))))


def test_the_loader_imports_no_trainer(saved):
    """In a fresh process: loading and acting import no training run, optimizer or AMP."""
    run_dir, _, _ = saved
    code = (
        "import sys, numpy as np\n"
        "from playground import policy\n"
        f"p = policy.load({str(run_dir)!r})\n"
        "p.act()(np.zeros((1, p.spec['network']['input_size']), np.float32))\n"
        "bad = [m for m in ('playground.runner', 'optax', 'playground.algorithms.ppo.learner',\n"
        "                   'playground.rewards.amp.discriminator', 'playground.motion.library')\n"
        "       if m in sys.modules]\n"
        "print(bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_best_is_the_step_with_the_highest_logged_eval(saved, tmp_path):
    run_dir, _, _ = saved
    assert runs.find_step(run_dir / "best") == ((run_dir / "checkpoints").resolve(), 5)
    assert policy_lib.load(run_dir / "best").path.name == "5"
    lonely = tmp_path / "lonely"
    shutil.copytree(run_dir / "checkpoints" / "7", lonely / "checkpoints" / "7")
    with pytest.raises(FileNotFoundError, match="no checkpoint step logged eval/episode_reward"):
        runs.find_step(lonely / "best")
    done = subprocess.run([sys.executable, "playground/export.py", str(lonely / "best"),
                           "--out", str(tmp_path / "b")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "eval/episode_reward" in done.stderr


def test_a_damaged_newest_step_is_named_and_skipped_never_deleted(saved, tmp_path):
    run_dir, _, _ = saved
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "checkpoints" / "7" / "carry" / "_METADATA").unlink()  # deleted by hand
    shutil.rmtree(copy / "checkpoints" / "5" / "spec")  # a disk that filled
    warnings = []
    assert runs.find_step(copy, warn=warnings.append) == ((copy / "checkpoints").resolve(), 3)
    # newest first, each in one line; step 3 is not named
    assert len(warnings) == 2 and "checkpoints/7: damaged (missing carry/_METADATA)" in warnings[0]
    assert "checkpoints/5: damaged (missing spec/metadata)" in warnings[1]
    assert runs.find_step("latest", tmp_path, warn=warnings.append)[1] == 3
    assert runs.find_step(copy / "best", warn=warnings.append)[1] == 3  # 5 scored higher
    assert (copy / "checkpoints" / "7").is_dir()  # never deleted
    assert policy_lib.load(copy, warn=lambda _: None).path.name == "3"
    with pytest.raises(FileNotFoundError, match=r"checkpoints/7: damaged \(missing carry/_METADATA\)"):
        runs.find_step(copy / "checkpoints" / "7")
    # the CLI: one warning line, then the export of step 3
    done = subprocess.run([sys.executable, "playground/export.py", str(copy), "--out",
                           str(tmp_path / "b"), "--no-onnx"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning: skipping checkpoint") == 2
    assert json.loads((tmp_path / "b" / "policy_spec.json").read_text())["bundle"][
        "source_checkpoint"].endswith("checkpoints/3")
    named = subprocess.run([sys.executable, "playground/export.py", str(copy / "checkpoints" / "7"),
                            "--out", str(tmp_path / "c")], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert named.returncode == 2 and "missing carry/_METADATA" in named.stderr
    assert len(named.stderr.strip().splitlines()) == 1


def test_output_locations_are_checked_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for bad in (blocker / "out.npz", pathlib.Path("/proc/out.npz")):
        with pytest.raises(paths.OutputError, match="not writable|not a directory"):
            paths.check_output(bad, "--record")
    with pytest.raises(paths.OutputError, match="is a directory"):
        paths.check_output(tmp_path, "--record")
    with pytest.raises(paths.OutputError, match="not a directory"):
        paths.check_output(blocker, "--out", directory=True)
    deep = tmp_path / "new" / "deeper" / "bundle"
    assert paths.check_output(deep, "--out", directory=True) == deep
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing left behind
    done = subprocess.run([sys.executable, "playground/export.py", "latest", "--checkpoint-dir",
                           str(tmp_path), "--out", "/proc/bundle"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: --out /proc/bundle")


def test_normal_policies_spec_their_head_and_clip_their_mode():
    """`normal`: the head emits the action mean only (std is a separate parameter); the
    deterministic and sampled actions are clipped to [-1, 1] by `squash_action`."""
    from playground.policy_spec import make_policy_spec
    from playground.tasks.registry import get_task

    cfg = config.resolve(None, [("env.task", "cartpole_balance"), ("network.distribution", "normal")])
    env = get_task("cartpole_balance").make_env(cfg)
    networks = ppo_networks.make_networks(cfg, env.observation_size, env.action_size)
    params = ppo_networks.init_params(networks, jax.random.PRNGKey(0)).policy
    norm = ppo_networks.init_normalizer(env.observation_size)
    spec = make_policy_spec(env, cfg, config.to_dict(cfg), norm, {})
    head = params["params"]["Dense_0"]["kernel"]
    assert spec["network"]["output_size"] == head.shape[1] == env.action_size
    assert spec["network"]["squash"] == "clip"
    params = jax.tree_util.tree_map(lambda x: x * 50.0, params)  # |mean| >> 1
    obs = {"state": jax.numpy.asarray(_obs(env.observation_size["state"])),
           "privileged_state": jax.numpy.zeros((64, env.observation_size["privileged_state"]))}
    mode = networks.parametric_action_distribution.mode(
        networks.policy_network.apply(norm, params, obs))
    action = ppo_networks.make_deterministic_policy(networks)(norm, params, obs)
    assert np.abs(np.asarray(mode)).max() > 1.0
    np.testing.assert_array_equal(np.asarray(action), np.clip(np.asarray(mode), -1.0, 1.0))
    sampled = ppo_networks.make_stochastic_policy(networks)(norm, params, obs, jax.random.PRNGKey(0))
    assert np.abs(np.asarray(sampled)).max() <= 1.0
