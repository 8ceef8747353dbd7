"""Sections owned by tasks and algorithms: per-run schemas, refusals, toy registrations."""

from __future__ import annotations

import sys
import types

import pytest

from playground import config
from playground.algorithms import registry as algorithms
from playground.config import ConfigError, Field, Schedule, Section, at_least
from playground.tasks import registry as tasks


@pytest.mark.parametrize("task, key, closest", [
    ("cartpole_balance", "env.gait.frequency", None),
    ("cartpole_balance", "amp.weight", None),
    ("cartpole_balance", "domain_randomization.enabled", None),
    ("cartpole_balance", "env.episode_lenght", "env.episode_length"),
])
def test_a_key_the_task_does_not_read_is_refused(task, key, closest):
    with pytest.raises(ConfigError) as info:
        config.resolve_config(["--task", task, "--set", f"{key}=1"])
    message = str(info.value)
    assert message.startswith("command line: unknown config key '" + key.split(".")[0]), message
    if closest:
        assert f"(did you mean {closest!r}?)" in str(info.value)


def test_unknown_key_exits_2_from_the_config_cli(capsys):
    assert config.main(["--print", "--task", "cartpole_balance", "--set", "env.gait.enabled=false"]) == 2
    assert "unknown config key 'env.gait" in capsys.readouterr().err


def test_saved_config_of_the_old_global_schema_loads_without_foreign_keys():
    old = config.to_dict(config.default_config())  # every humanoid key
    old["env"]["task"] = "cartpole_balance"
    cfg = config.from_saved(old)
    assert "amp" not in cfg and "noise" not in cfg.env and cfg.env.episode_length == 1000


def test_a_toy_task_and_algorithm_registered_from_test_code():
    module = types.ModuleType("toy_owners")
    module.TASK = {"env": Section("toy", {"size": Field(int, 3, "cells", check=at_least(1))})}
    module.ALGO = {"toy_algo": Section("toy", {"steps": Field(int, 8, "steps per iteration"),
                                               "iterations": Field(int, 5, "iterations")})}
    module.schedule = lambda cfg: Schedule(
        num_envs=1, num_envs_key="toy_algo.steps", num_iterations=cfg.toy_algo.iterations,
        num_iterations_key="toy_algo.iterations", env_steps_per_iteration=cfg.toy_algo.steps)
    sys.modules["toy_owners"] = module
    tasks.register(tasks.TaskEntry("toy", "toy.yaml", "toy_owners:make", "toy", "toy_owners:TASK"))
    algorithms.register(algorithms.AlgorithmEntry("toy_algo", "toy_owners:ALGO", "x:y", "toy"))
    try:
        values = {"env": {"task": "toy", "size": 4}, "algorithm": {"name": "toy_algo"}}
        cfg = config.from_saved(values)
        assert list(config.to_dict(cfg)) == ["env", "algorithm", "toy_algo", "run", "quick_verify"]
        assert config.derive(cfg).total_env_steps == 40
        with pytest.raises(ConfigError, match="env.size must be >= 1"):
            config.derive(config.from_saved(values, [("env.size", 0)]))
        with pytest.raises(ConfigError, match=r"unknown config key 'ppo.num_envs' \(task 'toy' with "
                           r"algorithm 'toy_algo' has no section 'ppo'\)"):
            config.from_saved(values, [("ppo.num_envs", 4)])
    finally:
        tasks.TASKS.pop("toy")
        algorithms.ALGORITHMS.pop("toy_algo")
        sys.modules.pop("toy_owners")
