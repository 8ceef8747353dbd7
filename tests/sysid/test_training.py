"""env.robot.sysid: a fitted file becomes the nominal model the jitted env simulates."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from playground import config
from playground.serve.spec import file_sha256
from playground.tasks.registry import get_task

XML = "playground/tasks/assets/wildrobot/wildrobot.xml"
#: wildrobot's left elbow: kp 12, damping 0.3, frictionloss 0.02, armature 0.005 in the MJCF
FITTED = {"left_elbow": {"kp": 15.0, "damping": 0.45, "frictionloss": 0.05, "armature": 0.0075},
          "right_knee": {"damping": 0.9}}


def _fitted_file(tmp_path, sha=None):
    from playground.tasks.locomotion.env import resolve_path

    path = tmp_path / "fitted.json"
    path.write_text(json.dumps({"format": "playground-sysid/1", "joints": FITTED,
                                "model_sha256": sha or file_sha256(resolve_path(XML))}))
    return path


def _env(overrides):
    cfg = config.resolve(None, [("env.task", "humanoid_walk"), *overrides])
    return get_task("humanoid_walk").make_env(cfg)


def _fields(env, sys):
    """(kp, -biasprm[1], damping, frictionloss, armature) of the left elbow, right knee."""
    import jax.numpy as jnp

    model = env._model(sys)
    act = [env.joint_names.index(j) for j in ("left_elbow", "right_knee")]
    dof = env.qvel_idx[act]
    return jnp.stack([model.actuator_gainprm[act, 0], -model.actuator_biasprm[act, 1],
                     model.dof_damping[dof], model.dof_frictionloss[dof],
                     model.dof_armature[dof]])


def test_fitted_file_is_the_nominal_model_inside_the_jitted_env(tmp_path):
    path = _fitted_file(tmp_path)
    # every randomization scale pinned to 0.5: the randomized model is half the fitted one
    half = [(f"domain_randomization.{k}", [0.5, 0.5]) for k in
            ("actuator_gain_scale", "damping_scale", "armature_scale", "frictionloss_scale")]
    env = _env([("env.robot.sysid", str(path)), *half])
    sys = jax.jit(env.reset)(jax.random.PRNGKey(0)).info["sys"]
    seen = jax.jit(lambda s: _fields(env, s))(sys)
    # columns: left elbow (all four fitted), right knee (damping only; kp 21, frictionloss
    # 0.03, armature 0.01 stay the MJCF's)
    fitted = np.array([[15.0, 21.0], [15.0, 21.0], [0.45, 0.9], [0.05, 0.03], [0.0075, 0.01]])
    assert np.allclose(seen, 0.5 * fitted, rtol=1e-6)
    # randomization off: the fitted values themselves
    env_plain = _env([("env.robot.sysid", str(path)), ("domain_randomization.enabled", False)])
    assert np.allclose(jax.jit(lambda: _fields(env_plain, {}))(), fitted, rtol=1e-6)
    assert env_plain.fitted_model == {"path": str(path), "sha256": file_sha256(path), "joints": 2}
    # unset: the MJCF's values
    default = _env([("domain_randomization.enabled", False)])
    assert default.fitted_model is None
    assert np.allclose(_fields(default, {})[:, 0], [12.0, 12.0, 0.3, 0.02, 0.005])


def test_fitted_file_of_another_model_is_one_line_exit_2(tmp_path, capsys):
    from playground import train

    path = _fitted_file(tmp_path, sha="0" * 64)
    with pytest.raises(config.ConfigError, match="fitted on another model"):
        _env([("env.robot.sysid", str(path))])
    code = train.main(["--task", "humanoid_walk", "--set", f"env.robot.sysid={path}",
                       "--checkpoint-dir", str(tmp_path / "runs"), "--no-wandb"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "env.robot.sysid" in err[0], err
    assert "fitted on another model" in err[0]
