"""MJX cart-pole balance: the cheap classic task that checks the trainer end to end.

A cart on a rail carries a hinged pole that starts near upright. The policy pushes the
cart; each step that the pole stays up pays the `balance` term, and the episode
terminates once the pole leans past `MAX_POLE_ANGLE` or the cart leaves the rail
(`MAX_CART_POS`), so a bad policy gets short episodes and little return. An episode
succeeds when it reaches the time limit with the pole within `env.success_threshold` of
upright (`success_mode = "last"`: the per-step signal read at the episode's last step).
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import mujoco

from playground.tasks.base import SUCCESS_METRIC, Env, State
from playground.tasks.mjx_compat import mjx

XML_PATH = pathlib.Path(__file__).resolve().parent / "assets" / "cartpole.xml"

#: |hinge angle| (rad) beyond which the pole counts as fallen.
MAX_POLE_ANGLE = 0.6
#: |cart position| (m) beyond which the cart has left the rail.
MAX_CART_POS = 1.8
#: reset noise: uniform in [-x, x] on each qpos / qvel entry.
RESET_QPOS_NOISE = 0.05
RESET_QVEL_NOISE = 0.01

#: actor and critic observation, one name per entry (no scaling: all are O(1)).
OBSERVATION_NAMES = ("cart_pos", "pole_cos", "pole_sin", "cart_vel", "pole_ang_vel")


def make_cartpole_env(cfg: Any) -> CartpoleBalance:
    """Registry factory: the env from the resolved config (see `CartpoleBalance`)."""
    return CartpoleBalance(cfg)


class CartpoleBalance(Env):
    """Balance a pole on a cart. Actions: one motor command in [-1, 1].

    Reads from the config: `env.episode_length`, `env.ctrl_dt`, `env.sim_dt`,
    `env.action_scale` (multiplies the action before it becomes the motor command, which
    is then clipped to the actuator's [-1, 1] range), `env.success_threshold` and
    `reward_weights.balance` (1.0 if absent).
    """

    reward_terms = ("balance",)
    metric_names = ()
    #: success signal: the pole within success_threshold of upright and the episode not
    #: terminated; read at the last step, it is 1.0 only at a time limit with the pole up
    success_mode = "last"
    #: play's summary: none beyond the generic ones (its one reward term, `balance`, is the
    #: measure of how well the pole is held)
    summary_metrics = ()

    def __init__(self, cfg: Any):
        self.episode_length = int(cfg.env.episode_length)
        self.ctrl_dt = float(cfg.env.ctrl_dt)
        self.sim_dt = float(cfg.env.sim_dt)
        self.n_substeps = _substeps(self.ctrl_dt, self.sim_dt)
        self._action_scale = float(cfg.env.action_scale)
        self._success_threshold = float(cfg.env.success_threshold)
        weights = cfg.get("reward_weights", None) or {}
        self._balance_weight = float(weights.get("balance", 1.0))

        self.mj_model = mujoco.MjModel.from_xml_path(str(XML_PATH))
        self.mj_model.opt.timestep = self.sim_dt
        # this process's device: jax.devices()[0], mjx's default, is process 0's in a
        # multi-host run and not addressable from the others
        device = jax.local_devices()[0]
        self.mjx_model = mjx.put_model(self.mj_model, device=device)
        self._data0 = mjx.make_data(self.mjx_model, device=device)

        self.observation_size = {
            "state": len(OBSERVATION_NAMES),
            "privileged_state": len(OBSERVATION_NAMES),
        }
        self.action_size = self.mj_model.nu

    def reset(self, key: jax.Array) -> State:
        """A fresh episode: pole near upright, cart near the centre, small velocities."""
        key_next, key_qpos, key_qvel = jax.random.split(key, 3)
        qpos = jax.random.uniform(
            key_qpos, (self.mj_model.nq,), jnp.float32, -RESET_QPOS_NOISE, RESET_QPOS_NOISE
        )
        qvel = jax.random.uniform(
            key_qvel, (self.mj_model.nv,), jnp.float32, -RESET_QVEL_NOISE, RESET_QVEL_NOISE
        )
        sys: dict[str, jax.Array] = {}  # no domain randomization for this task
        data = mjx.forward(self.mjx_model.replace(**sys), self._data0.replace(qpos=qpos, qvel=qvel))

        zero = jnp.zeros((), jnp.float32)
        obs = self._observe(data)
        return State(
            data=data,
            obs={"state": obs, "privileged_state": obs},
            reward=zero,
            done=zero,
            metrics={"reward/balance": zero, SUCCESS_METRIC: zero},
            info={
                "rng": key_next,
                "step": jnp.zeros((), jnp.int32),
                "truncation": zero,
                "sys": sys,
            },
        )

    def step(self, state: State, action: jax.Array) -> State:
        """Push the cart for `ctrl_dt` seconds; never resets (see `playground.tasks.base`)."""
        ctrl = jnp.clip(action.astype(jnp.float32) * self._action_scale, -1.0, 1.0)  # [nu]
        model = self.mjx_model.replace(**state.info["sys"])
        data = state.data.replace(ctrl=ctrl)
        data = jax.lax.fori_loop(0, self.n_substeps, lambda _, d: mjx.step(model, d), data)

        cart_pos, pole_angle = data.qpos[0], data.qpos[1]
        # Each factor lies in [0, 1], so the product does too.
        upright = (jnp.cos(pole_angle) + 1.0) / 2.0
        centered = (1.0 + jnp.exp(-jnp.square(cart_pos))) / 2.0
        small_control = (4.0 + (1.0 - jnp.square(ctrl[0]))) / 5.0
        balance = self._balance_weight * upright * centered * small_control

        terminated = (jnp.abs(pole_angle) > MAX_POLE_ANGLE) | (jnp.abs(cart_pos) > MAX_CART_POS)
        step = state.info["step"] + 1
        truncated = (step >= self.episode_length) & ~terminated
        done = (terminated | truncated).astype(jnp.float32)
        success = (jnp.abs(pole_angle) <= self._success_threshold) & ~terminated

        obs = self._observe(data)
        return state.replace(
            data=data,
            obs={"state": obs, "privileged_state": obs},
            reward=balance,
            done=done,
            metrics={"reward/balance": balance, SUCCESS_METRIC: success.astype(jnp.float32)},
            info={**state.info, "step": step, "truncation": truncated.astype(jnp.float32)},
        )

    def _observe(self, data: mjx.Data) -> jax.Array:
        """[5] float32, in `OBSERVATION_NAMES` order."""
        return jnp.stack(
            [
                data.qpos[0],  # cart_pos
                jnp.cos(data.qpos[1]),  # pole_cos
                jnp.sin(data.qpos[1]),  # pole_sin
                data.qvel[0],  # cart_vel
                data.qvel[1],  # pole_ang_vel
            ]
        ).astype(jnp.float32)

    def policy_spec(self) -> dict[str, Any]:
        """The env's half of the deploy contract: plain Python values only."""
        layout = [{"name": name, "size": 1, "scale": 1.0} for name in OBSERVATION_NAMES]
        return {
            "task": "cartpole_balance",
            "observation_size": dict(self.observation_size),
            "observation_layout": layout,
            "privileged_observation_layout": [dict(entry) for entry in layout],
            "action_size": self.action_size,
            "action_meaning": "motor command in [-1, 1] times action_scale, "
            "clipped to [-1, 1]; +-1 pushes the cart with the actuator gear (N)",
            "action_scale": self._action_scale,
            "actuator_gear": [float(g) for g in self.mj_model.actuator_gear[:, 0]],
            "ctrl_dt": self.ctrl_dt,
            "sim_dt": self.sim_dt,
            "n_substeps": self.n_substeps,
            "joint_names": _names(self.mj_model, mujoco.mjtObj.mjOBJ_JOINT, self.mj_model.njnt),
            "actuator_names": _names(self.mj_model, mujoco.mjtObj.mjOBJ_ACTUATOR, self.mj_model.nu),
            "default_qpos": [float(q) for q in self.mj_model.qpos0],
        }


def _substeps(ctrl_dt: float, sim_dt: float) -> int:
    """Physics steps per control step; ctrl_dt must be a whole multiple of sim_dt."""
    n = round(ctrl_dt / sim_dt)
    if n < 1 or abs(n * sim_dt - ctrl_dt) > 1e-6 * max(ctrl_dt, 1.0):
        raise ValueError(
            f"env.ctrl_dt ({ctrl_dt}) must be a positive whole multiple of env.sim_dt ({sim_dt})"
        )
    return n


def _names(model: mujoco.MjModel, obj: mujoco.mjtObj, count: int) -> list[str]:
    return [mujoco.mj_id2name(model, obj, i) for i in range(count)]
