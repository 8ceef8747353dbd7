"""The config layer: precedence, --set parsing, every error, derived values, docs.

Fast and jax-free: the config must fail before anything compiles.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import textwrap
import time

import pytest

from playground import config, runs
from playground.config import ConfigError, derive, resolve_config
from playground.tasks import registry

ROOT = registry.PROJECT_ROOT


def write_yaml(tmp_path: pathlib.Path, text: str, name: str = "cfg.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def resolved(*argv: str):
    cfg, _ = resolve_config(list(argv))
    return cfg


def config_error(*argv: str) -> str:
    """The message of the ConfigError that resolving `argv` raises (always one line)."""
    with pytest.raises(ConfigError) as info:
        resolved(*argv)
    message = str(info.value)
    assert "\n" not in message
    return message


def with_values(**dotted) -> config.ml_collections.ConfigDict:
    """Humanoid production config with `dotted` keys (a__b -> a.b) replaced."""
    overrides = [(key.replace("__", "."), value) for key, value in dotted.items()]
    return config.resolve(None, overrides)


def _task_of(key: str) -> list[str]:
    """`--task` for a key of the Playground adapter's section (skip without the extra)."""
    if not key.startswith("env.playground"):
        return []
    pytest.importorskip("mujoco_playground")
    return ["--task", "playground:CartpoleBalance"]


# --------------------------------------------------------------------------- basics


def test_import_pulls_in_neither_jax_nor_mujoco():
    code = (
        "import sys, playground.config; "
        "bad = [m for m in ('jax', 'mujoco', 'flax', 'brax') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_default_config_is_locked_and_typed():
    cfg = config.default_config()
    assert cfg.ppo.num_envs == 2048 and isinstance(cfg.ppo.learning_rate, float)
    assert cfg.env.action_delay_steps == [0, 1] and cfg.algorithm.name == "ppo"
    assert cfg.run.name is None and cfg.reward_weights.to_dict() == {}
    with pytest.raises(AttributeError):
        cfg.ppo.not_a_key = 1
    with pytest.raises(AttributeError):
        cfg.reward_weights.alive = 1.0  # free-form mappings are locked too


def test_default_config_is_a_fresh_object_each_call():
    a, b = config.default_config(), config.default_config()
    a.env.action_delay_steps.append(7)
    assert b.env.action_delay_steps == [0, 1]


def test_resolved_config_is_locked():
    cfg = resolved("--verify")
    with pytest.raises(AttributeError):
        cfg.ppo.learning_rat = 1.0


# --------------------------------------------------------------------------- precedence


def test_no_arguments_loads_the_default_task_yaml():
    cfg = resolved()
    assert cfg.env.task == "humanoid_walk"
    assert cfg.reward_weights.tracking_lin_vel == 1.5  # only the task YAML sets this


def test_yaml_overrides_defaults_key_by_key(tmp_path):
    path = write_yaml(tmp_path, "ppo:\n  num_envs: 64\nreward_weights:\n  alive: 2\n")
    cfg = resolved("--config", path)
    assert cfg.ppo.num_envs == 64
    assert cfg.ppo.unroll_length == 20  # untouched: schema default
    assert cfg.reward_weights.to_dict() == {"alive": 2.0}


def test_quick_verify_applies_only_in_verify_mode(tmp_path):
    path = write_yaml(
        tmp_path,
        """
        ppo: {num_envs: 64, num_epochs: 3}
        quick_verify:
          ppo: {num_envs: 4}
        """,
    )
    assert resolved("--config", path).ppo.num_envs == 64
    cfg = resolved("--config", path, "--verify")
    assert cfg.ppo.num_envs == 4
    assert cfg.ppo.num_epochs == 3  # not in quick_verify: the YAML value stays


def test_command_line_beats_quick_verify():
    assert resolved("--verify").ppo.num_iterations == 10
    assert resolved("--verify", "--num-iterations", "8").ppo.num_iterations == 8


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--set", "ppo.num_envs=8", "--num-envs", "16"], 16),
        (["--num-envs", "16", "--set", "ppo.num_envs=8"], 8),
        (["--set", "ppo.num_envs=8", "--set", "ppo.num_envs=32"], 32),
    ],
)
def test_command_line_last_one_wins(argv, expected):
    assert resolved(*argv).ppo.num_envs == expected


def test_task_yaml_follows_the_final_env_task():
    assert resolved("--task", "cartpole_balance").ppo.num_envs == 128
    cfg = resolved("--task", "cartpole_balance", "--set", "env.task=humanoid_walk")
    assert cfg.env.task == "humanoid_walk" and cfg.ppo.num_envs == 2048


def test_config_file_is_not_replaced_by_task(tmp_path):
    path = write_yaml(tmp_path, "ppo: {num_envs: 64}\n")
    cfg = resolved("--config", path, "--task", "cartpole_balance")
    assert cfg.env.task == "cartpole_balance" and cfg.ppo.num_envs == 64


@pytest.mark.parametrize("shortcut", config.SHORTCUTS, ids=lambda s: s.flag)
def test_each_shortcut_is_exactly_one_set(shortcut):
    argv = [shortcut.flag] if shortcut.metavar is None else [shortcut.flag, "RAW"]
    args = config.build_arg_parser().parse_args(argv)
    assert args.overrides == ((shortcut.key, shortcut.value or "RAW"),)


def test_shortcuts_set_their_keys():
    cfg = resolved(
        "--seed",
        "3",
        "--checkpoint-dir",
        "/tmp/ck",
        "--no-wandb",
        "--enable-amp",
        "--amp-weight",
        "2",
    )
    assert cfg.run.seed == 3 and cfg.run.checkpoint_dir == "/tmp/ck"
    assert cfg.run.wandb.enabled is False and cfg.amp.enabled is True
    assert cfg.amp.weight == 2.0


def test_parser_defaults_are_not_shared_between_parses():
    parser = config.build_arg_parser()
    parser.parse_args(["--seed", "1"])
    assert parser.parse_args([]).overrides == ()


# --------------------------------------------------------------------------- --set values


@pytest.mark.parametrize(
    "assignment, key, expected, expected_type",
    [
        ("ppo.num_envs=64", "ppo.num_envs", 64, int),
        ("ppo.learning_rate=1e-4", "ppo.learning_rate", 1e-4, float),
        ("ppo.learning_rate=2.5E-3", "ppo.learning_rate", 2.5e-3, float),
        ("ppo.learning_rate=1", "ppo.learning_rate", 1.0, float),  # int accepted for float
        ("run.progress=false", "run.progress", False, bool),
        ("run.progress=True", "run.progress", True, bool),
        ("network.policy_hidden=[64, 64]", "network.policy_hidden", [64, 64], list),
        ("env.command.vx=[0, 1]", "env.command.vx", [0.0, 1.0], list),
        ("env.robot.feet=[l_foot, r_foot]", "env.robot.feet", ["l_foot", "r_foot"], list),
        ("run.compilation_cache=null", "run.compilation_cache", None, type(None)),
        ("env.base_height_target=0.3", "env.base_height_target", 0.3, float),
        ("run.name=my-run", "run.name", "my-run", str),
        ("run.name=123", "run.name", "123", str),  # a str key keeps number-like text
        ("run.checkpoint_dir=1e-4", "run.checkpoint_dir", "1e-4", str),
        ("run.wandb.mode=offline", "run.wandb.mode", "offline", str),
        ("reward_weights.alive=2", "reward_weights.alive", 2.0, float),
        ("env.playground.impl=jax", "env.playground.impl", "jax", str),
        ("env.playground.sizes=[1, 2.5]", "env.playground.sizes", [1, 2.5], list),
    ],
)
def test_set_parses_yaml_and_converts_to_the_key_type(assignment, key, expected, expected_type):
    cfg = resolved(*_task_of(key), "--set", assignment)
    value = cfg
    for part in key.split("."):
        value = value[part]
    assert value == expected and type(value) is expected_type


