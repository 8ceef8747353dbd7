"""AMP discriminator: network, least-squares GAN loss, style reward, policy replay buffer.

The math is small top-level pure functions (each unit-tested against hand-worked
numbers); `make_amp_learner` binds them to a config, a robot and its reference
clips, and is what the PPO trainer calls inside its one jitted iteration:

    features(data, next_data)          -> policy (s, s') features of one env step
    style_reward(state, s, s_next)     -> max(0, 1 - 0.25 (d - 1)^2) per transition
    update(state, s, s_next, valid, k) -> replay insert, normalizer, disc steps

The discriminator D sees [normalize(s), normalize(s')] (one shared running
normalizer for reference and policy features) and is trained with targets +1 on
reference transitions and -1 on policy transitions (Peng et al. 2021), which is
what makes the reward mapping above peak (1) at d = 1 and vanish at d <= -1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import linen, struct

from playground.rewards.amp import features as amp_features

#: a discriminator whose accuracy stays above this for SATURATION_ITERATIONS
#: iterations in a row gets a warning in the run log (its style reward has collapsed)
SATURATION_ACCURACY = 0.99
SATURATION_ITERATIONS = 50


# --------------------------------------------------------------------------- network


class Discriminator(linen.Module):
    """MLP [..., 2F] -> [...] logit d; ReLU hidden layers, a linear output."""

    hidden: Sequence[int]

    @linen.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.hidden):
            x = linen.relu(linen.Dense(width, name=f"hidden_{i}")(x))
        return linen.Dense(1, name="out")(x)[..., 0]


def make_disc_input(normalizer, s: jax.Array, s_next: jax.Array) -> jax.Array:
    """[..., 2F] discriminator input: both sides of a transition, normalized alike."""
    return jnp.concatenate([amp_features.normalize_features(normalizer, s),
                            amp_features.normalize_features(normalizer, s_next)], axis=-1)


# --------------------------------------------------------------------------- math


def _weighted_mean(x: jax.Array, weights: jax.Array | None) -> jax.Array:
    if weights is None:
        return jnp.mean(x)
    return jnp.sum(x * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def compute_lsgan_loss(reference_logits: jax.Array, policy_logits: jax.Array,
                       policy_weights: jax.Array | None = None) -> jax.Array:
    """Least-squares GAN loss 0.5 (E_ref[(d - 1)^2] + E_pol[(d + 1)^2]).

    reference_logits [Br], policy_logits [Bp], policy_weights [Bp] (1 = a usable
    transition, 0 = padding; None = all usable). Returns a scalar.
    """
    ref = jnp.mean(jnp.square(reference_logits - 1.0))
    pol = _weighted_mean(jnp.square(policy_logits + 1.0), policy_weights)
    return 0.5 * (ref + pol)


def compute_logits_and_input_grads(disc_fn: Callable[[jax.Array], jax.Array], inputs: jax.Array
                                   ) -> tuple[jax.Array, jax.Array]:
    """Logits d [B] of inputs [B, D] and each sample's input gradient grad_x d [B, D].

    One forward and one backward pass: d_i depends on row i only, so the pullback of
    a cotangent of ones is exactly the per-sample gradient (no vmap of grad, no
    second forward pass for the logits).
    """
    logits, pullback = jax.vjp(disc_fn, inputs)
    (grads,) = pullback(jnp.ones_like(logits))
    return logits, grads


def compute_style_reward(logits: jax.Array) -> jax.Array:
    """[...] style reward max(0, 1 - 0.25 (d - 1)^2) of discriminator logits [...]."""
    return jnp.maximum(0.0, 1.0 - 0.25 * jnp.square(logits - 1.0))


def compute_disc_accuracy(reference_logits: jax.Array, policy_logits: jax.Array,
                          policy_weights: jax.Array | None = None) -> jax.Array:
    """Mean of P(d > 0 | reference) and P(d < 0 | policy): 0.5 = blind, 1 = saturated."""
    ref = jnp.mean((reference_logits > 0).astype(jnp.float32))
    pol = _weighted_mean((policy_logits < 0).astype(jnp.float32), policy_weights)
    return 0.5 * (ref + pol)


def kernel_sq_norms(params) -> tuple[jax.Array, jax.Array]:
    """(sum of squares of every Dense kernel, of the output layer's kernel only)."""
    layers = params["params"]
    every = sum(jnp.sum(jnp.square(layer["kernel"])) for layer in layers.values())
    return every, jnp.sum(jnp.square(layers["out"]["kernel"]))


def compute_disc_loss(params, apply_fn, reference_inputs: jax.Array, policy_inputs: jax.Array,
                      policy_weights: jax.Array, *, grad_penalty: float, logit_reg: float,
                      weight_decay: float) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Total discriminator loss and its parts.

    reference_inputs [Br, 2F] and policy_inputs [Bp, 2F] are normalized transitions;
    policy_weights [Bp]. loss = LSGAN + (grad_penalty / 2) E_ref|grad_x d|^2
    + logit_reg |W_out|^2 + weight_decay sum |W|^2.
    """
    ref_logits, ref_grads = compute_logits_and_input_grads(lambda x: apply_fn(params, x),
                                                           reference_inputs)
    pol_logits = apply_fn(params, policy_inputs)
    lsgan = compute_lsgan_loss(ref_logits, pol_logits, policy_weights)
    penalty = jnp.mean(jnp.sum(jnp.square(ref_grads), axis=-1))
    every, out = kernel_sq_norms(params)
    loss = lsgan + 0.5 * grad_penalty * penalty + logit_reg * out + weight_decay * every
    return loss, {
        "amp/disc_loss": lsgan,
        "amp/grad_penalty": penalty,
        "amp/reference_score": jnp.mean(ref_logits),
        "amp/policy_score": _weighted_mean(pol_logits, policy_weights),
        "amp/disc_accuracy": compute_disc_accuracy(ref_logits, pol_logits, policy_weights),
    }


# --------------------------------------------------------------------------- replay buffer


@struct.dataclass
class ReplayBuffer:
    """A ring of policy (s, s') feature pairs (raw, unnormalized): [N, F] each."""

    s: jax.Array
    s_next: jax.Array
    size: jax.Array  # int32, filled rows (<= N)
    position: jax.Array  # int32, next row to write


def init_replay(capacity: int, feature_size: int) -> ReplayBuffer:
    # two arrays, not one shared: a donated carry must not hold the same buffer twice
    return ReplayBuffer(s=jnp.zeros((capacity, feature_size), jnp.float32),
                        s_next=jnp.zeros((capacity, feature_size), jnp.float32),
                        size=jnp.zeros((), jnp.int32), position=jnp.zeros((), jnp.int32))


def insert_replay(buffer: ReplayBuffer, s: jax.Array, s_next: jax.Array,
                  valid: jax.Array) -> ReplayBuffer:
    """Write the rows of s, s_next [M, F] whose valid [M] is 1, oldest first.

    Invalid rows are skipped (not written as zeros); when more than N rows are
    valid only the newest N are kept, so no two rows land on the same slot.
    """
    capacity = buffer.s.shape[0]
    keep = valid > 0.5
    rank = jnp.cumsum(keep.astype(jnp.int32)) - 1  # [M] order among the valid rows
    count = jnp.sum(keep.astype(jnp.int32))
    keep = keep & (rank >= count - capacity)
    slot = jnp.where(keep, (buffer.position + rank) % capacity, capacity)  # capacity: dropped
    return ReplayBuffer(
        s=buffer.s.at[slot].set(s, mode="drop"),
        s_next=buffer.s_next.at[slot].set(s_next, mode="drop"),
        size=jnp.minimum(buffer.size + count, capacity),
        position=(buffer.position + count) % capacity,
    )


def sample_replay(buffer: ReplayBuffer, key: jax.Array, batch: int
                  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """[B] uniform draws from the filled rows: s, s_next [B, F] and weights [B]
    (all 0 while the buffer is empty)."""
    u = jax.random.uniform(key, (batch,))
    idx = jnp.minimum((u * buffer.size).astype(jnp.int32), jnp.maximum(buffer.size - 1, 0))
    weights = jnp.broadcast_to((buffer.size > 0).astype(jnp.float32), (batch,))
    return buffer.s[idx], buffer.s_next[idx], weights


# --------------------------------------------------------------------------- learner


@struct.dataclass
class AmpState:
    """The AMP part of the training carry (saved with it in every checkpoint)."""

    params: Any  # discriminator flax variables
    opt_state: Any
    normalizer: Any  # brax RunningStatisticsState of the features
    replay: ReplayBuffer


@dataclasses.dataclass(frozen=True)
class AmpLearner:
    """The AMP functions of a run, bound to its config, robot and reference clips."""

    spec: amp_features.FeatureSpec
    library: Any  # playground.motion.library.MotionLibrary
    init: Callable[[jax.Array], AmpState]
    features: Callable[[Any, Any], tuple[jax.Array, jax.Array, jax.Array]]
    style_reward: Callable[[AmpState, jax.Array, jax.Array], jax.Array]
    update: Callable[..., tuple[AmpState, dict]]
    apply: Callable[[Any, jax.Array], jax.Array]


class AmpError(ValueError):
    """AMP cannot run with this env or config, in one line (the CLI exits 2 on it)."""


def make_amp_learner(env, amp_cfg, reference=None) -> AmpLearner:
    """Bind AMP to a legged-robot env and the `amp` config section.

    `reference` = (MotionLibrary, FeatureSpec) to use instead of loading
    `amp.motion_files` (tests). Raises AmpError, MotionError, FeatureError or
    FileNotFoundError, each with a one-line message.
    """
    if not hasattr(env, "root_qpos") or not hasattr(env, "xml_path"):
        raise AmpError(
            f"amp.enabled: AMP needs a legged robot with a floating base; this task's env "
            f"({type(env).__name__}) has none"
        )
    if reference is None:
        reference = amp_features.make_reference(
            env, list(amp_cfg.motion_files), layout=amp_cfg.motion_layout,
            feature_options=dict(amp_cfg.features),
        )
    library, spec = reference
    size = spec.size
    network = Discriminator(hidden=tuple(int(w) for w in amp_cfg.disc_hidden))
    optimizer = optax.adam(float(amp_cfg.disc_learning_rate))
    batch = int(amp_cfg.disc_batch_size)
    num_updates = int(amp_cfg.disc_updates)
    loss_kwargs = dict(grad_penalty=float(amp_cfg.grad_penalty), logit_reg=float(amp_cfg.logit_reg),
                       weight_decay=float(amp_cfg.weight_decay))
    feet = jnp.asarray(env.feet)
    reference_table = amp_features.compute_reference_table(spec, library)  # [C, L, F], once

    def init(key: jax.Array) -> AmpState:
        params = network.init(key, jnp.zeros((1, 2 * size), jnp.float32))
        return AmpState(params=params, opt_state=optimizer.init(params),
                        normalizer=amp_features.init_feature_normalizer(size),
                        replay=init_replay(int(amp_cfg.replay_size), size))

    def foot_positions(data):
        return jax.vmap(lambda d: amp_features.env_foot_positions(env.mjx_model, d, feet))(data)

    def features(data, next_data):
        """[B] batched mjx data before / after one step (pre-reset) -> s, s', valid [B]."""
        if spec.foot_pos:
            return amp_features.compute_transition_features(
                spec, data, next_data, foot_positions(data), foot_positions(next_data))
        return amp_features.compute_transition_features(spec, data, next_data)

    def style_reward(state: AmpState, s: jax.Array, s_next: jax.Array) -> jax.Array:
        return compute_style_reward(network.apply(state.params, make_disc_input(state.normalizer, s, s_next)))

    grad_fn = jax.value_and_grad(compute_disc_loss, has_aux=True)

    def disc_step(c, xs):
        """One Adam step on reference inputs [B, 2F] and policy inputs [B, 2F] (weights [B])."""
        params, opt_state = c
        ref_inputs, pol_inputs, weights = xs
        (_, metrics), grads = grad_fn(params, network.apply, ref_inputs, pol_inputs, weights,
                                      **loss_kwargs)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), metrics

    def update(state: AmpState, s: jax.Array, s_next: jax.Array, valid: jax.Array,
               key: jax.Array) -> tuple[AmpState, dict]:
        """Insert policy transitions s, s_next [M, F] (valid [M]) into the replay, update
        the shared normalizer, then take `disc_updates` discriminator steps."""
        key_ref, key_pol = jax.random.split(key)
        replay = insert_replay(state.replay, s, s_next, valid)
        rows = num_updates * batch
        ref_s, ref_next = amp_features.sample_reference_features(
            spec, library, key_ref, rows, table=reference_table)
        # the policy rows of every step at once; the statistics see as many policy as
        # reference rows (the first sides of the same pairs the steps train on)
        pol_s, pol_next, pol_weights = sample_replay(replay, key_pol, rows)
        normalizer = amp_features.update_feature_normalizer(
            state.normalizer, ref_s, pol_s, policy_weights=pol_weights)
        per_step = jax.tree_util.tree_map(
            lambda x: x.reshape((num_updates, batch) + x.shape[1:]),
            (make_disc_input(normalizer, ref_s, ref_next),
             make_disc_input(normalizer, pol_s, pol_next), pol_weights))
        (params, opt_state), metrics = jax.lax.scan(
            disc_step, (state.params, state.opt_state), per_step)
        new_state = AmpState(params=params, opt_state=opt_state, normalizer=normalizer, replay=replay)
        return new_state, jax.tree_util.tree_map(jnp.mean, metrics)

    return AmpLearner(spec=spec, library=library, init=init, features=features,
                      style_reward=style_reward, update=update, apply=network.apply)


class SaturationWatch:
    """Counts iterations in a row whose discriminator accuracy is near 1; says once when
    the streak reaches SATURATION_ITERATIONS, with the style reward the policy still gets
    (at accuracy ~1 it can still be well above 0 while the policy's scores sit between
    -1 and 0; when they reach -1 it is 0: collapsed)."""

    def __init__(self, accuracy: float = SATURATION_ACCURACY,
                 iterations: int = SATURATION_ITERATIONS):
        self.accuracy, self.iterations = accuracy, iterations
        self.streak = 0
        self.warned = False

    def observe(self, accuracies, style_rewards=None) -> str | None:
        """Per-iteration accuracies (and mean style rewards) of one chunk -> a warning
        (once per streak)."""
        for value in accuracies:
            self.streak = self.streak + 1 if float(value) >= self.accuracy else 0
        if self.streak >= self.iterations and not self.warned:
            self.warned = True
            style = ("" if style_rewards is None or not len(style_rewards) else
                     f"; the policy's mean style reward is now {float(style_rewards[-1]):.3f} of 1")
            return (f"the AMP discriminator is saturated (accuracy >= "
                    f"{self.accuracy} for {self.streak} iterations){style}: if it keeps "
                    "falling, raise amp.grad_penalty, lower amp.disc_learning_rate, raise "
                    "amp.weight, or check that the reference clips show a gait the task's "
                    "other reward terms allow")
        if self.streak == 0:
            self.warned = False
        return None
