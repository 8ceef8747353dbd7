"""Logged vs simulated joint trajectories before and after the fit, a PNG per joint group."""

from __future__ import annotations

import pathlib

import numpy as np


def write_plots(problem, result: dict, out: pathlib.Path) -> list[pathlib.Path]:
    """`<out stem>_<group>.png` for each group of fitted joints; the paths written."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on a training machine
    import matplotlib.pyplot as plt

    from playground.sysid.fit import replay_errors

    layout, log = problem.layout, problem.log
    fitted = np.array([[result["joints"][j][p] for p in layout.params] for j in layout.joints])
    before, _ = replay_errors(problem, layout.nominal)
    after, _ = replay_errors(problem, fitted)
    t = np.arange(log.num_rows) * log.dt
    groups: dict[str, list[str]] = {}
    for joint in layout.joints:
        groups.setdefault(result["groups"][joint], []).append(joint)
    paths = []
    for group, joints in groups.items():
        fig, axes = plt.subplots(len(joints), 1, figsize=(9, 2.2 * len(joints) + 0.6),
                                 sharex=True, squeeze=False)
        for ax, joint in zip(axes[:, 0], joints, strict=True):
            c = log.joint_names.index(joint)
            ax.plot(t, log.cmd[:, c], color="0.6", lw=0.8, ls="--", label="cmd")
            ax.plot(t, log.state[:, c], color="k", lw=1.2, label="logged")
            ax.plot(t, before[:, c], color="tab:red", lw=0.9, label="model before")
            ax.plot(t, after[:, c], color="tab:blue", lw=0.9, label="fitted")
            rms = result["replay_rms_rad"]
            ax.set_title(f"{joint}: RMS {rms['per_joint_before'][joint]:.4f} -> "
                         f"{rms['per_joint_after'][joint]:.4f} rad", fontsize=9)
            ax.set_ylabel("rad")
        axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
        axes[-1, 0].set_xlabel("s")
        fig.tight_layout()
        path = out.with_name(f"{out.stem}_{group}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths
