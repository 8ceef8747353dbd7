"""The cart-pole task's config (env, reward_weights); import-light (no jax, no mujoco).

The env reads exactly these keys (tasks/cartpole.py); the defaults are the
configs/cartpole_balance.yaml recipe.
"""

from __future__ import annotations

from playground.config import Field, FreeForm, Section, at_least, check_whole_multiple, greater_than

SECTIONS = {
    "env": Section(
        "The cart-pole: timing, action scale and success.",
        {
            "episode_length": Field(int, 500, "control steps before truncation (10 s)",
                                    check=at_least(1)),
            "ctrl_dt": Field(float, 0.02, "seconds per policy step", check=greater_than(0)),
            "sim_dt": Field(float, 0.01, "seconds per physics step; must divide ctrl_dt",
                            check=greater_than(0)),
            "action_scale": Field(
                float, 1.0, "multiplies the action before it becomes the motor command "
                "(clipped to the actuator's [-1, 1])"),
            "success_threshold": Field(
                float, 0.2, "rad: an episode succeeds when it reaches the time limit with "
                "the pole within this angle of upright (eval/success_rate)",
                check=greater_than(0)),
        },
    ),
    "reward_weights": FreeForm(
        float, "reward term -> weight; the one term is `balance` (1.0 if absent)"),
}


def check(cfg) -> None:
    """Cross-key checks: the control step is a whole number of physics steps."""
    check_whole_multiple(cfg, "env.ctrl_dt", "env.sim_dt")


#: The task's defaults per algorithm, above the sections' defaults and below the YAML
#: (configs/cartpole_balance.yaml gives PPO's recipe itself). A2C: many small batches (one
#: gradient step per 256 env steps) and a state-independent action std, kept from
#: collapsing by the entropy bonus; eval return >= 475 of 500 by 300k env steps and 495-500
#: at the end on seeds 0-2 (benchmarks/results/a2c_cartpole.md).
ALGORITHM_DEFAULTS = {
    "a2c": {
        "a2c": {
            "num_envs": 32,
            "num_iterations": 2000,
            "unroll_length": 8,
            "learning_rate": 1.0e-3,
            "discount": 0.99,
            "entropy_coef": 0.02,
        },
        "network": {"distribution": "normal"},
    },
}
