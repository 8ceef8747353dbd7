"""Warm start (`--init-from`): a new run that starts from another run's policy, value
function and observation normalizer, with everything else fresh."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from playground import config, runner

pytestmark = pytest.mark.slow  # compiles a (small) training chunk

# the cart-pole setup of tests/test_training.py: its compiled chunk comes from the cache
SMALL = [
    ("env.task", "cartpole_balance"), ("ppo.num_envs", 16), ("ppo.unroll_length", 16),
    ("ppo.num_minibatches", 4), ("ppo.num_epochs", 2), ("ppo.max_bad_updates", 4),
    ("run.log_every", 1024), ("run.eval_every", 0), ("run.eval_envs", 8),
    ("run.progress", False), ("run.wandb.enabled", False),
]


def _run(tmp_path, name: str, *overrides) -> runner.Run:
    cfg = config.resolve(None, [*SMALL, ("run.checkpoint_dir", str(tmp_path)),
                                ("run.name", name), *overrides])
    return runner.Run(cfg, ["test"], log=lambda *_: None)


def _leaves(tree) -> list[bytes]:
    return [np.asarray(x).tobytes() for x in jax.tree_util.tree_leaves(tree)]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A trained source run (8 iterations) and its final carry."""
    tmp = tmp_path_factory.mktemp("warm")
    run = _run(tmp, "source", ("ppo.num_iterations", 8))
    run.train()
    return tmp, run.restore(tmp / "source" / "checkpoints")["carry"]


def test_a_warm_start_takes_params_and_normalizer_and_starts_the_rest_fresh(source):
    tmp, trained = source
    # another learning rate, env count and seed: none of them shapes the networks
    run = _run(tmp, "warm", ("run.init_from", str(tmp / "source")), ("ppo.num_envs", 8),
               ("ppo.learning_rate", 1e-4), ("run.seed", 3))
    run_dir, carry = run._start()
    assert _leaves(carry.params) == _leaves(trained.params)
    assert _leaves(carry.normalizer) == _leaves(trained.normalizer)
    fresh = jax.jit(run.fns.init)(run.key_init)
    assert int(carry.iteration) == 0 and _leaves(carry.opt_state) == _leaves(fresh.opt_state)
    assert _leaves(carry.env_state) == _leaves(fresh.env_state)
    # the source's statistics, not a fresh normalizer's zeros
    assert any(np.any(np.asarray(x) != 0) for x in jax.tree_util.tree_leaves(trained.normalizer.mean))
    assert config.load_config_file(run_dir / "config.yaml")["run"]["init_from"] == str(tmp / "source")
    history = json.loads((run_dir / "provenance.json").read_text())
    assert history["init_from"] == {"checkpoint": str(tmp / "source" / "checkpoints" / "8"),
                                    "iteration": 8}


def test_a_warm_start_from_another_network_or_nowhere_is_a_one_line_error(source):
    tmp, _ = source
    run = _run(tmp, "wider", ("run.init_from", str(tmp / "source")),
               ("network.policy_hidden", [8, 8]))
    with pytest.raises(config.ConfigError, match="'network' differs") as error:
        run._start()
    assert "\n" not in str(error.value)
    assert not (tmp / "wider").exists()  # refused before the run directory was made
    with pytest.raises(config.ConfigError, match="--init-from: checkpoint .*no such file"):
        _run(tmp, "lost", ("run.init_from", str(tmp / "missing")))._start()


def test_init_from_with_resume_is_refused(source):
    tmp, _ = source
    with pytest.raises(config.ConfigError, match="--init-from starts a new run"):
        config.resolve(None, [("run.resume", str(tmp / "source")),
                              ("run.init_from", str(tmp / "source"))])
