"""benchmarks/vs_brax.py's mapping of our config onto brax `ppo.train` arguments."""

from __future__ import annotations

import pathlib
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import common  # noqa: E402  (benchmarks/ on sys.path first)
import vs_brax  # noqa: E402

PLAYGROUND_YAML = common.CONFIG_DIR / "playground.yaml"


def _episode_row(rows):
    (row,) = [r for r in rows if r[1] == "episode_length"]
    return row


def test_brax_trains_with_our_training_episode_length():
    # configs/playground.yaml cuts training episodes at 500 of the env's 1000 steps: brax's
    # episode_length (training only here) must be 500, not the env's 1000
    cfg = common.resolve_config(PLAYGROUND_YAML, [])
    assert vs_brax.training_episode_length(cfg, 1000) == 500
    assert _episode_row(vs_brax.hyperparameter_mapping(cfg, 1000))[2:] == (500, 500)
    # 0 = the env's own length: Playground's when given, else env.episode_length
    cfg = common.resolve_config(PLAYGROUND_YAML, [("ppo.train_episode_length", 0),
                                                  ("env.episode_length", 400)])
    assert vs_brax.training_episode_length(cfg, 1000) == 1000
    assert vs_brax.training_episode_length(cfg) == 400
    assert _episode_row(vs_brax.hyperparameter_mapping(cfg))[2:] == (400, 400)


@pytest.mark.parametrize("override, message", [
    (("ppo.num_envs", 130), "divisible by num_minibatches"),
])
def test_what_brax_cannot_do_is_refused(override, message):
    cfg = common.resolve_config(PLAYGROUND_YAML, [override])
    with pytest.raises(SystemExit, match=message):
        vs_brax.hyperparameter_mapping(cfg)