def test_set_a_whole_section_merges_its_keys():
    cfg = resolved("--set", "env.noise={scale: 0, gyro: 0.1}")
    assert cfg.env.noise.scale == 0.0 and cfg.env.noise.gyro == 0.1
    assert cfg.env.noise.joint_vel == 1.5


def test_set_keeps_text_after_the_first_equals():
    assert resolved("--set", "run.name=a=b").run.name == "a=b"


def test_apply_overrides_returns_a_new_dict():
    base = config.to_dict(config.default_config())
    updated = config.apply_overrides(base, [("ppo.num_envs", "8"), ("run.seed", 5)])
    assert updated["ppo"]["num_envs"] == 8 and updated["run"]["seed"] == 5
    assert base["ppo"]["num_envs"] == 2048


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "assignment, message",
    [
        (
            "ppo.learning_rat=1",
            "unknown config key 'ppo.learning_rat' (did you mean 'ppo.learning_rate'?)",
        ),
        ("ppo.seed=1", "unknown config key 'ppo.seed' (did you mean 'run.seed'?)"),
        ("rewards_weights.alive=1", "(did you mean 'reward_weights'?)"),
        ("ppo.num_envs.x=1", "unknown config key 'ppo.num_envs.x'"),
        ("ppo.num_envs=abc", "ppo.num_envs expects int, got 'abc' (str)"),
        ("ppo.num_envs=true", "ppo.num_envs expects int, got True (bool)"),
        ("ppo.num_envs=2.0", "ppo.num_envs expects int, got 2.0 (float)"),
        ("ppo.learning_rate=false", "ppo.learning_rate expects float, got False (bool)"),
        ("ppo.num_envs=null", "ppo.num_envs expects int, got null"),
        ("run.progress=1", "run.progress expects bool, got 1 (int)"),
        ("network.policy_hidden=64", "network.policy_hidden expects list[int], got 64 (int)"),
        ("network.policy_hidden=[64, x]", "network.policy_hidden[1] expects int, got 'x' (str)"),
        ("env.command.vx=[0.1]", "env.command.vx expects [lo, hi] (2 values)"),
        (
            "network.activation=gelu",
            "network.activation must be one of swish, relu, elu, tanh; got 'gelu'",
        ),
        ("network.distribution=beta", "must be one of tanh_normal, normal"),
        ("reward_weights.alive=high", "reward_weights.alive expects float, got 'high' (str)"),
        ("env.playground.a=[{b: 1}]", "env.playground.a expects a scalar, a list of scalars or"),
        ("reward_weights.a.b=1", "reward_weights is a flat mapping: 'reward_weights.a.b'"),
        ("env.noise=3", "env.noise expects a mapping of keys, got 3 (int)"),
        ("quick_verify.ppo.num_envs=2", "cannot --set quick_verify.ppo.num_envs"),
        ("ppo.num_envs=[1", "--set ppo.num_envs:1:3: invalid YAML"),
    ],
)
def test_set_errors_name_the_key(assignment, message):
    error = config_error(*_task_of(assignment), "--set", assignment)
    assert message in error
    assert error.startswith("command line: ")


