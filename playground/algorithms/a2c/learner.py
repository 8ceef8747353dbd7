"""A2C as an algorithm plug-in: the shared on-policy iteration with one gradient step.

Each iteration (`playground.algorithms.on_policy`): an unroll of `unroll_length` steps in
all envs, the hosted reward plug-ins' rewrite, GAE, then ONE clipped Adam step on
`compute_a2c_loss` over the whole batch (no ratio clipping, no minibatches, no epochs),
the observation-normalizer update, the plug-ins' own updates and the NaN guard. Networks,
normalizer, acting, the deploy contract and checkpoints are PPO's, so play, export and
serve take an A2C run as they take a PPO run.
"""

from __future__ import annotations

import jax

from playground.algorithms.a2c.losses import compute_a2c_loss
from playground.algorithms.on_policy import OnPolicyLearner
from playground.tasks.base import Env


class A2C(OnPolicyLearner):
    """A2C for one env and config, hosting `plugins` (reward plug-ins)."""

    SECTION = "a2c"

    def loss(self, params, normalizer, batch: dict, key: jax.Array):
        log_prob, entropy, values = self.evaluate_actions(params, normalizer, batch, key)
        return compute_a2c_loss(log_prob, batch["advantages"], values, batch["returns"], entropy,
                                **self.loss_weights())

    def update(self, params, opt_state, normalizer, batch: dict, key: jax.Array):
        """One gradient step on the whole [T*B] batch."""
        return self.gradient_step(params, opt_state, normalizer, batch, key)


def make_a2c(env: Env, cfg, derived, plugins: tuple = ()) -> A2C:
    """The registry's factory."""
    return A2C(env, cfg, derived, plugins)
