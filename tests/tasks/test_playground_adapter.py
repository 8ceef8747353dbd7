"""MuJoCo Playground's envs through our trainer (`--task playground:<EnvName>`).

The CLI tests run the real `train.py --verify` (short training, checkpoint, restore,
finite metrics) on three of Playground's dm_control envs, which ship their XML and work
offline. The error tests run the CLI with Playground hidden (an import hook that makes
`mujoco_playground` unimportable, as on a machine without the extra) and without a MuJoCo
Menagerie checkout (Playground's locomotion envs would clone it into site-packages).
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from concurrent import futures

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TRAIN = [sys.executable, str(ROOT / "playground" / "train.py")]
PLAY = [sys.executable, str(ROOT / "playground" / "play.py")]

HAS_PLAYGROUND = importlib.util.find_spec("mujoco_playground") is not None
needs_playground = pytest.mark.skipif(
    not HAS_PLAYGROUND, reason="MuJoCo Playground (the .[playground] extra) is not installed"
)

pytestmark = pytest.mark.filterwarnings("ignore:JAXopt:DeprecationWarning")

#: Three dm_control envs: an array obs each, no randomizer, offline assets.
CLI_ENVS = ("CartpoleBalance", "PendulumSwingup", "PointMass")


def _run(cmd, cwd, env=None, timeout=900):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def _one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-1500:]
    return lines[0]


# --------------------------------------------------------------------------- the real CLI


@needs_playground
@pytest.mark.slow
def test_three_playground_envs_train_checkpoint_and_restore_through_the_cli(tmp_path):
    """reset, step, 4 training iterations, a checkpoint that restores to the same policy."""

    def verify(name):
        return name, _run(TRAIN + ["--task", f"playground:{name}", "--verify",
                                   "--checkpoint-dir", str(tmp_path), "--set", f"run.name={name}",
                                   "--set", "run.eval_envs=4"], tmp_path)

    # side by side: most of each run is single-threaded (imports, tracing)
    with futures.ThreadPoolExecutor(len(CLI_ENVS)) as pool:
        results = list(pool.map(verify, CLI_ENVS))
    for name, proc in results:
        assert proc.returncode == 0, f"{name}: " + proc.stdout[-2000:] + proc.stderr[-2000:]
        assert proc.stdout.strip().splitlines()[-1].startswith("VERIFY PASS"), proc.stdout[-1500:]
        rows = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        last = rows[-1]
        assert last["iteration"] == 4 and last["env_steps"] == 4 * 16 * 32  # quick_verify
        assert np.isfinite(last["eval/episode_reward"]) and last["eval/episode_reward"] > 0.0
        if name == "CartpoleBalance":  # Playground's own reward terms reach our metrics
            assert {"reward/upright", "eval/reward/upright"} <= set(last), sorted(last)
        spec = json.loads((tmp_path / name / "checkpoints" / "4" / "spec" / "metadata").read_text())
        assert spec["task"] == f"playground:{name}" and spec["playground"]["env"] == name
        assert spec["playground"]["config"]["impl"] == "jax"  # forced on a machine without CUDA


# --------------------------------------------------------------------------- one-line errors

# Makes `mujoco_playground` unimportable in the subprocess, as on a machine without the extra.
_HIDE_PLAYGROUND = textwrap.dedent("""
    import sys

    class _HidePlayground:
        def find_spec(self, name, path=None, target=None):
            if name == "mujoco_playground" or name.startswith("mujoco_playground."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _HidePlayground())
