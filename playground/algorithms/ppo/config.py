"""PPO's config sections (`ppo`, `network`) and its derived values; import-light (no jax).

The algorithm registry names `SECTIONS`; `schedule(cfg)` tells the run loop how much
one iteration does and checks what spans PPO's keys (batch divisibility).
"""

from __future__ import annotations

from playground.config import (
    Computed,
    ConfigError,
    Field,
    Schedule,
    Section,
    at_least,
    greater_than,
    in_range,
    widths_at_least,
)

PPO = Section(
    "Proximal policy optimization.",
    {
        "num_envs": Field(int, 2048, "parallel envs", check=at_least(1)),
        "num_iterations": Field(int, 2000, "training iterations (rollout + update)",
                                check=at_least(1), resumable=True),
        "unroll_length": Field(int, 20, "env steps per env per iteration", check=at_least(1)),
        "train_episode_length": Field(
            int,
            0,
            "0 = the env's; else training episodes end after this many steps as a "
            "time limit (bootstrapped, not a termination), so more of the data starts "
            "episodes; evaluation, play and export keep the env's episode length",
            check=at_least(0, "0 = the env's episode length"),
        ),
        "num_minibatches": Field(int, 4, "minibatches per epoch", check=at_least(1)),
        "num_epochs": Field(int, 4, "passes over each rollout", check=at_least(1)),
        "learning_rate": Field(float, 3e-4, "Adam step size", check=greater_than(0)),
        "discount": Field(float, 0.97, "gamma per control step",
                          check=in_range(0, 1, lo_open=True)),
        "gae_lambda": Field(float, 0.95, "GAE lambda", check=in_range(0, 1, lo_open=True)),
        "clip_epsilon": Field(float, 0.2, "PPO ratio clip"),
        "value_loss_coef": Field(float, 0.5, "weight of the value loss"),
        "entropy_coef": Field(float, 0.005, "weight of the entropy bonus"),
        "max_grad_norm": Field(float, 1.0, "global gradient norm clip"),
        "normalize_observations": Field(bool, True, "running mean/std normalizer"),
        "obs_clip": Field(float, 10.0, "normalized observations clipped to +-this"),
        "normalize_advantages": Field(bool, True, "per-minibatch advantage whitening"),
        "reward_scaling": Field(float, 1.0, "multiplier on rewards seen by the learner"),
        "max_bad_updates": Field(
            int, 5, "consecutive non-finite updates before the run stops (exit 1)",
            resumable=True,
        ),
    },
)

NETWORK = Section(
    "Actor and critic MLPs.",
    {
        "policy_hidden": Field(list[int], [512, 256, 128], "hidden layer widths",
                               check=widths_at_least(1)),
        "value_hidden": Field(list[int], [512, 256, 128], "hidden layer widths",
                               check=widths_at_least(1)),
        "activation": Field(
            str, "swish", "hidden activation", choices=("swish", "relu", "elu", "tanh")
        ),
        "distribution": Field(
            str,
            "tanh_normal",
            "action distribution",
            choices=("tanh_normal", "normal"),
        ),
    },
)

SECTIONS = {"ppo": PPO, "network": NETWORK}


def schedule(cfg) -> Schedule:
    """Env steps per iteration (num_envs * unroll_length) and the minibatch size.

    ConfigError when the steps of an iteration do not split into ppo.num_minibatches.
    """
    ppo = cfg.ppo
    steps = ppo.num_envs * ppo.unroll_length
    if steps % ppo.num_minibatches:
        raise ConfigError(
            f"ppo.num_envs * ppo.unroll_length = {steps} env steps per iteration is not "
            f"divisible by ppo.num_minibatches {ppo.num_minibatches}")
    return Schedule(
        num_envs=ppo.num_envs, num_envs_key="ppo.num_envs",
        num_iterations=ppo.num_iterations, num_iterations_key="ppo.num_iterations",
        env_steps_per_iteration=steps,
        values={"minibatch_size": steps // ppo.num_minibatches},
    )


#: What `schedule` derives beyond the run loop's values, for docs/config.md.
DERIVED_DOCS = {
    "minibatch_size": "env steps per minibatch: env_steps_per_iteration / ppo.num_minibatches",
}


def _minibatches(batch_size, steps: int | None) -> int:
    """The trainer layout's minibatch size -> ppo.num_minibatches of the file's iteration."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"expects a minibatch size (an int >= 1), got {batch_size!r}")
    if steps is None:
        raise ConfigError("a minibatch size needs env.cfg.num_envs and runtime.rollout_steps "
                          "in the same file; set ppo.num_minibatches instead")
    if steps % batch_size:
        raise ConfigError(f"{batch_size} does not divide the {steps} env steps of an iteration "
                          "(env.cfg.num_envs x runtime.rollout_steps); ppo.num_minibatches "
                          "must be whole")
    return steps // batch_size


#: The keys of the JSON trainer layout (playground/config/layout.py) that PPO reads.
TRAINER_LAYOUT = {
    "runtime.iterations": "ppo.num_iterations",
    "runtime.rollout_steps": "ppo.unroll_length",
    "env.cfg.num_envs": "ppo.num_envs",
    "policy.actor.hidden_sizes": "network.policy_hidden",
    "policy.critic.hidden_sizes": "network.value_hidden",
    "policy.actor.activation": "network.activation",
    "policy.critic.activation": "network.activation",
    "algorithm.cfg.learning_rate": "ppo.learning_rate",
    "algorithm.cfg.n_epochs": "ppo.num_epochs",
    "algorithm.cfg.batch_size": Computed(
        "ppo.num_minibatches", _minibatches,
        "env.cfg.num_envs x runtime.rollout_steps / batch_size (a whole number)"),
    "algorithm.cfg.gamma": "ppo.discount",
    "algorithm.cfg.gae_lambda": "ppo.gae_lambda",
    "algorithm.cfg.clip_coef": "ppo.clip_epsilon",
    "algorithm.cfg.ent_coef": "ppo.entropy_coef",
    "algorithm.cfg.vf_coef": "ppo.value_loss_coef",
    "algorithm.cfg.max_grad_norm": "ppo.max_grad_norm",
}
