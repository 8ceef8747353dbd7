"""benchmarks/sac_vs_brax.py's mapping of our SAC config onto brax `sac.train` arguments."""

from __future__ import annotations

import pathlib
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import common  # noqa: E402  (benchmarks/ on sys.path first)
import sac_vs_brax  # noqa: E402

CARTPOLE = common.CONFIG_DIR / "cartpole_balance.yaml"


def test_our_config_takes_what_brax_fixes_and_maps_the_rest():
    # the cart-pole recipe's sac section: 32 envs, batch 256, utd 0.5, warm-up 2048;
    # brax steps each env once per training step: 32 env steps -> 0.5 * 32 = 16 updates
    cfg = sac_vs_brax.trainer_config(CARTPOLE, [], steps=4096, points=4, action_size=1)
    sac = cfg.sac
    assert (sac.unroll_length, sac.n_step, sac.init_alpha, sac.alpha_learning_rate) == (
        1, 1, 1.0, 3e-4)
    assert sac.target_entropy == -0.5  # -0.5 * action_size
    assert sac.num_iterations == 128 and cfg.run.log_every == 32 * 32  # 4 points of 32
    kw = sac_vs_brax.brax_sac_kwargs(cfg, 4096, 4)
    assert kw["grad_updates_per_step"] == 16 and kw["batch_size"] == 256
    assert (kw["min_replay_size"], kw["max_replay_size"]) == (2048, 65536)
    assert kw["num_evals"] == 5 and kw["episode_length"] == 500 and kw["deterministic_eval"]
    rows = {ours: (brax, a, b) for ours, brax, a, b in
            sac_vs_brax.hyperparameter_mapping(cfg, 4096, 4)}
    assert rows["sac.tau"] == ("tau", 0.005, 0.005)


@pytest.mark.parametrize("overrides, message", [
    ([("sac.q_hidden", [32, 32])], "one hidden_layer_sizes"),
    ([("sac.unroll_length", 2)], "sac.unroll_length=1"),
])
def test_what_brax_cannot_do_is_refused(overrides, message):
    cfg = common.resolve_config(CARTPOLE, [*sac_vs_brax.BRAX_FIXED, *overrides])
    with pytest.raises(SystemExit, match=message):
        sac_vs_brax.hyperparameter_mapping(cfg, 4096, 4)


def test_steps_that_do_not_split_into_points_are_refused():
    with pytest.raises(SystemExit, match="not a multiple of --points 3"):
        sac_vs_brax.trainer_config(CARTPOLE, [], steps=4096, points=3, action_size=1)


def _args(tmp_path, steps=4096, points=4, skip=2):
    import argparse

    return argparse.Namespace(json=str(tmp_path / "r.json"), config=str(CARTPOLE),
                              steps=steps, points=points, skip_points=skip)


def test_merge_keeps_earlier_seeds_and_refuses_other_settings(tmp_path):
    import json

    earlier = {"config": "configs/cartpole_balance.yaml", "overrides": [], "steps": 4096,
               "points": 4, "skip_points": 2, "seeds": [0], "command": "c", "uptime": "u",
               "runs": {"ours": {"0": {"env_steps_per_s": 300.0, "points": [[1.0, 4096, 480.0]]}},
                        "brax": {"0": {"env_steps_per_s": 250.0, "points": [[1.0, 4096, 470.0]]}}}}
    (tmp_path / "r.json").write_text(json.dumps(earlier))
    merged = sac_vs_brax.merged_runs(_args(tmp_path), [])
    assert merged["runs"]["ours"][0]["env_steps_per_s"] == 300.0  # JSON's "0" -> seed 0
    # 300 / 250 = 1.20x; final evals 480.0 and 470.0
    assert sac_vs_brax.seed_summary(merged) == [[0, "1.20x", "480.0", "470.0"]]
    with pytest.raises(SystemExit) as exit_info:
        sac_vs_brax.merged_runs(_args(tmp_path, steps=8192), [])
    assert exit_info.value.code == 2
    assert sac_vs_brax.merged_runs(_args(tmp_path / "none"), []) is None