""")


@pytest.mark.parametrize("cli", ["train", "play"])
def test_without_the_extra_the_task_name_says_how_to_install(tmp_path, cli):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(_HIDE_PLAYGROUND)
    env = {**os.environ, "PYTHONPATH": str(shim)}
    probe = _run([sys.executable, "-c", "import mujoco_playground"], tmp_path, env=env)
    assert probe.returncode != 0 and "No module named 'mujoco_playground'" in probe.stderr
    if cli == "train":
        cmd = TRAIN + ["--task", "playground:WalkerWalk"]
    else:
        cmd = PLAY + ["playground:WalkerWalk", "--agent", "zero"]
    line = _one_error_line(_run(cmd, tmp_path, env=env, timeout=120))
    assert "'playground:WalkerWalk' needs MuJoCo Playground" in line
    assert "uv sync --extra playground" in line and "[playground]" in line


def _tree(path: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@needs_playground
def test_an_env_that_needs_menagerie_is_refused_in_one_line_and_site_packages_untouched(tmp_path):
    """No checkout: exit 2 in one line that says how to get one; Playground never clones or
    creates anything in its package directory (site-packages)."""
    package = pathlib.Path(importlib.util.find_spec("mujoco_playground").origin).parent
    if (package / "external_deps" / "mujoco_menagerie").exists():
        pytest.skip(f"Playground holds a Menagerie clone in {package}")
    before = _tree(package)
    # git through a proxy that refuses, should anything still try to clone
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "GIT_TERMINAL_PROMPT": "0",
           "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    env.pop("PLAYGROUND_MENAGERIE", None)
    out = tmp_path / "out"
    out.mkdir()
    proc = _run(TRAIN + ["--task", "playground:Go1JoystickFlatTerrain", "--checkpoint-dir",
                         str(out)], out, env=env, timeout=300)
    line = _one_error_line(proc)
    assert "playground:Go1JoystickFlatTerrain needs MuJoCo Menagerie" in line
    assert f"git clone https://github.com/google-deepmind/mujoco_menagerie {tmp_path}/cache/" in line
    assert "PLAYGROUND_MENAGERIE" in line and "dm_control suite envs work offline" in line
    assert _tree(package) == before and not (package / "external_deps").exists()
    assert not list(out.iterdir()) and not (tmp_path / "cache").exists()  # nothing written


@needs_playground
def test_a_menagerie_checkout_from_the_environment_is_what_playground_reads(tmp_path, monkeypatch):
    from mujoco_playground._src import mjx_env

    from playground.tasks import playground_adapter

    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", mjx_env.MENAGERIE_PATH)  # restored after
    monkeypatch.setenv("PLAYGROUND_MENAGERIE", str(tmp_path / "nowhere"))
    with pytest.raises(playground_adapter.ConfigError, match="no checkout at .*nowhere"):
        playground_adapter._use_menagerie("Go1JoystickFlatTerrain")
    (tmp_path / "menagerie" / "unitree_go1").mkdir(parents=True)
    monkeypatch.setenv("PLAYGROUND_MENAGERIE", str(tmp_path / "menagerie"))
    playground_adapter._use_menagerie("Go1JoystickFlatTerrain")
    assert str(mjx_env.MENAGERIE_PATH) == str(tmp_path / "menagerie")
    mjx_env.ensure_menagerie_exists()  # sees the checkout: no clone, no folder in site-packages


def test_task_names_without_an_env_are_one_line_errors(tmp_path):
    quoted = _run(TRAIN + ["--set", "env.task='playground:'"], tmp_path, timeout=120)
    assert "names no env; use playground:<EnvName>" in _one_error_line(quoted)
    line = _one_error_line(_run(TRAIN + ["--task", "nope"], tmp_path, timeout=120))
    assert "unknown task 'nope'" in line and "or playground:<EnvName>" in line


# --------------------------------------------------------------------------- in process


def test_observations_map_to_actor_and_critic():
    from playground.tasks.playground_adapter import _split_obs

    array = _split_obs(jnp.array([1.0, 2.0, 3.0]))
    assert array["state"].tolist() == [1.0, 2.0, 3.0] == array["privileged_state"].tolist()
    both = _split_obs({"state": jnp.ones((2, 2)), "privileged_state": jnp.arange(3.0)})
    assert both["state"].shape == (4,) and both["privileged_state"].tolist() == [0.0, 1.0, 2.0]
    actor_only = _split_obs({"state": jnp.array([5.0])})
    assert actor_only["privileged_state"].tolist() == [5.0]


def _cfg(*overrides):
    from playground import config

    return config.resolve(None, [("env.task", "playground:CartpoleBalance"), *overrides])


@pytest.fixture(scope="module")
def cartpole_env():
    if not HAS_PLAYGROUND:
        pytest.skip("MuJoCo Playground (the .[playground] extra) is not installed")
    from playground.tasks.registry import get_task

    cfg = _cfg(("env.playground.episode_length", 50), ("env.playground.action_repeat", 2),
               ("env.playground.vision_config.cam_res", "[32, 48]"))
    return get_task(cfg.env.task).make_env(cfg)


@needs_playground
def test_env_playground_overrides_reach_playground_config(cartpole_env):
    env = cartpole_env
    assert env.pg_config.episode_length == 50 and env.pg_config.impl == "jax"
    assert env.episode_length == 25  # 50 Playground steps, 2 per our step (brax's count)
    assert env.ctrl_dt == pytest.approx(2 * env.pg_env.dt)
    assert env.observation_size == {"state": 5, "privileged_state": 5} and env.action_size == 1
    assert env.pg_config.vision_config.cam_res == (32, 48)  # a nested key; its tuple type kept
    assert env.success_mode is None  # its metrics hold no `success`: it defines none


@needs_playground
def test_bad_playground_keys_values_and_names_are_config_errors():
    from playground.config import ConfigError
    from playground.tasks.playground_adapter import PlaygroundEnv, playground_config

    with pytest.raises(ConfigError, match=r"did you mean env.playground.episode_length\?"):
        playground_config("CartpoleBalance", {"episode_lenght": 10})
    with pytest.raises(ConfigError, match="env.playground.episode_length expects int .*'long'"):
        playground_config("CartpoleBalance", {"episode_length": "long"})
    with pytest.raises(ConfigError, match="did you mean playground:CartpoleBalance"):
        PlaygroundEnv(_cfg(("env.task", "playground:CartpoleBalanse")))
    with pytest.raises(ConfigError, match="unknown config key 'reward_weights'"):
        _cfg(("reward_weights", "{upright: 2.0}"))  # not a key of Playground tasks


@needs_playground
def test_nested_playground_keys_from_set_and_yaml_reach_the_config(tmp_path):
    """A locomotion env's reward scales (its config loads offline; only its XML needs the net)."""
    from playground import config
    from playground.tasks.playground_adapter import playground_config

    path = tmp_path / "c.yaml"
    path.write_text("env:\n  playground:\n    reward_config:\n      scales: {pose: -0.5}\n"
                    "    command_config.max: [1, 2, 3]\n")
    cfg = config.resolve(path, [("env.task", "playground:ApolloJoystickFlatTerrain"),
                                ("env.playground.reward_config.scales.tracking", "2"),
                                ("env.playground.reward_config.tracking_sigma", "0.5")])
    pg = playground_config("ApolloJoystickFlatTerrain", cfg.env.playground)
    default = playground_config("ApolloJoystickFlatTerrain", {})
    assert default.reward_config.scales.tracking == 1.0  # what the overrides replace
    assert pg.reward_config.scales.tracking == 2.0 and type(pg.reward_config.scales.tracking) is float
    assert pg.reward_config.scales.pose == -0.5 and pg.reward_config.tracking_sigma == 0.5
    assert list(pg.command_config.max) == [1.0, 2.0, 3.0]  # ints widen to the default's floats
    # the untouched sibling keys keep their defaults
    assert pg.reward_config.scales.orientation == default.reward_config.scales.orientation


