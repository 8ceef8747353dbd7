"""End to end: a log made in plain MuJoCo with known parameters -> fit -> the parameters back.

The log: wildrobot on a fixed base, its left shoulder roll and elbow driven by random
target steps of up to 0.5 rad every 0.25 s for 1.2 s (150 rows at 8 ms), with each joint's
kp x0.7-1.4, damping and armature x0.5-2 and frictionloss +0.02 N m (drawn once, seed 1:
kp x1.06, x1.37; damping x0.72, x1.92; armature x0.97, x1.13) and Gaussian sensor noise
of 1 mrad on the measured positions. The fit (MJX, float32) of kp, damping and armature
must find kp and damping within 10 %, armature within 25 %, and cut the replay error at
least 5x. frictionloss is perturbed but not fitted: with steps this large it trades off
against kp and is not identifiable (docs/sysid.md); the unmodelled friction biases kp by
a few percent. These two joints are identifiable: each is driven on its own, and their
armature is comparable to the inertia they move; the shoulder pitch, which holds the arm
against gravity, trades kp against friction and damping and needs a longer log.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from playground.cli.sysid import main
from playground.sysid import robot as robot_lib
from playground.sysid.fit import FitOptions, prepare, run_fit

JOINTS = ("left_shoulder_roll", "left_elbow")
ROWS, DT, NOISE = 150, 0.008, 0.001
FIT = ["--population", "64", "--generations", "12", "--fixed-base", "--seed", "0",
       "--params", "kp,damping,armature"]
PARAMS = ("kp", "damping", "armature")


def make_log(path):
    """The log and the true [J, 4] parameters (kp, damping, frictionloss, armature)."""
    return robot_lib.make_step_log(path, "humanoid_walk", JOINTS, ROWS, DT, NOISE, seed=1)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sysid")
    true = make_log(tmp / "log.npz")
    code = main(["fit", "--robot", "humanoid_walk", "--log", str(tmp / "log.npz"),
                 "--out", str(tmp / "fitted.json"), *FIT])
    assert code == 0
    return tmp, true, json.loads((tmp / "fitted.json").read_text())


def test_fit_recovers_the_perturbed_parameters(fitted):
    tmp, true, result = fitted
    got = np.array([[result["joints"][j][p] for p in PARAMS] for j in JOINTS])
    error = np.abs(got / true[:, [0, 1, 3]] - 1.0)
    assert np.all(error[:, 0] < 0.10), ("kp", error[:, 0])
    assert np.all(error[:, 1] < 0.10), ("damping", error[:, 1])
    assert np.all(error[:, 2] < 0.25), ("armature", error[:, 2])
    rms = result["replay_rms_rad"]
    assert rms["before"] >= 5 * rms["after"], rms
    assert result["loss"]["before"] >= 5 * result["loss"]["after"], result["loss"]
    assert result["generations"] == 12 and not result["interrupted"]
    assert [r["generation"] for r in result["history"]] == list(range(1, 13))
    assert result["model_sha256"] == robot_lib.load_robot("humanoid_walk").model_sha256
    assert (tmp / "fitted_arm_joint.png").stat().st_size > 10_000


def test_ctrl_c_writes_the_best_so_far(fitted, tmp_path):
    """The stop event (what Ctrl-C sets) ends the fit after the running generation."""
    tmp, _, _ = fitted
    stop = threading.Event()
    problem = prepare(FitOptions(robot="humanoid_walk", log=tmp / "log.npz",
                                 out=tmp_path / "partial.json", population=64, generations=12,
                                 params=PARAMS, fixed_base=True, plots=False))
    seen = []

    def on_generation(g, row, best):
        seen.append((g, row["best_loss"], best))
        if g == 2:
            stop.set()

    run_fit(problem, log=lambda line: None, stop=stop, on_generation=on_generation)
    partial = json.loads((tmp_path / "partial.json").read_text())
    assert partial["interrupted"] and partial["generations"] == 2
    # the callback's best after generation 2 is what the partial file holds
    assert [g for g, _, _ in seen] == [1, 2] and seen[1][1] <= seen[0][1]
    np.testing.assert_allclose(
        seen[1][2], [[partial["joints"][j][p] for p in PARAMS] for j in JOINTS], rtol=1e-6)
    assert partial["loss"]["after"] <= partial["loss"]["before"]
    assert set(partial["joints"]) == set(JOINTS)