def test_env_playground_takes_nested_keys_from_set_and_yaml(tmp_path):
    """Dotted --set paths, nested YAML mappings and dotted YAML keys are one nested tree."""
    path = write_yaml(tmp_path, """\
        env:
          playground:
            reward_config:
              scales: {tracking: 1.0, pose: -1.0}
            noise_config.level: 0.5
        """)
    cfg = resolved("--config", path, *_task_of("env.playground"),
                   "--set", "env.playground.reward_config.scales.pose=-0.5",
                   "--set", "env.playground.episode_length=500")
    assert config.to_dict(cfg)["env"]["playground"] == {
        "reward_config": {"scales": {"tracking": 1.0, "pose": -0.5}},  # merged key by key
        "noise_config": {"level": 0.5},
        "episode_length": 500,
    }
    saved = tmp_path / "saved.yaml"
    config.save_config(cfg, saved)
    assert config.to_dict(resolved("--config", str(saved))) == config.to_dict(cfg)
    changed = resolved("--config", str(saved), *_task_of("env.playground"),
                       "--set", "env.playground.reward_config.scales.pose=0")
    with pytest.raises(ConfigError, match=r"env.playground.reward_config.scales.pose cannot change"):
        config.resume_changes(config.to_dict(cfg), config.to_dict(changed))


def test_shortcut_value_of_the_wrong_type():
    assert "ppo.num_envs expects int, got 'lots' (str)" in config_error("--num-envs", "lots")


def test_set_without_equals():
    assert "--set expects KEY=VALUE, got 'ppo.num_envs'" in config_error("--set", "ppo.num_envs")


def test_unknown_task_lists_the_tasks(tmp_path):
    message = config_error("--task", "humanoid_run")
    assert "unknown task 'humanoid_run'" in message
    assert "cartpole_balance, humanoid_walk" in message
    path = write_yaml(tmp_path, "env: {task: humanoid_run}\n")
    assert "unknown task 'humanoid_run'" in config_error("--config", path)


def test_unknown_key_in_yaml_names_file_and_suggests(tmp_path):
    path = write_yaml(tmp_path, "ppo:\n  learning_rat: 1.0e-3\n")
    message = config_error("--config", path)
    assert message.startswith(path)
    assert "unknown config key 'ppo.learning_rat' (did you mean 'ppo.learning_rate'?)" in message


def test_unknown_key_without_a_close_match_lists_the_section(tmp_path):
    path = write_yaml(tmp_path, "amp:\n  zzzzzz: 1\n")
    assert "keys of amp: enabled, weight, motion_files, motion_layout" in config_error("--config", path)


def test_bad_quick_verify_key_fails_even_without_verify(tmp_path):
    path = write_yaml(tmp_path, "quick_verify:\n  ppo:\n    num_env: 4\n")
    message = config_error("--config", path)
    assert "unknown config key 'quick_verify.ppo.num_env'" in message
    assert "(did you mean 'quick_verify.ppo.num_envs'?)" in message


def test_bad_quick_verify_value_fails(tmp_path):
    path = write_yaml(tmp_path, "quick_verify:\n  ppo:\n    num_envs: four\n")
    assert "quick_verify.ppo.num_envs expects int, got 'four' (str)" in config_error(
        "--config", path
    )


def test_quick_verify_cannot_nest_itself(tmp_path):
    path = write_yaml(tmp_path, "quick_verify:\n  quick_verify: {}\n")
    assert "unknown config key 'quick_verify.quick_verify'" in config_error("--config", path)


def test_bad_yaml_names_file_and_line(tmp_path):
    path = write_yaml(tmp_path, "ppo:\n  num_envs: 4\n  num_epochs: [1, 2\n")
    message = config_error("--config", path)
    assert message.startswith(f"{path}:4:")
    assert "invalid YAML" in message


def test_duplicate_yaml_key_names_file_and_line(tmp_path):
    path = write_yaml(tmp_path, "ppo:\n  num_envs: 4\n  num_envs: 8\n")
    assert config_error("--config", path).startswith(f"{path}:3:")


def test_missing_config_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    assert config_error("--config", path) == f"config file not found: {path}"


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just a string\n"])
def test_yaml_top_level_must_be_a_mapping(tmp_path, text):
    path = write_yaml(tmp_path, text)
    assert "top level must be a mapping" in config_error("--config", path)


