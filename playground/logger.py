"""Run logging: console lines, progress bar, metrics.jsonl, TensorBoard, wandb, learning curve."""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
from typing import Any

from tqdm import tqdm

CONSOLE_KEYS = (
    ("train/episode_reward", "ep_rew", "{:.2f}"),
    ("train/episode_length", "ep_len", "{:.0f}"),
    ("train/total_loss", "loss", "{:.3f}"),
    ("train/policy_loss", "pi", "{:.3f}"),
    ("train/value_loss", "v", "{:.3f}"),
    ("train/entropy", "ent", "{:.2f}"),
    ("train/approx_kl", "kl", "{:.4f}"),
    ("train/learning_rate", "lr", "{:.1e}"),  # ppo.lr_schedule=adaptive only
)


def _wandb_mode(mode: str) -> str:
    """auto: online when an API key or a netrc login exists, else offline."""
    if mode != "auto":
        return mode
    logged_in = bool(os.environ.get("WANDB_API_KEY")) or (
        pathlib.Path.home() / ".netrc"
    ).exists() and "api.wandb.ai" in (pathlib.Path.home() / ".netrc").read_text(errors="ignore")
    return "online" if logged_in else "offline"


class RunLogger:
    """Writes every logged row to metrics.jsonl (always), console, TensorBoard event files
    (`run.tensorboard`), wandb and a progress bar; `finish` draws the learning curve."""

    def __init__(self, run_dir: pathlib.Path, cfg, config_dict: dict, total_env_steps: int,
                 initial_env_steps: int = 0):
        self.run_dir = pathlib.Path(run_dir)
        self.jsonl = open(self.run_dir / "metrics.jsonl", "a", buffering=1)
        self.last_env_steps = initial_env_steps
        self.events = None
        if cfg.run.tensorboard:
            from playground.tb_events import EventWriter

            self.events = EventWriter(self.run_dir, resumed_at=initial_env_steps or None)
        self.wandb_run = None
        if cfg.run.wandb.enabled:
            import wandb  # imported lazily: slow, and only needed when enabled

            self.wandb_run = wandb.init(
                project=cfg.run.wandb.project,
                entity=cfg.run.wandb.entity,
                name=self.run_dir.name,
                id=self.run_dir.name,
                resume="allow",
                dir=str(self.run_dir),
                config=config_dict,
                mode=_wandb_mode(cfg.run.wandb.mode),
            )
        self.bar = None
        if cfg.run.progress:
            self.bar = tqdm(total=total_env_steps, initial=initial_env_steps, unit="step",
                            unit_scale=True, dynamic_ncols=True, file=sys.stderr, desc="env steps",
                            disable=None)  # None: only on a terminal; logs get the lines

    def log(self, row: dict[str, Any], console: bool = True) -> None:
        """Record one row (must hold `iteration` and `env_steps`)."""
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
                 for k, v in row.items()}
        self.jsonl.write(json.dumps(clean) + "\n")
        self.last_env_steps = int(row["env_steps"])
        if self.events is not None:
            self.events.add_row(row)
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in row.items() if isinstance(v, (int, float))},
                               step=int(row["env_steps"]))
        if console:
            self.write(format_row(row))

    def advance(self, env_steps: int) -> None:
        if self.bar is not None:
            self.bar.update(env_steps - self.bar.n)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def finish(self) -> None:
        """The run's learning curve: learning_curve.png, and the same PNG as TensorBoard's
        `learning_curve` image at the last logged step."""
        png = self.run_dir / "learning_curve.png"
        if plot_learning_curve(self.run_dir / "metrics.jsonl", png) and self.events is not None:
            self.events.add_png("learning_curve", png, self.last_env_steps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.jsonl.close()
        if self.events is not None:
            self.events.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()


def format_row(row: dict[str, Any]) -> str:
    """One console line: iteration, env steps, steps/s, episode stats, losses, reward terms."""
    parts = [f"it {row['iteration']:>5}", f"steps {row['env_steps']:>10,}"]
    if "train/sps" in row:
        parts.append(f"sps {row['train/sps']:,.0f}")
    if "eta_seconds" in row:
        eta = int(row["eta_seconds"])
        parts.append(f"eta {eta // 3600}:{eta % 3600 // 60:02d}:{eta % 60:02d}")
    for key, short, fmt in CONSOLE_KEYS:
        if key in row and isinstance(row[key], float) and math.isfinite(row[key]):
            parts.append(f"{short} {fmt.format(row[key])}")
    evals = [f"{k[5:]} {v:.3f}" for k, v in row.items() if k.startswith("eval/") and
             k.count("/") == 1 and isinstance(v, float)]
    if evals:
        parts.append("| eval " + " ".join(evals))
    terms = [f"{k[7:]} {v:+.3f}" for k, v in row.items() if k.startswith("reward/")]
    if terms:
        parts.append("| " + " ".join(terms))
    return "  ".join(parts)


def plot_learning_curve(jsonl_path: pathlib.Path, png_path: pathlib.Path) -> bool:
    """Episode reward (train and eval) against env steps and wall time. False if no data."""
    rows = [json.loads(line) for line in pathlib.Path(jsonl_path).read_text().splitlines() if line]
    train = [r for r in rows if isinstance(r.get("train/episode_reward"), float)]
    evals = [r for r in rows if isinstance(r.get("eval/episode_reward"), float)]
    if not train and not evals:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, xkey, xlabel in ((axes[0], "env_steps", "env steps"), (axes[1], "wall_time", "wall time [s]")):
        if train:
            ax.plot([r[xkey] for r in train], [r["train/episode_reward"] for r in train], label="train")
        if evals:
            ax.plot([r[xkey] for r in evals], [r["eval/episode_reward"] for r in evals], "o-", label="eval")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("episode reward")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(pathlib.Path(jsonl_path).parent.name)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return True
