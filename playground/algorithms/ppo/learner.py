"""PPO as an algorithm plug-in: its update rule on the shared on-policy iteration.

`train_step(carry) -> (carry, metrics)` (`playground.algorithms.on_policy`) does a whole
iteration: an unroll of `unroll_length` steps in all envs, the hosted reward plug-ins'
rewrite, GAE, then PPO's update, `num_epochs` x `num_minibatches` clipped-surrogate Adam
steps, the observation-normalizer update, the plug-ins' own updates, and a guard that
discards a non-finite update whole. The run loop (`playground.runner`) scans it in
chunks and never looks inside.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from playground.algorithms.on_policy import OnPolicyLearner
from playground.algorithms.ppo.losses import compute_ppo_loss
from playground.tasks.base import Env


class PPO(OnPolicyLearner):
    """PPO for one env and config, hosting `plugins` (reward plug-ins)."""

    SECTION = "ppo"

    def __init__(self, env: Env, cfg, derived, plugins: tuple = ()):
        super().__init__(env, cfg, derived, plugins)
        self.num_minibatches = int(cfg.ppo.num_minibatches)
        self.num_epochs = int(cfg.ppo.num_epochs)

    def loss(self, params, normalizer, mb: dict, key: jax.Array):
        new_log_prob, entropy, new_values = self.evaluate_actions(params, normalizer, mb, key)
        return compute_ppo_loss(new_log_prob, mb["log_prob"], mb["advantages"], new_values,
                                mb["returns"], entropy,
                                clip_epsilon=float(self.cfg.ppo.clip_epsilon),
                                **self.loss_weights())

    def update(self, params, opt_state, normalizer, batch: dict, key: jax.Array):
        """num_epochs passes of num_minibatches shuffled minibatches over [N] samples."""
        n = batch["log_prob"].shape[0]
        num_minibatches = self.num_minibatches

        def minibatch_step(c, xs):
            params, opt_state = c
            mb, key_mb = xs
            params, opt_state, metrics = self.gradient_step(params, opt_state, normalizer, mb,
                                                            key_mb)
            return (params, opt_state), metrics

        def epoch(c, key_epoch):
            key_perm, key_mb = jax.random.split(key_epoch)
            perm = jax.random.permutation(key_perm, n)
            shuffled = jax.tree_util.tree_map(
                lambda x: x[perm].reshape((num_minibatches, n // num_minibatches) + x.shape[1:]),
                batch,
            )
            return jax.lax.scan(
                minibatch_step, c, (shuffled, jax.random.split(key_mb, num_minibatches))
            )

        (params, opt_state), metrics = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, self.num_epochs)
        )
        return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)


def make_ppo(env: Env, cfg, derived, plugins: tuple = ()) -> PPO:
    """The registry's factory."""
    return PPO(env, cfg, derived, plugins)