@pytest.mark.parametrize("text", ["", "\n  \n", "# ppo:\n#   num_envs: 8\n"])
def test_an_empty_yaml_file_is_refused_not_the_schema_defaults(tmp_path, text):
    # an empty --config used to train the schema's defaults (2048-env humanoid, 2000 iterations)
    path = write_yaml(tmp_path, text)
    with pytest.raises(config.ConfigError, match="the config file is empty"):
        resolved("--config", path)


def test_empty_yaml_section_changes_nothing(tmp_path):
    path = write_yaml(tmp_path, "ppo:\n  # num_envs: 8\nreward_weights:\n")
    cfg = resolved("--config", path)
    assert cfg.ppo.num_envs == 2048 and cfg.reward_weights.to_dict() == {}


def test_yaml_1_1_quirks_are_plain_strings(tmp_path):
    # yes/on are not booleans and 1e-4 is a float, as in YAML 1.2.
    path = write_yaml(
        tmp_path, "run: {name: on, checkpoint_dir: yes}\nppo: {learning_rate: 1e-4}\n"
    )
    cfg = resolved("--config", path)
    assert cfg.run.name == "on" and cfg.run.checkpoint_dir == "yes"
    assert cfg.ppo.learning_rate == 1e-4


# --------------------------------------------------------------------------- derive


def test_derive_production_humanoid():
    # 2048 envs * 20 steps = 40960 steps per iteration; 100000 / 40960 = 2.44 -> 2 per chunk.
    derived = derive(resolved())
    assert derived.env_steps_per_iteration == 40960
    assert derived.algorithm == {"minibatch_size": 10240}  # 40960 / 4
    assert derived.iterations_per_chunk == 2
    assert derived.num_chunks == 1000  # 2000 / 2
    assert derived.total_iterations == 2000
    assert derived.eval_every_chunks == 25  # 50 / 2
    assert derived.checkpoint_every_chunks == 50  # 100 / 2
    assert derived.total_env_steps == 81_920_000  # 2000 * 40960
    assert derived.notes == ("run.log_every 100000 -> 81920 env steps (2 iterations of 40960)",)


def test_derive_quick_verify_humanoid():
    # 4 envs * 16 steps = 64 per iteration; 128 / 64 = 2 per chunk; 10 iterations = 5 chunks.
    derived = derive(resolved("--verify"))
    assert (derived.env_steps_per_iteration, derived.algorithm["minibatch_size"]) == (64, 32)
    assert (derived.iterations_per_chunk, derived.num_chunks) == (2, 5)
    assert (derived.eval_every_chunks, derived.checkpoint_every_chunks) == (5, 5)
    assert derived.total_env_steps == 640 and derived.notes == ()


def test_derive_rounds_to_whole_chunks_and_says_so():
    # 8 envs * 10 steps = 80 per iteration; log_every 640 -> 8 iterations per chunk.
    # num_iterations 100 -> 13 chunks = 104 iterations; eval_every 15 -> 2 chunks = 16.
    cfg = with_values(
        ppo__num_envs=8,
        ppo__unroll_length=10,
        ppo__num_minibatches=4,
        ppo__num_iterations=100,
        run__log_every=640,
        run__eval_every=15,
        run__checkpoint_every=0,
        env__ctrl_dt=0.02,
        env__sim_dt=0.005,
    )
    derived = derive(cfg)
    assert derived.algorithm["minibatch_size"] == 20  # 80 / 4
    assert derived.iterations_per_chunk == 8
    assert derived.num_chunks == 13 and derived.total_iterations == 100  # last chunk: 4 idle
    assert derived.eval_every_chunks == 2
    assert derived.checkpoint_every_chunks == 0  # only at the end
    assert derived.total_env_steps == 100 * 80
    assert derived.notes == (
        "run.eval_every 15 -> 16 (multiple of the 8-iteration chunk)",
    )


