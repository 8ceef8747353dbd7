"""The plug-in points, proven from test code alone: a toy task and a toy algorithm,
registered here (nothing under playground/ knows them), train through the real run loop,
checkpoint, and resume bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from playground import config, rollout, runner, runs
from playground.algorithms import registry as algorithms
from playground.config import Field, Schedule, Section, at_least
from playground.tasks import registry as tasks
from playground.tasks import wrappers
from playground.tasks.base import Env, State

pytestmark = pytest.mark.slow  # compiles a (tiny) chunk and evaluation

F32 = jnp.float32


# --------------------------------------------------------------------------- the toy task
@struct.dataclass
class PointData:
    qpos: jax.Array  # [1] position
    qvel: jax.Array  # [1] velocity


class PointMass(Env):
    """A unit mass on a line, pushed by the action; reward -x^2 per step."""

    observation_size = {"state": 2, "privileged_state": 2}
    action_size = 1
    reward_terms = ("position",)
    ctrl_dt = sim_dt = 0.1

    def __init__(self, cfg):
        self.episode_length = int(cfg.env.episode_length)
        self.force = float(cfg.env.force)

    def _state(self, data, reward, done, info):
        obs = jnp.concatenate([data.qpos, data.qvel])
        return State(data=data, obs={"state": obs, "privileged_state": obs}, reward=reward,
                     done=done, metrics={"reward/position": reward}, info=info)

    def reset(self, key):
        data = PointData(qpos=jax.random.uniform(key, (1,), F32, -1.0, 1.0),
                         qvel=jnp.zeros((1,), F32))
        info = {"rng": key, "step": jnp.zeros((), jnp.int32), "truncation": F32(0.0)}
        return self._state(data, F32(0.0), F32(0.0), info)

    def step(self, state, action):
        qvel = state.data.qvel + self.ctrl_dt * self.force * action
        data = PointData(qpos=state.data.qpos + self.ctrl_dt * qvel, qvel=qvel)
        step = state.info["step"] + 1
        truncation = (step >= self.episode_length).astype(F32)
        info = {**state.info, "step": step, "truncation": truncation}
        return self._state(data, -jnp.sum(jnp.square(data.qpos)), truncation, info)

    def policy_spec(self):
        return {"task": "toy_point_mass", "ctrl_dt": self.ctrl_dt}


def make_point_mass(cfg):
    return PointMass(cfg)


TASK_SECTIONS = {"env": Section("A point mass on a line.", {
    "episode_length": Field(int, 16, "steps before truncation", check=at_least(1)),
    "force": Field(float, 2.0, "action -> acceleration"),
})}


# --------------------------------------------------------------------------- the toy algorithm
@struct.dataclass
class ToyCarry:
    weights: jax.Array  # [2, 1] linear policy
    env_state: State  # [B]
    episode: rollout.EpisodeStats
    key: jax.Array
    iteration: jax.Array


class GaussianSearch:
    """A linear Gaussian policy moved along reward-weighted noise (REINFORCE, baseline = mean)."""

    batched_fields = ("env_state", "episode")
    warm_start_parts = (".weights",)

    def __init__(self, env, cfg, derived, plugins):
        assert plugins == ()
        self.env, self.num_envs = env, derived.num_envs
        self.length, self.lr = int(cfg.toy_search.unroll_length), float(cfg.toy_search.step)

    def init(self, key):
        key_env, key_run = jax.random.split(key)
        return ToyCarry(weights=jnp.zeros((2, 1), F32),
                        env_state=wrappers.reset_batch(self.env, key_env, self.num_envs),
                        episode=rollout.init_episode_stats(self.num_envs), key=key_run,
                        iteration=jnp.zeros((), jnp.int32))

    def train_step(self, carry):
        key, key_unroll = jax.random.split(carry.key)

        def policy(obs, key_t):
            noise = jax.random.normal(key_t, (obs["state"].shape[0], 1), F32)
            return jnp.tanh(obs["state"] @ carry.weights + 0.3 * noise), noise, {}

        env_state, episode, data, metrics, _ = rollout.unroll(
            self.env, policy, carry.env_state, carry.episode, key_unroll, self.length,
            reward_scaling=F32(1.0))
        advantage = data.reward - jnp.mean(data.reward)  # [T, B]
        grad = jnp.einsum("tbi,tbj,tb->ij", data.obs["state"], data.action, advantage)
        weights = carry.weights + self.lr * grad / advantage.size
        metrics["bad_update"] = F32(0.0)
        return carry.replace(weights=weights, env_state=env_state, episode=episode, key=key,
                             iteration=carry.iteration + 1), metrics

    def act(self, carry, obs):
        return jnp.tanh(obs["state"] @ carry.weights)

    def learner_state(self, carry):
        return carry.weights

    def policy_spec(self, carry, config_dict, provenance):
        return {**self.env.policy_spec(), "weights": np.asarray(carry.weights).tolist()}

    def stop_reason(self, carry):
        return None


def make_gaussian_search(env, cfg, derived, plugins):
    return GaussianSearch(env, cfg, derived, plugins)


ALGORITHM_SECTIONS = {"toy_search": Section("Gaussian search.", {
    "num_envs": Field(int, 8, "parallel envs", check=at_least(1)),
    "num_iterations": Field(int, 6, "iterations", check=at_least(1), resumable=True),
    "unroll_length": Field(int, 8, "steps per env per iteration", check=at_least(1)),
    "step": Field(float, 0.5, "step size"),
})}


def schedule(cfg) -> Schedule:
    search = cfg.toy_search
    return Schedule(num_envs=search.num_envs, num_envs_key="toy_search.num_envs",
                    num_iterations=search.num_iterations,
                    num_iterations_key="toy_search.num_iterations",
                    env_steps_per_iteration=search.num_envs * search.unroll_length)


# --------------------------------------------------------------------------- the test
@pytest.fixture
def registered():
    tasks.register(tasks.TaskEntry("toy_point_mass", "none.yaml", f"{__name__}:make_point_mass",
                                   "a point mass", f"{__name__}:TASK_SECTIONS"))
    algorithms.register(algorithms.AlgorithmEntry(
        "toy_search", f"{__name__}:ALGORITHM_SECTIONS", f"{__name__}:make_gaussian_search",
        "Gaussian search"))
    yield
    tasks.TASKS.pop("toy_point_mass")
    algorithms.ALGORITHMS.pop("toy_search")


def _carry_leaves(run_dir):
    steps_dir, step = runs.find_step(run_dir)
    cfg = config.from_saved(runs.read_config(steps_dir, step))
    run = runner.Run(cfg, ["test"], log=lambda *_: None)
    return step, jax.tree_util.tree_leaves(run.restore(steps_dir, step)["carry"])


def test_a_toy_algorithm_and_task_train_checkpoint_and_resume_bit_for_bit(registered, tmp_path):
    recipe = tmp_path / "toy.yaml"
    recipe.write_text("env: {task: toy_point_mass}\nalgorithm: {name: toy_search}\n"
                      "run: {eval_every: 2, eval_envs: 4, log_every: 64, checkpoint_every: 0,"
                      " progress: false, wandb: {enabled: false}}\n")
    common = [("run.checkpoint_dir", str(tmp_path))]

    def train(name, *overrides):
        cfg = config.resolve(recipe, [*common, ("run.name", name), *overrides])
        return runner.Run(cfg, ["test"], log=lambda *_: None).train()

    straight = train("straight")
    assert int(straight.carry.iteration) == 6
    assert not np.array_equal(np.asarray(straight.carry.weights), np.zeros((2, 1)))  # it moved
    assert straight.final_eval["eval/episode_length"] == 16.0
    assert "eval/task/reward/position" not in straight.final_eval  # reward terms stay reward/*

    train("stopped", ("toy_search.num_iterations", 3))
    cfg = config.resolve(None, [("run.resume", str(tmp_path / "stopped")),
                                ("toy_search.num_iterations", 6), *common])
    resumed = runner.Run(cfg, ["test"], log=lambda *_: None).train()
    assert int(resumed.carry.iteration) == 6

    (step_a, a), (step_b, b) = _carry_leaves(tmp_path / "straight"), _carry_leaves(
        tmp_path / "stopped")
    assert step_a == step_b == 6
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    rows = (tmp_path / "stopped" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 6  # one row per chunk of one iteration, none lost across the resume
