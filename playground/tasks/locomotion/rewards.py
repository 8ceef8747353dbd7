"""Locomotion reward terms: one small function each, unweighted, times `reward_weights`.

Each term takes the env (its constants: widths, targets, limits) and the step's
`StepQuantities` and returns a float32 scalar for one env. `REWARD_TERMS` lists them in
the order their weighted values are summed (the order is part of the numbers).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

F32 = jnp.float32

#: Width (m^2) of the feet_phase reward exp(-sum_feet (lift - target)^2 / sigma): 1 cm of
#: error on each foot earns exp(-0.4) = 0.67; a foot left on the floor at the 3.5 cm peak
#: of its swing earns exp(-2.45) = 0.09, so standing still earns little of it.
FEET_PHASE_SIGMA = 5e-4


class StepQuantities(NamedTuple):
    """What the terms read of one control step (one env)."""

    sensors: dict[str, jax.Array]  # noise-free readings (LocomotionEnv._sensors)
    command: jax.Array  # [3] vx, vy, yaw rate
    yaw_rate_avg: jax.Array  # [] the averaged yaw rate after this step
    moving: jax.Array  # [] 1.0 when the command is not standing still
    action_rate: jax.Array  # [] sum of squared action changes
    joint_pos: jax.Array  # [n] actuated joint positions (absolute, rad)
    actuator_force: jax.Array  # [nu]
    contact: jax.Array  # [nf] feet in contact
    first_contact: jax.Array  # [nf] feet touching down this step
    air_time: jax.Array  # [nf] seconds in the air, this step included
    feet_speed: jax.Array  # [nf] horizontal speed of each foot, m/s
    lift_err: jax.Array  # [] sum over feet of (lift - gait-clock target)^2
    terminated: jax.Array  # [] 1.0 when the episode ends by falling


def tracking_lin_vel(env, q: StepQuantities):
    lin_err = jnp.sum(jnp.square(q.command[:2] - q.sensors["linvel"][:2]))
    return jnp.exp(-lin_err / env.tracking_sigma)


def tracking_ang_vel(env, q: StepQuantities):
    yaw_err = jnp.square(q.command[2] - q.sensors["yaw_rate"])
    return jnp.exp(-yaw_err / env.tracking_sigma_yaw)


def tracking_ang_vel_avg(env, q: StepQuantities):
    return jnp.exp(-jnp.square(q.command[2] - q.yaw_rate_avg) / env.tracking_sigma_yaw_avg)


def lin_vel_z(env, q: StepQuantities):
    return jnp.square(q.sensors["linvel"][2])


def ang_vel_xy(env, q: StepQuantities):
    return jnp.sum(jnp.square(q.sensors["angvel_body"][:2]))


def upright(env, q: StepQuantities):
    return jnp.sum(jnp.square(q.sensors["gravity"][:2]))


def base_height(env, q: StepQuantities):
    return jnp.square(q.sensors["height"] - env.height_target)


def action_rate(env, q: StepQuantities):
    return q.action_rate


def torque(env, q: StepQuantities):
    return jnp.sum(jnp.square(q.actuator_force))


def joint_limits(env, q: StepQuantities):
    below = jnp.maximum(env.soft_range[:, 0] - q.joint_pos, 0.0)
    above = jnp.maximum(q.joint_pos - env.soft_range[:, 1], 0.0)
    return jnp.sum(below + above)


def pose(env, q: StepQuantities):
    return jnp.sum(jnp.square(q.sensors["joint_pos"]))


def feet_air_time(env, q: StepQuantities):
    return jnp.sum((q.air_time - env.air_time_target) * q.first_contact) * q.moving


def feet_slip(env, q: StepQuantities):
    return jnp.sum(q.contact * jnp.square(q.feet_speed))


def feet_phase(env, q: StepQuantities):
    return jnp.exp(-q.lift_err / FEET_PHASE_SIGMA) * q.moving


def alive(env, q: StepQuantities):
    return F32(1.0)


def termination(env, q: StepQuantities):
    return q.terminated


#: name -> term, in summation order
REWARD_TERMS: dict[str, Any] = {term.__name__: term for term in (
    tracking_lin_vel, tracking_ang_vel, tracking_ang_vel_avg, lin_vel_z, ang_vel_xy, upright,
    base_height, action_rate, torque, joint_limits, pose, feet_air_time, feet_slip,
    feet_phase, alive, termination,
)}
