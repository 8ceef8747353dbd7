"""A2C's config sections (`a2c`, and PPO's `network`); import-light (no jax).

The keys A2C shares with PPO are PPO's fields (one definition, one doc); A2C has no
clipping, minibatches or epochs. The algorithm registry names `SECTIONS`; `schedule(cfg)`
tells the run loop how much one iteration does.
"""

from __future__ import annotations

import dataclasses

from playground.algorithms.ppo.config import NETWORK, PPO
from playground.algorithms.ppo.config import TRAINER_LAYOUT as PPO_TRAINER_LAYOUT
from playground.config import Schedule, Section

#: PPO's keys that mean the same in A2C (same type, default, doc and check).
SHARED_WITH_PPO = ("num_envs", "num_iterations", "unroll_length", "train_episode_length",
                   "learning_rate", "discount", "gae_lambda", "value_loss_coef",
                   "entropy_coef", "max_grad_norm", "normalize_observations", "obs_clip",
                   "reward_scaling", "max_bad_updates")

A2C = Section(
    "Synchronous advantage actor-critic: one unroll, then one gradient step on the whole "
    "batch (no ratio clipping, no minibatches, no epochs).",
    {
        **{key: PPO.fields[key] for key in SHARED_WITH_PPO},
        "normalize_advantages": dataclasses.replace(
            PPO.fields["normalize_advantages"],
            doc="advantage whitening over the iteration's whole batch"),
    },
)

SECTIONS = {"a2c": A2C, "network": NETWORK}

#: The keys of the JSON trainer layout (playground/config/layout.py) that A2C reads: PPO's,
#: where they name a key A2C shares or the network; clip_coef, n_epochs and batch_size
#: have no A2C counterpart and are refused in one line.
TRAINER_LAYOUT = {
    theirs: ours.replace("ppo.", "a2c.", 1)
    for theirs, ours in PPO_TRAINER_LAYOUT.items()
    if isinstance(ours, str)
    and (not ours.startswith("ppo.") or ours.removeprefix("ppo.") in SHARED_WITH_PPO)
}


def schedule(cfg) -> Schedule:
    """Env steps per iteration: a2c.num_envs * a2c.unroll_length, one gradient step each."""
    a2c = cfg.a2c
    return Schedule(
        num_envs=a2c.num_envs, num_envs_key="a2c.num_envs",
        num_iterations=a2c.num_iterations, num_iterations_key="a2c.num_iterations",
        env_steps_per_iteration=a2c.num_envs * a2c.unroll_length,
    )
