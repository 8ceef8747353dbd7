"""Which held-out episodes does a Playground ReacherEasy/ReacherHard policy lose, and how?

Reads the npz that `playground/play.py --record` writes for a Reacher policy (observation
= [shoulder, wrist] angles, finger-to-target xy, joint velocities) and prints, for the
worst episodes: the target's distance from the base and the wrist fold it needs, the
wrist at the start and at the end, how close the finger came, and how far the shoulder
turned (Playground's observation is the raw, unbounded shoulder angle). Then returns by
target radius.

    .venv/bin/python playground/play.py playground:ReacherEasy --agent trained \\
        --checkpoint RUN/checkpoints/STEP --episodes 128 --seed 12345 --record out.npz
    .venv/bin/python benchmarks/reacher_failures.py out.npz [--worst 12]

The target is read from the second observation: Playground's reset moves the target
mocap body after its forward pass, so the first observation still shows the target at
the origin.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import common
import numpy as np

#: link lengths of Playground's reacher.xml (shoulder -> wrist -> finger), metres
UPPER, LOWER = 0.12, 0.12


def analyse(path: pathlib.Path, worst: int) -> str:
    d = np.load(path)
    obs, ret = d["observations"], d["rewards"].sum(1)  # [E, T, 6], [E]
    if obs.ndim != 3 or obs.shape[2] != 6 or obs.shape[1] < 2:
        raise ValueError(f"{path}: observations {obs.shape} are not a Reacher recording "
                         "([episodes, steps >= 2, 6])")
    shoulder, wrist = obs[:, 1, 0], obs[:, 1, 1]
    finger = (UPPER * np.stack([np.cos(shoulder), np.sin(shoulder)], 1)
              + LOWER * np.stack([np.cos(shoulder + wrist), np.sin(shoulder + wrist)], 1))
    target = finger + obs[:, 1, 2:4]
    radius = np.linalg.norm(target, axis=1)
    cos_fold = (radius**2 - UPPER**2 - LOWER**2) / (2 * UPPER * LOWER)
    fold = np.degrees(np.arccos(np.clip(cos_fold, -1.0, 1.0)))  # |wrist| that reaches it
    dist = np.linalg.norm(obs[:, :, 2:4], axis=2)
    turned = np.abs(obs[:, :, 0] - obs[:, :1, 0]).max(1) / (2 * np.pi)
    speed_end = np.abs(obs[:, -1, 4:6]).max(1)
    lines = [f"{path}: {len(ret)} episodes, mean return {ret.mean():.1f}, "
             f"{int((ret < 500).sum())} below 500, {int((ret >= 900).sum())} at >= 900",
             "| return | target radius m | wrist fold needed deg | wrist start deg | "
             "wrist end deg | closest m | end distance m | shoulder turns | end max abs qvel |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i in np.argsort(ret)[:worst]:
        lines.append(f"| {ret[i]:.0f} | {radius[i]:.3f} | {fold[i]:.0f} | "
                     f"{np.degrees(wrist[i]):.0f} | {np.degrees(obs[i, -1, 1]):.0f} | "
                     f"{dist[i].min():.3f} | {dist[i, -1]:.3f} | {turned[i]:.1f} | "
                     f"{speed_end[i]:.2f} |")
    good = ret >= 900
    lines.append(f"episodes >= 900: shoulder turns at most {turned[good].max():.1f}, end max "
                 f"abs qvel median {np.median(speed_end[good]):.2f}" if good.any() else
                 "no episode >= 900")
    edges = np.linspace(0.05, 0.2, 6)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (radius >= lo) & (radius < hi + (1e-9 if hi == edges[-1] else 0.0))
        if m.any():
            lines.append(f"target radius [{lo:.2f}, {hi:.2f}): {int(m.sum())} episodes, "
                         f"{int((m & (ret < 500)).sum())} below 500, mean {ret[m].mean():.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("record", type=pathlib.Path, help="npz from play.py --record")
    p.add_argument("--worst", type=int, default=12, help="episodes listed, lowest return first")
    args = p.parse_args(argv)
    try:
        print(analyse(args.record, args.worst))
    except (OSError, ValueError, KeyError) as e:
        common.bad_input(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
