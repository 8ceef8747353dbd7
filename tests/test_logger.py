"""Run logging: console line contents, metrics.jsonl, learning curve, wandb offline."""

import json

from ml_collections import ConfigDict

from playground import logger


def _cfg(wandb=False):
    return ConfigDict({"run": {"progress": False, "tensorboard": False, "wandb": {
        "enabled": wandb, "project": "playground-test", "entity": None, "mode": "offline"}}})


ROW = {"iteration": 10, "env_steps": 1280, "wall_time": 3.0, "train/sps": 4321.0,
       "train/episode_reward": 12.5, "train/episode_length": 40.0, "train/total_loss": 1.5,
       "train/entropy": 9.1, "train/approx_kl": 0.01, "reward/alive": 0.5,
       "eval/episode_reward": 20.0, "eval/survival_rate": 1.0}


def test_console_line_has_what_a_user_watches():
    line = logger.format_row(ROW)
    for part in ("it    10", "steps", "1,280", "sps 4,321", "ep_rew 12.50", "ep_len 40",
                 "kl 0.0100", "eval", "survival_rate 1.000", "alive +0.500"):
        assert part in line, part


def test_jsonl_and_learning_curve(tmp_path):
    log = logger.RunLogger(tmp_path, _cfg(), {}, total_env_steps=2560)
    log.log(ROW, console=False)
    log.log({**ROW, "iteration": 20, "env_steps": 2560, "train/episode_reward": float("nan")},
            console=False)
    log.close()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [10, 20]
    assert rows[1]["train/episode_reward"] == "nan"  # kept visible, still valid JSON
    assert logger.plot_learning_curve(tmp_path / "metrics.jsonl", tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_wandb_offline_gets_the_whole_config(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = {"ppo": {"learning_rate": 3e-4}, "env": {"task": "humanoid_walk"}}
    log = logger.RunLogger(tmp_path, _cfg(wandb=True), config, total_env_steps=1280)
    assert log.wandb_run.config["ppo"] == {"learning_rate": 3e-4}
    assert log.wandb_run.config["env"] == {"task": "humanoid_walk"}
    assert log.wandb_run.offline  # no account here: offline, synced later with `wandb sync`
    log.log(ROW, console=False)
    log.close()
    assert list((tmp_path / "wandb").rglob("*.wandb"))  # the offline run file
