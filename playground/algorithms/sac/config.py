"""SAC's config section (`sac`) and its derived values; import-light (no jax).

The algorithm registry names `SECTIONS`; `schedule(cfg)` tells the run loop how much
one iteration does and checks what spans SAC's keys (the replay ring's rows per env,
the batch split over envs, whole gradient updates per iteration).
"""

from __future__ import annotations

from playground.config import (
    ConfigError,
    Field,
    Schedule,
    Section,
    at_least,
    greater_than,
    in_range,
    widths_at_least,
)

SAC = Section(
    "Soft actor-critic: parallel envs feed a replay ring on the device; twin Q networks "
    "with Polyak targets; automatic entropy tuning (docs/algorithms.md).",
    {
        "num_envs": Field(int, 128, "parallel envs", check=at_least(1)),
        "num_iterations": Field(int, 2000, "training iterations (unroll + updates)",
                                check=at_least(1), resumable=True),
        "unroll_length": Field(int, 1, "env steps per env per iteration", check=at_least(1)),
        "train_episode_length": Field(
            int, 0, "0 = the env's; else training episodes end after this many steps as a "
            "time limit (bootstrapped, not a termination); evaluation keeps the env's length",
            check=at_least(0, "0 = the env's episode length")),
        "buffer_size": Field(
            int, 1_048_576, "replay capacity in transitions (all envs); a multiple of "
            "num_envs: each env keeps its own ring of buffer_size / num_envs rows",
            check=at_least(1)),
        "checkpoint_replay": Field(
            bool, True, "save the replay ring in checkpoints; false: checkpoints are small and "
            "a resume starts with an empty ring (exact except for the buffer contents)"),
        "batch_size": Field(
            int, 256, "transitions per gradient update; a multiple of num_envs (each update "
            "takes batch_size / num_envs rows from every env's ring)", check=at_least(1)),
        "utd_ratio": Field(
            float, 0.125, "updates-to-data ratio: gradient updates per env step collected "
            "(num_envs * unroll_length * utd_ratio updates per iteration, a whole number)",
            check=greater_than(0)),
        "warmup_steps": Field(
            int, 5000, "env steps (all envs) of uniform random actions at the start of a run; "
            "updates begin once the ring holds this many transitions",
            check=at_least(0)),
        "learning_rate": Field(float, 3e-4, "Adam step size of the actor and the critics",
                               check=greater_than(0)),
        "alpha_learning_rate": Field(float, 3e-4, "Adam step size of log(alpha), the "
                                     "entropy temperature", check=greater_than(0)),
        "init_alpha": Field(float, 1.0, "initial entropy temperature alpha",
                            check=greater_than(0)),
        "target_entropy": Field(float, None, "entropy the temperature tuning aims at "
                                "(null: -action_size)", optional=True),
        "discount": Field(float, 0.99, "gamma per control step",
                          check=in_range(0, 1, lo_open=True)),
        "tau": Field(float, 0.005, "Polyak rate: target <- (1 - tau) target + tau online",
                     check=in_range(0, 1, lo_open=True)),
        "n_step": Field(int, 1, "n-step returns (1: one-step TD); a return never sums across "
                        "an episode end", check=at_least(1)),
        "reward_scaling": Field(float, 1.0, "multiplier on rewards seen by the learner"),
        "normalize_observations": Field(bool, True, "running mean/std normalizer"),
        "obs_clip": Field(float, 10.0, "normalized observations clipped to +-this",
                          check=greater_than(0)),
        "policy_hidden": Field(list[int], [256, 256], "actor hidden layer widths",
                               check=widths_at_least(1)),
        "q_hidden": Field(list[int], [256, 256], "hidden layer widths of each of the twin Q "
                          "networks", check=widths_at_least(1)),
        "activation": Field(str, "relu", "hidden activation",
                            choices=("swish", "relu", "elu", "tanh")),
        "max_bad_updates": Field(
            int, 5, "consecutive non-finite updates before the run stops (exit 1)",
            check=at_least(1), resumable=True),
    },
)

SECTIONS = {"sac": SAC}


def refuse_reward_plugins(names) -> None:
    """ConfigError naming the enabled reward plug-ins (SAC hosts none yet); none: nothing."""
    names = list(names)
    if names:
        raise ConfigError(
            f"algorithm sac hosts no reward plug-ins yet; turn off {', '.join(names)} "
            f"(--set {names[0]}.enabled=false) or train with ppo")