@needs_playground
@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"reward_config": {"scales": {"trackin": 1.0}}},
         "env.playground.reward_config.scales.trackin is not a key of ApolloJoystickFlatTerrain's "
         "Playground config (did you mean env.playground.reward_config.scales.tracking?)"),
        ({"reward_cfg": {"tracking_sigma": 1.0}}, "(did you mean env.playground.reward_config?)"),
        ({"reward_config": {"scales": 1.0}},
         "env.playground.reward_config.scales is a section of ApolloJoystickFlatTerrain's "
         "Playground config, not a value: set one of its keys"),
        ({"reward_config": {"tracking_sigma": {"a": 1}}},
         "env.playground.reward_config.tracking_sigma is a value (0.25 (float))"),
        ({"reward_config": {"tracking_sigma": "wide"}},
         "env.playground.reward_config.tracking_sigma expects float (its Playground default is "
         "0.25), got 'wide' (str)"),
        ({"reward_config": {"tracking_sigma": True}}, "expects float (its Playground default"),
        ({"episode_length": 2.5}, "env.playground.episode_length expects int"),
        ({"command_config": {"max": 1.0}}, "env.playground.command_config.max expects a list"),
        ({"command_config": {"max": [1.0, "x"]}}, "env.playground.command_config.max expects float"),
    ],
)
def test_wrong_nested_playground_keys_and_types_are_one_line_errors(overrides, message):
    from playground.config import ConfigError
    from playground.tasks.playground_adapter import playground_config

    with pytest.raises(ConfigError) as info:
        playground_config("ApolloJoystickFlatTerrain", overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_wrong_nested_key_fails_the_cli_in_one_line(tmp_path):
    if not HAS_PLAYGROUND:
        pytest.skip("MuJoCo Playground (the .[playground] extra) is not installed")
    proc = _run(TRAIN + ["--task", "playground:CartpoleBalance", "--checkpoint-dir", str(tmp_path),
                         "--set", "env.playground.vision_config.cam_ress=[8, 8]"], tmp_path,
                timeout=300)
    line = _one_error_line(proc)
    assert "env.playground.vision_config.cam_ress is not a key" in line
    assert "did you mean env.playground.vision_config.cam_res?" in line


@needs_playground
def test_step_truncates_at_episode_length_and_sums_repeated_rewards(cartpole_env):
    env = cartpole_env
    state = jax.jit(env.reset)(jax.random.PRNGKey(1))
    step = jax.jit(env.step)
    action = jnp.zeros((1,))
    # one of our steps = two Playground steps: its reward is the sum of theirs
    pg_step = jax.jit(env.pg_env.step)
    first = pg_step(env._to_playground(state), action)
    second = pg_step(first, action)
    state = step(state, action)
    assert float(state.reward) == pytest.approx(float(first.reward + second.reward), rel=1e-5)
    np.testing.assert_allclose(state.data.qpos, second.data.qpos, rtol=1e-5, atol=1e-6)
    for _ in range(env.episode_length - 1):
        assert float(state.done) == 0.0
        state = step(state, action)
    assert int(state.info["step"]) == 25  # the balanced pole never terminates
    assert float(state.done) == 1.0 and float(state.info["truncation"]) == 1.0


@needs_playground
def test_a_playground_env_with_a_success_metric_defines_success(monkeypatch):
    """A Playground env whose metrics hold `success` (as PandaRobotiqPushCube's do; that one
    needs Menagerie, so a cart-pole that reports the pole within 0.1 rad stands in,
    registered through Playground's own registry) defines success "ever" through the adapter."""
    from mujoco_playground import registry
    from mujoco_playground._src import dm_control_suite
    from mujoco_playground._src.dm_control_suite import cartpole

    from playground.tasks.playground_adapter import PlaygroundEnv

    class BalanceWithSuccess(cartpole.Balance):
        def __init__(self, config=None, config_overrides=None):
            super().__init__(swing_up=False, sparse=False, config=config,
                             config_overrides=config_overrides)

        def reset(self, rng):
            state = super().reset(rng)
            return state.replace(metrics={**state.metrics, "success": jnp.zeros(())})

        def step(self, state, action):
            state = super().step(state, action)
            success = (jnp.abs(state.data.qpos[1]) < 0.1).astype(jnp.float32)
            return state.replace(metrics={**state.metrics, "success": success})

    name = "CartpoleBalanceWithSuccess"
    dm_control_suite.register_environment(name, BalanceWithSuccess, cartpole.default_config)
    monkeypatch.setattr(registry, "ALL_ENVS", (*registry.ALL_ENVS, name))  # read at its import
    try:
        env = PlaygroundEnv(_cfg(("env.task", f"playground:{name}")))
        assert env.success_mode == "ever" and "success" in env._metric_keys
    finally:
        dm_control_suite._envs.pop(name)
        dm_control_suite._cfgs.pop(name)


def _gear_randomizer(model, rng):
    """Playground's randomizer signature: (model, rng[B, 2]) -> (model with [B] fields, in_axes)."""

    @jax.vmap
    def gear(key):
        return model.actuator_gear.at[0, 0].set(jax.random.uniform(key, minval=1.0, maxval=20.0))

    gears = gear(rng)
    in_axes = jax.tree_util.tree_map(lambda _: None, model).tree_replace({"actuator_gear": 0})
    return model.tree_replace({"actuator_gear": gears}), in_axes


@needs_playground
def test_a_randomizer_draws_one_model_per_episode_and_steps_with_it():
    from playground.tasks.playground_adapter import PlaygroundEnv

    env = PlaygroundEnv(_cfg(), randomizer=_gear_randomizer)
    assert env._sys_paths == (".actuator_gear",)
    states = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 2))
    gears = np.asarray(states.info["sys"][".actuator_gear"][:, 0, 0])
    assert gears[0] != gears[1] and np.all((gears >= 1.0) & (gears <= 20.0))
    # both episodes from the same physics state: the cart velocity that a full push adds
    # (over no push) is force / mass * dt, and the force is gear * ctrl, so the two
    # episodes' extra velocities stand in the ratio of their gears
    same = states.replace(data=jax.tree_util.tree_map(lambda x: jnp.stack([x[0], x[0]]),
                                                      states.data))
    step = jax.jit(jax.vmap(env.step))
    pushed = np.asarray(step(same, jnp.ones((2, 1))).data.qvel[:, 0])
    coasting = np.asarray(step(same, jnp.zeros((2, 1))).data.qvel[:, 0])
    extra = pushed - coasting
    assert extra[0] / extra[1] == pytest.approx(gears[0] / gears[1], rel=1e-3)
    # the nominal model is back in place after tracing
    assert float(env.pg_env.unwrapped._mjx_model.actuator_gear[0, 0]) == float(
        env.mj_model.actuator_gear[0, 0])