def test_derive_chunk_rounds_half_up_and_is_capped_by_num_iterations():
    # 10 envs * 10 steps = 100 per iteration; log_every 250 -> 2.5 -> 3.
    cfg = with_values(
        ppo__num_envs=10, ppo__unroll_length=10, ppo__num_minibatches=1, run__log_every=250
    )
    assert derive(cfg).iterations_per_chunk == 3
    # log_every far beyond the run: one chunk of all 7 iterations.
    cfg = with_values(ppo__num_iterations=7, run__log_every=10**9)
    assert (derive(cfg).iterations_per_chunk, derive(cfg).num_chunks) == (7, 1)
    # log_every below one iteration: one iteration per chunk.
    assert derive(with_values(run__log_every=1)).iterations_per_chunk == 1


def test_derive_does_not_error_on_amp_without_motion_files():
    derive(with_values(amp__enabled=True, amp__motion_files=[]))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"ppo__num_envs": 0}, "ppo.num_envs must be >= 1, got 0"),
        (
            {"ppo__num_envs": 6, "run__devices": 4},
            "ppo.num_envs 6 is not divisible by run.devices 4",
        ),
        (
            {"ppo__num_envs": 3, "ppo__unroll_length": 5, "ppo__num_minibatches": 4},
            "ppo.num_envs * ppo.unroll_length = 15 env steps per iteration is not divisible by "
            "ppo.num_minibatches 4",
        ),
        ({"ppo__num_iterations": 0}, "ppo.num_iterations must be >= 1, got 0"),
        ({"ppo__discount": 0.0}, "ppo.discount must be in (0, 1], got 0.0"),
        ({"ppo__discount": 1.01}, "ppo.discount must be in (0, 1], got 1.01"),
        ({"ppo__gae_lambda": -0.5}, "ppo.gae_lambda must be in (0, 1], got -0.5"),
        ({"ppo__learning_rate": 0}, "ppo.learning_rate must be > 0, got 0.0"),
        ({"env__command__vx": [0.5, -0.5]}, "env.command.vx is [lo, hi] but lo > hi: [0.5, -0.5]"),
        (
            {"domain_randomization__mass_scale": [1.2, 0.8]},
            "domain_randomization.mass_scale is [lo, hi] but lo > hi",
        ),
        ({"env__action_delay_steps": [2, 1]}, "env.action_delay_steps is [lo, hi] but lo > hi"),
        ({"env__sim_dt": 0.003}, "env.ctrl_dt 0.02 is not a whole multiple of env.sim_dt 0.003"),
        ({"env__sim_dt": 0.03}, "env.ctrl_dt 0.02 is not a whole multiple of env.sim_dt 0.03"),
        ({"env__sim_dt": 0}, "env.sim_dt must be > 0"),
        ({"run__eval_envs": 0}, "run.eval_envs must be >= 1, got 0"),
        ({"run__eval_every": -1}, "run.eval_every must be >= 0"),
        ({"run__devices": -1}, "run.devices must be >= 0"),
        ({"network__value_hidden": [64, 0]}, "network.value_hidden widths must be >= 1"),
    ],
)
def test_derive_rejects_impossible_values(values, message):
    with pytest.raises(ConfigError) as info:
        derive(with_values(**values))
    assert message in str(info.value)


def test_sim_dt_dividing_within_tolerance_is_accepted():
    # 0.02 / 0.004 = 5.000000000000001 in floating point.
    derive(with_values(env__ctrl_dt=0.02, env__sim_dt=0.004))
    derive(with_values(env__ctrl_dt=0.03, env__sim_dt=0.01))


# --------------------------------------------------------------------------- round trip


def test_saved_config_resolves_back_identically(tmp_path):
    cfg = resolved(
        "--task",
        "cartpole_balance",
        "--verify",
        "--set",
        "ppo.learning_rate=1e-5",
        "--set",
        "run.name=1e-4",
        "--seed",
        "7",
    )
    path = tmp_path / "config.yaml"
    config.save_config(cfg, path)
    reloaded = resolved("--config", str(path))
    assert config.to_dict(reloaded) == config.to_dict(cfg)
    assert reloaded.run.name == "1e-4" and reloaded.ppo.learning_rate == 1e-5