def check(cfg) -> None:
    """Cross-key checks before anything is built: no reward plug-in is enabled."""
    from playground.rewards import registry

    refuse_reward_plugins(name for name in registry.REWARD_PLUGINS if registry.enabled(cfg, name))


def _whole(value: float) -> int | None:
    """`value` as an int when it is one (up to float rounding), else None."""
    nearest = round(value)
    return int(nearest) if abs(value - nearest) <= 1e-6 * max(1.0, abs(value)) else None


def schedule(cfg) -> Schedule:
    """Env steps per iteration (num_envs * unroll_length), gradient updates per iteration,
    the ring's rows per env and the rows each env gives a batch.

    ConfigError when the buffer or the batch does not split over the envs, when the
    updates of an iteration are not a whole number, or when the ring cannot hold the
    warm-up, an iteration's rows or an n-step window.
    """
    sac = cfg.sac
    envs = sac.num_envs
    steps = envs * sac.unroll_length
    if sac.buffer_size % envs:
        raise ConfigError(
            f"sac.buffer_size {sac.buffer_size} is not a multiple of sac.num_envs {envs} "
            f"(each env keeps buffer_size / num_envs rows): e.g. {sac.buffer_size // envs * envs}"
            f" or {(sac.buffer_size // envs + 1) * envs}")
    rows_per_env = sac.buffer_size // envs
    if rows_per_env < max(sac.unroll_length, sac.n_step):
        raise ConfigError(
            f"sac.buffer_size {sac.buffer_size} gives each of the {envs} envs {rows_per_env} "
            f"rows: fewer than sac.unroll_length {sac.unroll_length} or sac.n_step "
            f"{sac.n_step}")
    if sac.batch_size % envs:
        raise ConfigError(
            f"sac.batch_size {sac.batch_size} is not a multiple of sac.num_envs {envs} "
            "(every update takes batch_size / num_envs rows from each env's ring)")
    updates = _whole(steps * sac.utd_ratio)
    if not updates:
        raise ConfigError(
            f"sac.utd_ratio {sac.utd_ratio} x {steps} env steps per iteration (sac.num_envs "
            f"* sac.unroll_length) = {steps * sac.utd_ratio:g} gradient updates per "
            "iteration: it must be a whole number >= 1")
    if sac.warmup_steps > sac.buffer_size:
        raise ConfigError(
            f"sac.warmup_steps {sac.warmup_steps} exceeds sac.buffer_size {sac.buffer_size}: "
            "updates would never begin")
    return Schedule(
        num_envs=envs, num_envs_key="sac.num_envs",
        num_iterations=sac.num_iterations, num_iterations_key="sac.num_iterations",
        env_steps_per_iteration=steps,
        values={"updates_per_iteration": updates, "rows_per_env": rows_per_env,
                "samples_per_env": sac.batch_size // envs},
    )


#: What `schedule` derives beyond the run loop's values, for docs/config.md.
DERIVED_DOCS = {
    "updates_per_iteration": "gradient updates per iteration: env_steps_per_iteration * "
                             "sac.utd_ratio",
    "rows_per_env": "replay rows each env's ring holds: sac.buffer_size / sac.num_envs",
    "samples_per_env": "rows each update samples from every env's ring: sac.batch_size / "
                       "sac.num_envs",
}


#: The keys of the JSON trainer layout (playground/config/layout.py) that SAC reads; the
#: algorithm.cfg names are the common off-policy ones (buffer_size, learning_starts, tau).
TRAINER_LAYOUT = {
    "runtime.iterations": "sac.num_iterations",
    "runtime.rollout_steps": "sac.unroll_length",
    "env.cfg.num_envs": "sac.num_envs",
    "policy.actor.hidden_sizes": "sac.policy_hidden",
    "policy.critic.hidden_sizes": "sac.q_hidden",
    "policy.actor.activation": "sac.activation",
    "policy.critic.activation": "sac.activation",
    "algorithm.cfg.learning_rate": "sac.learning_rate",
    "algorithm.cfg.gamma": "sac.discount",
    "algorithm.cfg.batch_size": "sac.batch_size",
    "algorithm.cfg.buffer_size": "sac.buffer_size",
    "algorithm.cfg.learning_starts": "sac.warmup_steps",
    "algorithm.cfg.tau": "sac.tau",
    "algorithm.cfg.target_entropy": "sac.target_entropy",
}
