"""AMP discriminator: loss, gradient penalty, style reward and replay buffer against
hand-worked numbers; a discriminator trained on reference vs random-policy motion
tells held-out data apart."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from playground import config
from playground.motion.library import default_motion_dir
from playground.rewards.amp import features as amp_features
from playground.rewards.amp.discriminator import (
    Discriminator,
    SaturationWatch,
    compute_disc_loss,
    compute_lsgan_loss,
    compute_style_reward,
    init_replay,
    insert_replay,
    make_amp_learner,
    make_disc_input,
    sample_replay,
)
from playground.tasks import registry


def test_lsgan_loss_by_hand():
    # reference d = 1, 0, 3: (0 + 1 + 4) / 3 = 5/3;  policy d = -1, 1: (0 + 4) / 2 = 2
    ref, pol = jnp.array([1.0, 0.0, 3.0]), jnp.array([-1.0, 1.0])
    assert float(compute_lsgan_loss(ref, pol)) == pytest.approx(0.5 * (5 / 3 + 2))
    # the second policy row is padding: (0) / 1 = 0
    assert float(compute_lsgan_loss(ref, pol, jnp.array([1.0, 0.0]))) == pytest.approx(5 / 6)


def test_style_reward_by_hand():
    # max(0, 1 - 0.25 (d - 1)^2): peak 1 at the reference target +1, 0 at the policy target -1
    d = jnp.array([1.0, 0.0, 2.0, -1.0, 3.0, -2.0, 0.5])
    expected = [1.0, 0.75, 0.75, 0.0, 0.0, 0.0, 1 - 0.25 * 0.25]
    np.testing.assert_allclose(compute_style_reward(d), expected, rtol=1e-6)


def _hand_params():
    """d(x) = v . relu(x W + b) + c with W = [[1, -2], [3, 0.5]], b = (0, -1), v = (2, -1), c = 0."""
    return {"params": {
        "hidden_0": {"kernel": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "bias": jnp.array([0.0, -1.0])},
        "out": {"kernel": jnp.array([[2.0], [-1.0]]), "bias": jnp.array([0.0])},
    }}


def test_grad_penalty_and_total_loss_by_hand():
    """x1 = (1, 1): pre-activations (4, -2.5), only unit 0 on: grad = 2 (1, 3) = (2, 6), |g|^2 = 40,
    d = 8.  x2 = (-1, 1): pre (2, 1.5), both on: grad = 2 (1, 3) - (-2, 0.5) = (4, 5.5),
    |g|^2 = 46.25, d = 2 * 2 - 1.5 = 2.5.  Mean penalty 43.125.
    Policy x3 = (0, 0): pre (0, -1), d = 0.
    LSGAN = 0.5 ((49 + 2.25) / 2 + (0 + 1)^2) = 13.3125.  |W_out|^2 = 5, sum |W|^2 = 14.25 + 5.
    Total with w = 5, logit_reg 0.05, weight_decay 1e-4:
      13.3125 + 2.5 * 43.125 + 0.05 * 5 + 1e-4 * 19.25 = 121.376925.
    """
    net = Discriminator(hidden=(2,))
    params = _hand_params()
    ref = jnp.array([[1.0, 1.0], [-1.0, 1.0]])
    pol = jnp.array([[0.0, 0.0]])
    loss, metrics = compute_disc_loss(params, net.apply, ref, pol, jnp.ones(1), grad_penalty=5.0,
                                      logit_reg=0.05, weight_decay=1e-4)
    assert float(loss) == pytest.approx(121.376925, rel=1e-6)
    assert float(metrics["amp/disc_loss"]) == pytest.approx(13.3125)
    assert float(metrics["amp/grad_penalty"]) == pytest.approx(43.125)
    assert float(metrics["amp/reference_score"]) == pytest.approx(5.25)
    assert float(metrics["amp/policy_score"]) == pytest.approx(0.0)
    # reference both > 0 (right), policy d = 0 is not < 0 (wrong): (1 + 0) / 2
    assert float(metrics["amp/disc_accuracy"]) == pytest.approx(0.5)


def test_replay_buffer_skips_invalid_rows_and_keeps_the_newest():
    buf = init_replay(4, 1)
    buf = insert_replay(buf, jnp.array([[1.0], [2.0], [3.0]]), jnp.array([[1.5], [2.5], [3.5]]),
                        jnp.array([1.0, 0.0, 1.0]))
    assert buf.s[:, 0].tolist() == [1, 3, 0, 0] and buf.s_next[:, 0].tolist() == [1.5, 3.5, 0, 0]
    assert (int(buf.size), int(buf.position)) == (2, 2)
    rows = jnp.arange(4, 8, dtype=jnp.float32)[:, None]  # 4 rows from slot 2 on, wrapping
    buf = insert_replay(buf, rows, rows, jnp.ones(4))
    assert buf.s[:, 0].tolist() == [6, 7, 4, 5] and (int(buf.size), int(buf.position)) == (4, 2)
    rows = jnp.arange(10, 16, dtype=jnp.float32)[:, None]  # 6 rows > capacity: the last 4 stay
    buf = insert_replay(buf, rows, rows, jnp.ones(6))
    assert buf.s[:, 0].tolist() == [12, 13, 14, 15] and int(buf.position) == 0
    s, _, w = sample_replay(buf, jax.random.PRNGKey(0), 64)
    assert set(s[:, 0].tolist()) <= {12.0, 13.0, 14.0, 15.0} and float(w.min()) == 1.0
    _, _, w_empty = sample_replay(init_replay(4, 1), jax.random.PRNGKey(0), 8)
    assert float(w_empty.max()) == 0.0


def test_saturation_watch_warns_once_per_streak():
    watch = SaturationWatch(accuracy=0.99, iterations=3)
    assert watch.observe([1.0, 0.995]) is None
    assert "saturated" in watch.observe([1.0])
    assert watch.observe([1.0, 1.0]) is None  # same streak: said once
    assert watch.observe([0.7]) is None
    assert watch.observe([1.0, 1.0]) is None
    said = watch.observe([1.0], style_rewards=[0.21])
    assert "saturated" in said and "style reward is now 0.210 of 1" in said


# --------------------------------------------------------------------------- learned


def _random_policy_pairs(env, spec, seed: int, episodes: int, steps: int):
    """(s, s') features of the humanoid under uniform random actions (C MuJoCo physics,
    the env's control period and action mapping), one pair per control step."""
    rng = np.random.default_rng(seed)
    m = env.mj_model
    d = mujoco.MjData(m)
    qpos, qpos_next, qvel, qvel_next = [], [], [], []
    for _ in range(episodes):
        mujoco.mj_resetData(m, d)
        d.qpos[:] = env.home_qpos
        d.ctrl[:] = env.home_joints
        for _ in range(steps):
            q0, v0 = d.qpos.copy(), d.qvel.copy()
            action = rng.uniform(-1.0, 1.0, m.nu)
            d.ctrl[:] = np.clip(env.home_joints + env.action_scale * action,
                                env.ctrl_range[:, 0], env.ctrl_range[:, 1])
            for _ in range(env.n_substeps):
                mujoco.mj_step(m, d)
            qpos.append(q0), qvel.append(v0), qpos_next.append(d.qpos.copy()), qvel_next.append(d.qvel.copy())
            if d.qpos[env.root_qpos + 2] < 0.5 * env.home_qpos[env.root_qpos + 2]:
                break  # fallen: a new episode (the pair above is still pre-reset)
    s = amp_features.compute_features(spec, jnp.asarray(np.array(qpos)), jnp.asarray(np.array(qvel)))
    s_next = amp_features.compute_features(spec, jnp.asarray(np.array(qpos_next)),
                                           jnp.asarray(np.array(qvel_next)))
    return s, s_next


def _all_reference_pairs(spec, library):
    """Every (s, s') pair of every clip of a library."""
    clips, ts = [], []
    for c, n in enumerate(np.asarray(library.num_pairs)):
        clips += [c] * int(n)
        ts += list(range(int(n)))
    clip, t = jnp.array(clips), jnp.array(ts)
    frames = (library.qpos[clip, t], library.qvel[clip, t])
    nxt = (library.qpos[clip, t + 1], library.qvel[clip, t + 1])
    return amp_features.compute_features(spec, *frames), amp_features.compute_features(spec, *nxt)


@pytest.mark.slow
def test_trained_discriminator_separates_held_out_reference_from_random_motion():
    cfg = config.resolve(None, [("env.task", "humanoid_walk"), ("amp.disc_hidden", [64, 64]),
                                ("amp.disc_batch_size", 256), ("amp.replay_size", 4096),
                                ("amp.disc_learning_rate", 1e-3)])
    env = registry.get_task("humanoid_walk").make_env(cfg)
    clips = sorted(default_motion_dir(env.xml_path).glob("*.npz"))
    held_out = [p for p in clips if p.stem == "walk_0.3"]
    train = [str(p) for p in clips if p not in held_out]
    library, spec = amp_features.make_reference(env, train)
    learner = make_amp_learner(env, cfg.amp, reference=(library, spec))
    held_library, _ = amp_features.make_reference(env, [str(held_out[0])])

    pol_s, pol_next = _random_policy_pairs(env, spec, seed=0, episodes=30, steps=100)
    test_s, test_next = _random_policy_pairs(env, spec, seed=1, episodes=10, steps=100)
    ref_s, ref_next = _all_reference_pairs(spec, held_library)

    update = jax.jit(learner.update)
    state = learner.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    chunk = 256
    for i in range(150):  # each iteration: 256 new policy pairs (cycling), 4 disc steps
        key, key_update = jax.random.split(key)
        rows = (np.arange(chunk) + i * chunk) % pol_s.shape[0]
        state, metrics = update(state, pol_s[rows], pol_next[rows], jnp.ones(chunk), key_update)
    assert np.isfinite(float(metrics["amp/disc_loss"]))
    reference_reward = float(jnp.mean(learner.style_reward(state, ref_s, ref_next)))
    random_reward = float(jnp.mean(learner.style_reward(state, test_s, test_next)))
    assert reference_reward > 0.8 and random_reward < 0.2, (reference_reward, random_reward)
    # and the reward reads the discriminator through the shared normalizer
    d = learner.apply(state.params, make_disc_input(state.normalizer, ref_s, ref_next))
    np.testing.assert_allclose(compute_style_reward(d), learner.style_reward(state, ref_s, ref_next))
