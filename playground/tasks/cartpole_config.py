"""The cart-pole task's config (env, reward_weights); import-light (no jax, no mujoco).

The env reads exactly these keys (tasks/cartpole.py); the defaults are the
configs/cartpole_balance.yaml recipe.
"""

from __future__ import annotations

from playground.config import Field, FreeForm, Section, at_least, check_whole_multiple, greater_than

SECTIONS = {
    "env": Section(
        "The cart-pole: timing and action scale.",
        {
            "episode_length": Field(int, 500, "control steps before truncation (10 s)",
                                    check=at_least(1)),
            "ctrl_dt": Field(float, 0.02, "seconds per policy step", check=greater_than(0)),
            "sim_dt": Field(float, 0.01, "seconds per physics step; must divide ctrl_dt",
                            check=greater_than(0)),
            "action_scale": Field(
                float, 1.0, "multiplies the action before it becomes the motor command "
                "(clipped to the actuator's [-1, 1])"),
        },
    ),
    "reward_weights": FreeForm(
        float, "reward term -> weight; the one term is `balance` (1.0 if absent)"),
}


def check(cfg) -> None:
    """Cross-key checks: the control step is a whole number of physics steps."""
    check_whole_multiple(cfg, "env.ctrl_dt", "env.sim_dt")


#: The task's defaults per algorithm, above the sections' defaults and below the YAML
#: (configs/cartpole_balance.yaml gives PPO's recipe itself).
ALGORITHM_DEFAULTS = {
    "a2c": {
        "a2c": {
            "num_envs": 64,
            "num_iterations": 400,
            "unroll_length": 16,
            "learning_rate": 3.0e-3,
            "discount": 0.99,
            "entropy_coef": 0.01,
        },
    },
}
