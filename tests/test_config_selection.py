"""Choosing what trains: `--algorithm` (closest registered name when unknown), `--steps`
(an env-step budget for any algorithm), and a task's defaults per algorithm
(precedence: sections' defaults < the task's defaults < YAML < quick_verify < --set)."""

import pathlib
import subprocess
import sys

import pytest

from playground import config
from playground.config.load import SHORTCUTS
from playground.tasks import registry as tasks

ROOT = pathlib.Path(__file__).resolve().parents[1]
CARTPOLE = [("env.task", "cartpole_balance")]


def test_the_algorithm_and_steps_flags_are_shortcuts_for_one_set():
    keys = {s.flag: s.key for s in SHORTCUTS}
    assert keys["--algorithm"] == "algorithm.name" and keys["--steps"] == "run.env_steps"
    by_flag = config.resolve_config(["--task", "cartpole_balance", "--algorithm", "a2c",
                                     "--steps", "5000"])[0]
    by_set = config.resolve(None, [*CARTPOLE, ("algorithm.name", "a2c"), ("run.env_steps", 5000)])
    assert config.to_dict(by_flag) == config.to_dict(by_set)


def test_an_unknown_algorithm_is_one_line_exit_2_naming_the_closest_before_jax_loads():
    code = ("import sys; from playground.cli import train; rc = train.main(['--algorithm', 'a2cc']);"
            " print('jax' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "unknown algorithm 'a2cc' (did you mean 'a2c'?)" in line
    assert proc.stdout.strip() == "False"  # refused before jax was imported: nothing compiled


@pytest.mark.parametrize("algorithm, steps, iterations, total, rounded", [
    # a2c on the cart-pole (its defaults): 32 envs x 8 steps = 256 env steps per iteration
    ("a2c", 100_000, 391, 100_096, True),  # 100000 / 256 = 390.6 -> 391 (rounded up)
    ("a2c", 102_400, 400, 102_400, False),  # a whole number of iterations: as asked
    # ppo on the cart-pole (configs/cartpole_balance.yaml): 128 envs x 32 = 4096 per iteration
    ("ppo", 10_000, 3, 12_288, True),  # 10000 / 4096 = 2.44 -> 3
    ("ppo", 1, 1, 4_096, True),  # any budget runs at least one iteration
])
def test_steps_budget_rounds_up_to_whole_iterations(algorithm, steps, iterations, total, rounded):
    cfg = config.resolve(None, [*CARTPOLE, ("algorithm.name", algorithm), ("run.env_steps", steps)])
    derived = config.derive(cfg)
    assert (derived.total_iterations, derived.total_env_steps) == (iterations, total)
    (note,) = [n for n in derived.notes if n.startswith("run.env_steps")]
    assert ("rounded up to whole iterations" in note) == rounded
    assert f"{iterations} iterations of {total // iterations} env steps" in note
    assert f"{algorithm}.num_iterations is not used" in note


def test_without_a_steps_budget_the_algorithms_iterations_run():
    derived = config.derive(config.resolve(None, [*CARTPOLE, ("ppo.num_iterations", 7)]))
    assert derived.total_iterations == 7
    assert not any(n.startswith("run.env_steps") for n in derived.notes)


# A task registered from test code, with defaults for two algorithms.
ALGORITHM_DEFAULTS = {
    "a2c": {"a2c": {"learning_rate": 0.5, "discount": 0.5, "entropy_coef": 0.5}},
    "ppo": {"ppo": {"learning_rate": 0.25}},
}
BAD_DEFAULTS = {"a2c": {"a2c": {"learning_rat": 0.5}}}


@pytest.fixture
def toy_task(tmp_path):
    def register(name, defaults):
        tasks.register(tasks.TaskEntry(
            name, "none.yaml", "playground.tasks.cartpole:make_cartpole_env", "test task",
            "playground.tasks.cartpole_config:SECTIONS", algorithm_defaults=f"{__name__}:{defaults}"))
        names.append(name)

    names = []
    yield register
    for name in names:
        tasks.TASKS.pop(name)


def test_task_defaults_per_algorithm_sit_between_the_sections_and_the_yaml(toy_task, tmp_path):
    toy_task("toy_defaults", "ALGORITHM_DEFAULTS")
    recipe = tmp_path / "toy.yaml"
    # the recipe carries sections for both algorithms; a run reads its own
    recipe.write_text("env: {task: toy_defaults}\n"
                      "a2c: {discount: 0.9}\n"
                      "ppo: {entropy_coef: 0.2}\n"
                      "quick_verify: {a2c: {num_envs: 4}, ppo: {num_envs: 8}}\n")
    a2c = config.resolve(recipe, [("algorithm.name", "a2c"), ("a2c.entropy_coef", 0.3)],
                         verify=True).a2c
    assert a2c.learning_rate == 0.5  # the task's default beats the section's (3e-4)
    assert a2c.discount == 0.9  # the YAML beats the task's default (0.5)
    assert a2c.entropy_coef == 0.3  # --set beats both
    assert a2c.gae_lambda == 0.95  # nobody set it: the section's default
    assert a2c.num_envs == 4  # quick_verify's a2c part; its ppo part is skipped
    ppo = config.resolve(recipe, [("algorithm.name", "ppo")]).ppo
    assert (ppo.learning_rate, ppo.entropy_coef, ppo.num_envs) == (0.25, 0.2, 2048)
    assert config.default_config("toy_defaults", "a2c").a2c.learning_rate == 0.5
    assert config.default_config("toy_defaults", "a2c").a2c.discount == 0.5
    # another algorithm's key on the command line is still an error, naming the run's own
    with pytest.raises(config.ConfigError, match="has no section 'ppo'.*did you mean "
                                                 "'a2c.learning_rate'"):
        config.resolve(recipe, [("algorithm.name", "a2c"), ("ppo.learning_rate", 0.1)])


def test_a_bad_task_default_names_the_task_and_the_key(toy_task):
    toy_task("toy_bad_defaults", "BAD_DEFAULTS")
    with pytest.raises(config.ConfigError,
                       match=r"task toy_bad_defaults's defaults for a2c: unknown config key "
                             r"'a2c.learning_rat' \(did you mean 'a2c.learning_rate'\?\)"):
        config.default_config("toy_bad_defaults", "a2c")


def test_an_unknown_section_is_still_an_error_in_a_recipe(tmp_path):
    recipe = tmp_path / "typo.yaml"
    recipe.write_text("env: {task: cartpole_balance}\nppoo: {num_envs: 4}\n")
    with pytest.raises(config.ConfigError, match="unknown config key 'ppoo'"):
        config.resolve(recipe, [("algorithm.name", "a2c")])