@pytest.mark.parametrize("removed, value, refused", [
    ("kl_stop", 0.0, False), ("policy_average", 0.0, False), ("lr_schedule", "constant", False),
    ("desired_kl", 0.01, False),  # read only by the adaptive schedule: dropped whatever it was
    ("kl_stop", 0.1, True), ("policy_average", 0.95, True), ("lr_schedule", "adaptive", True),
])
def test_a_saved_config_with_a_removed_key_loads_when_it_was_off(removed, value, refused):
    saved = config.to_dict(config.default_config())
    saved["ppo"][removed] = value
    if refused:
        with pytest.raises(config.ConfigError, match=f"ppo.{removed}=.*removed; play or export"):
            config.from_saved(saved, source="ckpt")
    else:
        assert config.to_dict(config.from_saved(saved)) == config.to_dict(config.default_config())


def test_to_dict_is_plain_and_in_schema_order():
    values = config.to_dict(resolved())
    assert list(values) == list(config.schema_of(values).fields)
    assert type(values["env"]["noise"]) is dict and type(values["network"]["policy_hidden"]) is list


# --------------------------------------------------------------------------- reward weights


def test_validate_reward_weights():
    cfg = resolved()
    terms = list(cfg.reward_weights.keys()) + ["unused_term"]
    config.validate_reward_weights(cfg, terms)
    cfg = resolved("--set", "reward_weights.alvie=1.0")
    with pytest.raises(ConfigError) as info:
        config.validate_reward_weights(cfg, terms)
    assert "reward_weights.alvie is not a reward term of env 'humanoid_walk'" in str(info.value)
    assert "(did you mean 'alive'?)" in str(info.value)


# --------------------------------------------------------------------------- files in the repo


def test_docs_are_generated_from_the_schema():
    docs = (ROOT / "docs" / "config.md").read_text()
    assert docs == config.schema_markdown(), (
        "docs/config.md is stale: run python -m playground.config --write-docs docs/config.md"
    )


def test_write_docs_cli(tmp_path):
    path = tmp_path / "config.md"
    assert config.main(["--write-docs", str(path)]) == 0
    assert path.read_text() == config.schema_markdown()


