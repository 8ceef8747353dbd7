"""The joint log: what the recorder writes the fit reads; every bad log is one line, exit 2."""

from __future__ import annotations

import numpy as np
import pytest

from playground.cli.sysid import main
from playground.serve.recorder import LogRecorder, write_log
from playground.sysid.log import LogError, load_log

JOINTS = ("left_elbow", "right_elbow")


def _arrays(rows: int = 20) -> dict:
    t = np.arange(rows) * 0.02
    cmd = np.stack([np.sin(t), np.cos(t)], axis=1)
    return {"cmd": cmd, "state": cmd * 0.9, "time": t, "joint_names": np.array(JOINTS)}


def test_recorder_rows_round_trip(tmp_path):
    clock = iter(np.arange(12) * 0.01)
    recorder = LogRecorder(JOINTS, model_sha256="ab" * 32, fixed_base=True, clock=lambda: next(clock))
    for i in range(12):
        recorder.record(state=[i, -i], cmd=[2 * i, 0.5], qvel=[1.0, 2.0])
    recorder.save(tmp_path / "log.npz")
    log = load_log(tmp_path / "log.npz", JOINTS)
    assert log.num_rows == 12 and log.joint_names == JOINTS and log.dt == pytest.approx(0.01)
    assert log.state[3].tolist() == [3, -3] and log.cmd[3].tolist() == [6, 0.5]
    assert log.qvel[11].tolist() == [1, 2] and log.fixed_base is True
    assert log.model_sha256 == "ab" * 32
    with pytest.raises(ValueError, match=r"must both be \(2,\)"):
        recorder.record(state=[1, 2, 3], cmd=[0, 0])


def test_hand_aliases_and_dt_are_accepted(tmp_path):
    a = _arrays()
    np.savez(tmp_path / "hand.npz", hand_cmd=a["cmd"], hand_state=a["state"], dt=0.02,
             joint_names=a["joint_names"])
    log = load_log(tmp_path / "hand.npz", JOINTS)
    assert log.dt == 0.02 and np.array_equal(log.cmd, a["cmd"]) and log.qvel is None


def _bad(name):
    """Each case: a change to a good log -> the message it must produce."""
    a = _arrays()
    if name == "shapes":
        a["state"] = a["state"][:, :1]
    elif name == "nan":
        a["state"][7, 1] = np.nan
    elif name == "unknown joint":
        a["joint_names"] = np.array(["left_elbow", "tail"])
    elif name == "non-monotonic time":
        a["time"][5] = a["time"][3]
    elif name == "too short":
        a = {k: v[:4] if k != "joint_names" else v for k, v in a.items()}
    elif name == "names vs columns":
        a["joint_names"] = np.array(["left_elbow"])
    elif name == "no state":
        del a["state"]
    elif name == "time and dt":
        a["dt"] = 0.02
    elif name == "irregular period":
        a["time"][10:] += 0.015
    elif name == "qvel shape":
        a["qvel"] = np.zeros((3, 2))
    return a


BAD = {
    "shapes": "state (20, 1) and cmd (20, 2) differ in shape",
    "nan": "state is not finite at row 7, joint 'right_elbow'",
    "unknown joint": "joint 'tail' is not an actuated joint of the model",
    "non-monotonic time": "time is not increasing at row 5 (0.08 s then 0.06 s)",
    "too short": "4 rows; a fit needs at least 10",
    "names vs columns": "1 joint_names for 2 columns",
    "no state": "no 'state' array (also accepted: 'hand_state')",
    "time and dt": "give exactly one of 'time' [T] and 'dt'",
    "irregular period": "the replay needs a constant period",
    "qvel shape": "qvel (3, 2) and cmd (20, 2) differ in shape",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_log_is_one_line(case, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, **_bad(case))
    with pytest.raises(LogError) as error:
        load_log(path, ("left_elbow", "right_elbow", "left_knee"))
    assert BAD[case] in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("case", ["nan", "unknown joint", "non-monotonic time", "too short"])
def test_cli_bad_log_exit_2_before_any_work(case, tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, **_bad(case))
    code = main(["fit", "--robot", "humanoid_walk", "--log", str(path),
                 "--out", str(tmp_path / "fitted.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and BAD[case] in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "fitted.json").exists()


def test_cli_other_model_and_bad_options(tmp_path, capsys):
    path = tmp_path / "log.npz"
    a = _arrays()
    write_log(path, cmd=a["cmd"], state=a["state"], time=a["time"], joint_names=JOINTS,
              model_sha256="0" * 64)
    base = ["fit", "--robot", "humanoid_walk", "--log", str(path), "--out", str(tmp_path / "f.json")]
    cases = [
        ([], "recorded on another model"),
        (["--robot", "cartpole_balance"], "no robot model section"),
        (["--joints", "left_knee"], "joint 'left_knee' is not in the log"),
        (["--params", "kp,mass"], "a subset of kp,damping,frictionloss,armature"),
        (["--population", "10", "--parallel-envs", "4"], "must be a multiple of --parallel-envs"),
        (["--bounds", "kp=2:3"], "must hold 1"),
        (["--optimizer", "sgd"], "invalid choice"),
    ]
    for extra, message in cases:
        argv = base + extra
        if extra[:1] == ["--robot"]:
            argv = ["fit", *extra, "--log", str(path), "--out", str(tmp_path / "f.json")]
        elif extra:  # a log of this model, so the option is what fails
            write_log(path, cmd=a["cmd"], state=a["state"], time=a["time"], joint_names=JOINTS)
        assert main(argv) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
