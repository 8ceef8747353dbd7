"""SAC's config: a recipe's sections of other algorithms are skipped, its schedule derives
the ring and batch sizes, and impossible sizes are one-line ConfigErrors before any jax."""

import pytest

from playground import config

CARTPOLE_SAC = [("env.task", "cartpole_balance"), ("algorithm.name", "sac")]


def test_the_cartpole_recipe_holds_both_algorithms_and_each_run_reads_its_own():
    sac = config.to_dict(config.resolve(None, CARTPOLE_SAC))
    assert "ppo" not in sac and "network" not in sac
    assert sac["sac"]["num_envs"] == 32 and sac["sac"]["q_hidden"] == [64, 64]
    verify = config.to_dict(config.resolve(None, CARTPOLE_SAC, verify=True))
    assert verify["sac"]["num_envs"] == 8 and verify["sac"]["n_step"] == 3
    ppo = config.to_dict(config.resolve(None, [("env.task", "cartpole_balance")], verify=True))
    assert "sac" not in ppo and ppo["ppo"]["num_envs"] == 16


def test_a_section_no_algorithm_declares_is_still_an_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("env: {task: cartpole_balance}\nalgorithm: {name: sac}\nsca: {num_envs: 4}\n")
    with pytest.raises(config.ConfigError, match="unknown config key 'sca'"):
        config.resolve(recipe)
    with pytest.raises(config.ConfigError, match="has no section 'ppo'"):
        config.resolve(None, [*CARTPOLE_SAC, ("ppo.num_envs", 8)])  # the command line is explicit


def test_schedule_derives_updates_rows_and_samples():
    # 32 envs x 8 steps = 256 env steps; x 0.5 = 128 updates; 65536 / 32 = 2048 rows per env;
    # 256 / 32 = 8 rows from each env per update
    derived = config.derive(config.resolve(None, CARTPOLE_SAC))
    assert derived.env_steps_per_iteration == 256 and derived.num_envs == 32
    assert dict(derived.algorithm) == {"updates_per_iteration": 128, "rows_per_env": 2048,
                                       "samples_per_env": 8}


@pytest.mark.parametrize("overrides, message", [
    ([("sac.buffer_size", 1000)], "sac.buffer_size 1000 is not a multiple of sac.num_envs 32"),
    ([("sac.batch_size", 100)], "sac.batch_size 100 is not a multiple of sac.num_envs 32"),
    ([("sac.utd_ratio", 0.001)], "= 0.256 gradient updates per iteration"),
    ([("sac.warmup_steps", 100000)], "sac.warmup_steps 100000 exceeds sac.buffer_size"),
    ([("sac.buffer_size", 64), ("sac.warmup_steps", 0)], "fewer than sac.unroll_length 8"),
    ([("sac.tau", 0.0)], "sac.tau must be in (0, 1]"),
])
def test_impossible_sizes_are_one_line_errors(overrides, message):
    with pytest.raises(config.ConfigError) as error:
        config.derive(config.resolve(None, [*CARTPOLE_SAC, *overrides]))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_reward_plugin_is_refused_before_anything_is_built():
    cfg = config.resolve(None, [("algorithm.name", "sac"), ("amp.enabled", True)], verify=True)
    with pytest.raises(config.ConfigError, match="algorithm sac hosts no reward plug-ins yet; "
                                                 "turn off amp"):
        config.derive(cfg)