def test_print_cli(capsys):
    assert config.main(["--print", "--task", "cartpole_balance", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "num_envs: 16" in out and "# derived.env_steps_per_iteration: 512" in out
    assert config.main(["--print", "--set", "ppo.bad=1"]) == 2


CONFIG_FILES = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("verify", [False, True], ids=["full", "verify"])
@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_every_config_file_resolves_and_derives(path, verify):
    cfg = resolved("--config", str(path), *(["--verify"] if verify else []))
    derive(cfg)
    if cfg.env.task.startswith("playground:"):  # MuJoCo Playground envs weight their own terms
        assert "reward_weights" not in cfg
    else:
        assert cfg.reward_weights.to_dict(), "a task YAML gives its reward weights"


def test_every_registered_task_has_a_yaml():
    for name, entry in registry.TASKS.items():
        assert resolved("--task", name).env.task == name
        assert entry.config_path.exists()


def test_humanoid_yaml_is_the_defaults_plus_reward_weights():
    """The production recipe is the defaults: its YAML states only the reward weights."""
    written = config.load_config_file(ROOT / "configs" / "humanoid_walk.yaml")
    assert set(written) == {"env", "reward_weights", "quick_verify"}
    assert written["env"] == {"task": "humanoid_walk"}
    cfg = config.to_dict(resolved())
    defaults = config.to_dict(config.default_config())
    for section in ("env", "ppo", "network", "domain_randomization", "amp", "run"):
        assert cfg[section] == defaults[section], section


# --------------------------------------------------------------------------- --resume


def _saved_run(root, name="run-a", step=40, **changes):
    """A run directory holding one complete step whose saved config is cartpole's + changes."""
    values = config.to_dict(resolved("--task", "cartpole_balance", "--num-iterations", "80"))
    for key, value in changes.items():
        section, field = key.split("__")
        values[section][field] = value
    step_dir = root / name / "checkpoints" / str(step)
    (step_dir / "config").mkdir(parents=True)
    (step_dir / "config" / "metadata").write_text(json.dumps(values))
    for part in (*runs.REQUIRED_FILES, f"{runs.DATA_DIR}/0"):  # what a restore reads
        (step_dir / part).parent.mkdir(parents=True, exist_ok=True)
        (step_dir / part).touch()
    return root / name


def test_resume_takes_the_saved_config_and_applies_resumable_overrides(tmp_path):
    run_dir = _saved_run(tmp_path, ppo__learning_rate=1e-4)
    cfg = resolved("--resume", str(run_dir), "--num-iterations", "160", "--no-wandb")
    assert cfg.env.task == "cartpole_balance" and cfg.ppo.learning_rate == 1e-4
    assert cfg.ppo.num_iterations == 160
    assert cfg.run.resume == str((run_dir / "checkpoints" / "40").resolve())


def test_resume_latest_picks_the_newest_complete_step(tmp_path):
    _saved_run(tmp_path, "old", step=10)
    time.sleep(0.01)
    newest = _saved_run(tmp_path, "new", step=20)
    (newest / "checkpoints" / "30.orbax-checkpoint-tmp-1").mkdir()  # a killed save
    cfg = resolved("--resume", "latest", "--checkpoint-dir", str(tmp_path))
    assert cfg.run.resume == str((newest / "checkpoints" / "20").resolve())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--num-envs", "64"], "ppo.num_envs cannot change when resuming"),
        (["--set", "network.policy_hidden=[8]"], "network.policy_hidden cannot change"),
        (["--set", "ppo.learning_rate=1.0"], "ppo.learning_rate cannot change"),
        (["--task", "humanoid_walk"], "env.task cannot change"),
        (["--config", "configs/cartpole_balance.yaml"], "--config cannot be combined with --resume"),
        (["--verify"], "--verify cannot be combined with --resume"),
    ],
)
def test_resume_refuses_changes_of_shape_or_problem(tmp_path, argv, message):
    run_dir = _saved_run(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolved("--resume", str(run_dir), *argv)


def test_resume_bad_paths_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file or directory"):
        resolved("--resume", str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no complete checkpoint step"):
        resolved("--resume", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="latest: no complete checkpoint"):
        resolved("--resume", "latest", "--checkpoint-dir", str(tmp_path / "empty"))


def test_resume_changes_lists_allowed_changes():
    saved = config.to_dict(resolved("--task", "cartpole_balance"))
    new = config.to_dict(resolved("--task", "cartpole_balance", "--num-iterations", "7",
                                  "--set", "run.wandb.project=x"))
    assert config.resume_changes(saved, new) == [
        f"ppo.num_iterations: {saved['ppo']['num_iterations']!r} -> 7",
        "run.wandb.project: 'playground' -> 'x'",
    ]


def test_resume_changes_accepts_a_checkpoint_from_an_older_schema():
    # A checkpoint saved before keys existed (here amp.* beyond the first three) holds a
    # partial config: the missing keys compare as today's defaults, not as changes.
    full = config.to_dict(resolved())
    saved = {**full, "amp": {key: full["amp"][key] for key in ("enabled", "weight", "motion_files")}}
    assert config.resume_changes(saved, full) == []
    changed = config.to_dict(resolved("--set", "amp.replay_size=7"))
    with pytest.raises(config.ConfigError, match="amp.replay_size cannot change"):
        config.resume_changes(saved, changed)


def test_run_resume_in_a_yaml_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("env: {task: cartpole_balance}\nrun: {resume: latest}\n")
    with pytest.raises(ConfigError, match="run.resume belongs on the command line"):
        config.resolve(path)
