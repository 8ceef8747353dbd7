"""The replay in MJX and the loss it is scored by (pure functions, batched by vmap).

A candidate is one point of the search cube; its replay starts at the log's first row
(measured positions, and velocities when logged, else zero), holds cmd[t] for
`n_substeps` physics steps per row and reads the fitted joints' positions after each
row, exactly as `robot.replay_mujoco` does in plain MuJoCo.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np

from playground.sysid.robot import Layout, actuator_of, hold_targets
from playground.tasks.mjx_compat import mjx

F32 = jnp.float32


def compute_huber(error: jax.Array, delta: float) -> jax.Array:
    """Elementwise Huber: e^2 / 2 inside |e| <= delta, delta (|e| - delta / 2) outside."""
    a = jnp.abs(error)
    return jnp.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))


def compute_replay_loss(sim_q: jax.Array, log_q: jax.Array, delta: float) -> jax.Array:
    """Mean Huber error of the simulated joint positions against the logged ones.

    sim_q, log_q: [T, J] rad (or m), the rows after the start. A quadratic error near zero
    (sensor noise averages out) that grows only linearly beyond `delta` (a spike, a slipped
    encoder count, a contact the model lacks weighs no more than a steady offset). A
    non-finite replay scores +inf, so the search never picks a candidate that blew up.
    """
    loss = jnp.mean(compute_huber(sim_q - log_q, delta))
    return jnp.where(jnp.isfinite(loss), loss, jnp.inf)


def make_replay(model, qpos0: np.ndarray, logged: tuple[str, ...], layout: Layout,
                n_substeps: int, device=None):
    """A function (values [Jf, P], cmd [T, J], q0 [J], v0 [J]) -> [T - 1, J] joint positions.

    `model`: the MuJoCo model of the replay (`robot.build_model`); `logged`: the log's
    columns (every one gets its cmd; actuators of other joints hold the start pose);
    `layout`: which of them carry which fitted parameters.
    """
    m = copy.deepcopy(model)  # the caller's model stays as it was
    if "frictionloss" in layout.params:  # MJX keeps friction rows only for non-zero dofs
        for name in layout.joints:
            dof = m.joint(name).dofadr[0]
            m.dof_frictionloss[dof] = max(m.dof_frictionloss[dof], 1e-4)
    mx = mjx.put_model(m, device=device or jax.local_devices()[0])
    qpos_idx = jnp.asarray([m.joint(n).qposadr[0] for n in logged])
    dof_idx = jnp.asarray([m.joint(n).dofadr[0] for n in logged])
    act_idx = jnp.asarray([actuator_of(m, n) for n in logged])
    fit_act = jnp.asarray([actuator_of(m, n) for n in layout.joints])
    fit_dof = jnp.asarray([m.joint(n).dofadr[0] for n in layout.joints])
    ctrl0 = jnp.asarray(hold_targets(m, qpos0), F32)
    qpos_start = jnp.asarray(qpos0, F32)

    def with_values(values):
        fields = {}
        for c, param in enumerate(layout.params):
            v = values[:, c].astype(F32)
            if param == "kp":
                fields["actuator_gainprm"] = mx.actuator_gainprm.at[fit_act, 0].set(v)
                fields["actuator_biasprm"] = mx.actuator_biasprm.at[fit_act, 1].set(-v)
            else:
                name = f"dof_{param}"
                fields[name] = getattr(mx, name).at[fit_dof].set(v)
        return mx.replace(**fields)

    def replay(values, cmd, q0, v0):
        mv = with_values(values)
        data = mjx.make_data(mv)
        data = data.replace(qpos=qpos_start.at[qpos_idx].set(q0.astype(F32)),
                            qvel=data.qvel.at[dof_idx].set(v0.astype(F32)), ctrl=ctrl0)

        def row(d, target):
            d = d.replace(ctrl=d.ctrl.at[act_idx].set(target.astype(F32)))
            d = jax.lax.fori_loop(0, n_substeps, lambda _, x: mjx.step(mv, x), d)
            return d, d.qpos[qpos_idx]

        _, q = jax.lax.scan(row, data, cmd[:-1])
        return q

    return replay
