"""Velocity-tracking locomotion for any legged robot MJCF (`humanoid_walk`).

The robot comes from `env.robot` (xml, keyframe, root_body, feet, imu_site); every
actuator must be a position actuator on a hinge/slide joint. The policy outputs
position targets around the keyframe pose, times `env.action_scale`.

Actor observation frame (`state`, what the real robot senses; history stacks frames,
newest first):
    gyro,            # 3  IMU angular velocity, IMU frame, rad/s
    gravity,         # 3  unit gravity direction in the IMU frame
    joint_pos,       # n  joint angles minus the keyframe pose, rad
    joint_vel,       # n  joint velocities, rad/s
    last_action,     # n  the policy's previous output in [-1, 1] (before scale and delay)
    command,         # 3  vx m/s, vy m/s, yaw rate rad/s
    phase,           # 2  sin, cos of the gait clock (only if env.gait.enabled)
Critic observation (`privileged_state`): the noise-free frame, then
    linvel,          # 3  root linear velocity in the heading frame, m/s
    height,          # 1  root height, m
    feet_contact,    # nf 1.0 where the foot touches the floor
    friction,        # 1  randomized floor friction
    gain_scale,      # n  randomized actuator gain scale
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from playground import quaternion
from playground.serve.spec import file_sha256
from playground.tasks.base import Env, State
from playground.tasks.locomotion import rewards
from playground.tasks.mjx_compat import mjx
from playground.tasks.registry import PROJECT_ROOT

F32 = jnp.float32


#: Where the shipped robot models lived before the tasks/ layout: configs saved by runs of
#: that code (checkpoints, policies/*/config.yaml) still name the old place.
_MOVED_ASSETS = ("playground/envs/assets/", "playground/tasks/assets/")


def resolve_path(path: str) -> pathlib.Path:
    """Absolute path; relative ones resolve against the project root, then the cwd."""
    old, new = _MOVED_ASSETS
    if str(path).startswith(old):
        path = new + str(path)[len(old):]
    p = pathlib.Path(path).expanduser()
    if p.is_absolute():
        return p
    candidate = PROJECT_ROOT / p
    return candidate if candidate.exists() else pathlib.Path.cwd() / p


def check_mjx_friendly(mj_model: mujoco.MjModel) -> list[str]:
    """Warnings about model features that make MJX slow (empty list when fine)."""
    warnings = []
    colliding = (mj_model.geom_contype != 0) | (mj_model.geom_conaffinity != 0)
    mesh = colliding & (mj_model.geom_type == mujoco.mjtGeom.mjGEOM_MESH)
    if mesh.any():
        names = [mj_model.geom(i).name or f"geom{i}" for i in np.flatnonzero(mesh)]
        warnings.append(f"mesh collision geoms {names[:5]} are slow in MJX; use primitives")
    n_colliding = int(colliding.sum())
    if n_colliding > 12:
        warnings.append(
            f"{n_colliding} geoms can collide; MJX checks every pair: restrict contacts "
            "to feet vs floor (contype/conaffinity 0 elsewhere)"
        )
    if mj_model.opt.iterations > 10:
        warnings.append(f"opt.iterations={mj_model.opt.iterations}; MJX runs fastest with 1-4")
    return warnings


def _rot_z(vec, yaw):
    """Rotate the xy part of a 3-vector by -yaw (world -> heading frame)."""
    c, s = jnp.cos(yaw), jnp.sin(yaw)
    return jnp.array([c * vec[0] + s * vec[1], -s * vec[0] + c * vec[1], vec[2]])


class LocomotionEnv(Env):
    """Velocity tracking for a legged robot; see the module docstring for obs."""

    #: play/sim2sim summary: how well the command is tracked and how cleanly the feet step
    summary_metrics = (("vx_error", "vx_error"), ("vx_mean", "vx"), ("vy_error", "vy_error"),
                       ("yaw_rate_error", "yaw_rate_error"), ("yaw_rate_mean", "yaw_rate"),
                       ("foot_slip", "foot_slip"))

    def __init__(self, cfg):
        env_cfg = cfg.env
        robot = env_cfg.robot
        self.xml_path = resolve_path(robot.xml)
        mj_model = mujoco.MjModel.from_xml_path(str(self.xml_path))
        mj_model.opt.timestep = float(env_cfg.sim_dt)
        #: provenance of env.robot.sysid (path, sha256), None without one
        self.fitted_model = None
        if robot.sysid is not None:  # before put_model: the fitted values are the nominal model
            from playground.sysid.fitted import apply_fitted

            self.fitted_model = apply_fitted(mj_model, resolve_path(robot.sysid),
                                             file_sha256(self.xml_path))
        self.mj_model = mj_model
        self.model_warnings = check_mjx_friendly(mj_model)
        # this process's device, not mjx's default jax.devices()[0]: in a multi-host run
        # that one is process 0's, and the others could not address the model
        self.mjx_model = mjx.put_model(mj_model, device=jax.local_devices()[0])

        self.ctrl_dt = float(env_cfg.ctrl_dt)
        self.sim_dt = float(env_cfg.sim_dt)
        self.n_substeps = int(round(self.ctrl_dt / self.sim_dt))
        self.episode_length = int(env_cfg.episode_length)
        self.action_scale = float(env_cfg.action_scale)
        self.delay_range = tuple(int(x) for x in env_cfg.action_delay_steps)
        self.history = int(env_cfg.obs_history)
        self.gait_enabled = bool(env_cfg.gait.enabled)
        self.gait_frequency = float(env_cfg.gait.frequency)
        self.swing_height = float(env_cfg.gait.swing_height)
        self.tracking_sigma = float(env_cfg.tracking_sigma)
        self.tracking_sigma_yaw = float(env_cfg.tracking_sigma_yaw)
        self.tracking_sigma_yaw_avg = float(env_cfg.tracking_sigma_yaw_avg)
        # exponential moving average of the yaw rate, one update per control step
        self.yaw_average_alpha = float(min(1.0, self.ctrl_dt / float(env_cfg.yaw_average_seconds)))
        self.air_time_target = float(env_cfg.feet_air_time_target)
        self.noise_scale = float(env_cfg.noise.scale)
        self.noise = {k: float(env_cfg.noise[k]) for k in ("gyro", "gravity", "joint_pos", "joint_vel")}
        self.command_ranges = np.array(
            [env_cfg.command.vx, env_cfg.command.vy, env_cfg.command.yaw_rate], np.float32
        )
        self.resample_steps = max(1, int(round(env_cfg.command.resample_seconds / self.ctrl_dt)))
        self.zero_command_prob = float(env_cfg.command.zero_probability)
        self.turn_in_place_prob = float(env_cfg.command.turn_in_place_probability)
        self.min_height = float(env_cfg.termination.min_base_height)
        self.max_tilt = float(env_cfg.termination.max_tilt)
        self.dr = cfg.domain_randomization
        self.weights = {k: float(v) for k, v in cfg.reward_weights.items()}

        # --- robot structure -------------------------------------------------
        root_id = mj_model.body(robot.root_body).id
        root_jnt = mj_model.body_jntadr[root_id]
        if root_jnt < 0 or mj_model.jnt_type[root_jnt] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError(f"env.robot.root_body {robot.root_body!r} has no free joint")
        self.root_body = root_id
        self.root_qpos = int(mj_model.jnt_qposadr[root_jnt])
        self.root_dof = int(mj_model.jnt_dofadr[root_jnt])
        act_joints = mj_model.actuator_trnid[:, 0]
        self.joint_names = tuple(mj_model.joint(j).name for j in act_joints)
        self.actuator_names = tuple(mj_model.actuator(i).name for i in range(mj_model.nu))
        self.qpos_idx = np.array([mj_model.jnt_qposadr[j] for j in act_joints])
        self.qvel_idx = np.array([mj_model.jnt_dofadr[j] for j in act_joints])
        key = mj_model.keyframe(robot.keyframe)
        self.home_qpos = np.array(key.qpos, np.float32)
        self.home_joints = self.home_qpos[self.qpos_idx]
        self.ctrl_range = np.array(mj_model.actuator_ctrlrange, np.float32)
        self.joint_range = np.array(mj_model.jnt_range[act_joints], np.float32)
        mid = self.joint_range.mean(axis=1)
        half = (self.joint_range[:, 1] - self.joint_range[:, 0]) / 2
        self.soft_range = np.stack([mid - 0.95 * half, mid + 0.95 * half], axis=1)
        rel = np.eye(3).ravel()  # imu_site null: the IMU frame is the root body's frame
        if robot.imu_site is not None:
            imu = mj_model.site(robot.imu_site)
            if mj_model.site_bodyid[imu.id] != root_id:
                raise ValueError(f"env.robot.imu_site {robot.imu_site!r} must sit on the root "
                                 f"body {robot.root_body!r}")
            mujoco.mju_quat2Mat(rel, mj_model.site_quat[imu.id])
        self.imu_rel_rot = rel.reshape(3, 3).astype(np.float32)  # IMU frame in root frame
        self.imu_frame = "IMU site frame" if robot.imu_site is not None else "root body frame"
        self.feet = np.array([mj_model.body(name).id for name in robot.feet])
        self.feet_root = np.array(mj_model.body_rootid[self.feet])
        # collision geoms of each foot's subtree vs everything the floor is made of
        self.foot_geoms = []
        for foot in self.feet:
            subtree = [b for b in range(mj_model.nbody) if self._is_descendant(b, foot)]
            geoms = [
                g
                for g in range(mj_model.ngeom)
                if mj_model.geom_bodyid[g] in subtree
                and (mj_model.geom_contype[g] or mj_model.geom_conaffinity[g])
            ]
            if not geoms:
                raise ValueError(f"foot body {mj_model.body(foot).name!r} has no collision geom")
            self.foot_geoms.append(geoms)
        self.nu = mj_model.nu
        mj_data = mujoco.MjData(mj_model)
        mj_data.qpos[:] = self.home_qpos
        mujoco.mj_forward(mj_model, mj_data)
        self.home_height = float(mj_data.xpos[root_id, 2])
        self.home_feet_z = np.array(mj_data.xpos[self.feet, 2], np.float32)
        # gait clock offset of each foot: alternate feet half a cycle apart
        self.feet_phase_offset = np.pi * (np.arange(len(self.feet)) % 2).astype(np.float32)
        target = env_cfg.base_height_target
        self.height_target = self.home_height if target is None else float(target)
        self.base_body_mass = np.array(mj_model.body_mass, np.float32)

        nf = len(self.feet)
        n = self.nu
        self.frame_layout = [
            ("gyro", 3), ("gravity", 3), ("joint_pos", n), ("joint_vel", n),
            ("last_action", n), ("command", 3),
        ] + ([("phase", 2)] if self.gait_enabled else [])
        self.frame_size = sum(size for _, size in self.frame_layout)
        self.privileged_layout = [("linvel", 3), ("height", 1), ("feet_contact", nf),
                                  ("friction", 1), ("gain_scale", n)]
        self.observation_size = {
            "state": self.frame_size * self.history,
            "privileged_state": self.frame_size + sum(s for _, s in self.privileged_layout),
        }
        self.action_size = n
        self.reward_terms = tuple(rewards.REWARD_TERMS)
        self.metric_names = ("vx", "vx_error", "vy_error", "yaw_rate", "yaw_rate_error",
                             "base_height", "foot_slip", "action_rate")
        noise_vec = []
        for name, size in self.frame_layout:
            noise_vec += [self.noise.get(name, 0.0) * self.noise_scale] * size
        self.noise_vec = np.array(noise_vec, np.float32)

    def _is_descendant(self, body: int, ancestor: int) -> bool:
        while body != 0:
            if body == ancestor:
                return True
            body = self.mj_model.body_parentid[body]
        return ancestor == 0

    # --- domain randomization --------------------------------------------------
    def sample_sys(self, key: jax.Array) -> dict[str, jax.Array]:
        """Randomized model fields for one episode ({} when randomization is off)."""
        if not self.dr.enabled:
            return {}
        m = self.mj_model
        k = jax.random.split(key, 6)
        def uni(key, rng, shape=()):
            return jax.random.uniform(key, shape, F32, rng[0], rng[1])
        friction = uni(k[0], self.dr.floor_friction)
        geom_friction = jnp.asarray(m.geom_friction, F32).at[:, 0].set(friction)
        body_mass = jnp.asarray(m.body_mass, F32) * uni(k[1], self.dr.mass_scale, (m.nbody,))
        gain = uni(k[2], self.dr.actuator_gain_scale, (self.nu,))
        gainprm = jnp.asarray(m.actuator_gainprm, F32)
        biasprm = jnp.asarray(m.actuator_biasprm, F32)
        # a position actuator's kp sits in gainprm[0] and (negated) in biasprm[1]
        gainprm = gainprm.at[:, 0].multiply(gain)
        biasprm = biasprm.at[:, 1].multiply(gain)
        dofs = jnp.asarray(self.qvel_idx)

        def scaled(field, key, rng):
            base = jnp.asarray(field, F32)
            return base.at[dofs].multiply(uni(key, rng, (self.nu,)))

        return {
            "geom_friction": geom_friction,
            "body_mass": body_mass,
            "actuator_gainprm": gainprm,
            "actuator_biasprm": biasprm,
            "dof_damping": scaled(m.dof_damping, k[3], self.dr.damping_scale),
            "dof_armature": scaled(m.dof_armature, k[4], self.dr.armature_scale),
            "dof_frictionloss": scaled(m.dof_frictionloss, k[5], self.dr.frictionloss_scale),
        }

    def _model(self, sys: dict[str, jax.Array]):
        return self.mjx_model.replace(**sys) if sys else self.mjx_model

    # --- helpers -----------------------------------------------------------------
    def _sample_command(self, key: jax.Array) -> jax.Array:
        key_cmd, key_zero = jax.random.split(key)
        lo, hi = self.command_ranges[:, 0], self.command_ranges[:, 1]
        cmd = jax.random.uniform(key_cmd, (3,), F32, lo, hi)
        # its own stream (folded in), so a recipe without turns in place draws as before
        in_place = jax.random.uniform(jax.random.fold_in(key, 1), (), F32) < self.turn_in_place_prob
        cmd = jnp.where(in_place, cmd * jnp.array([0.0, 0.0, 1.0], F32), cmd)
        zero = jax.random.uniform(key_zero, (), F32) < self.zero_command_prob
        return jnp.where(zero, jnp.zeros_like(cmd), cmd)

    def _feet_contact(self, data) -> jax.Array:
        """[nf] 1.0 where any collision geom of the foot is in contact (dist < 1 mm)."""
        contact = data._impl.contact  # MJX keeps the contact list in _impl
        touching = contact.dist < 1e-3
        out = []
        for geoms in self.foot_geoms:
            g = jnp.asarray(geoms)
            hit = jnp.isin(contact.geom1, g) | jnp.isin(contact.geom2, g)
            out.append(jnp.any(hit & touching))
        return jnp.stack(out).astype(F32)

    def _sensors(self, data):
        """Noise-free IMU readings and root kinematics, from qpos/qvel alone.

        No kinematics pass is needed, so `reset` compiles no physics at all, and
        what the policy sees after a step is the state physics just produced.
        """
        quat = data.qpos[self.root_qpos + 3 : self.root_qpos + 7]
        root_rot = quaternion.to_mat(quat)
        imu_rot = root_rot @ self.imu_rel_rot
        angvel_body = data.qvel[self.root_dof + 3 : self.root_dof + 6]  # root frame (MuJoCo)
        linvel_world = data.qvel[self.root_dof : self.root_dof + 3]  # world frame (MuJoCo)
        return {
            "gyro": self.imu_rel_rot.T @ angvel_body,
            "gravity": imu_rot.T @ jnp.array([0.0, 0.0, -1.0], F32),
            "linvel": _rot_z(linvel_world, quaternion.to_yaw(quat)),
            "yaw_rate": (root_rot @ angvel_body)[2],
            "angvel_body": angvel_body,
            "height": data.qpos[self.root_qpos + 2],
            "joint_pos": data.qpos[self.qpos_idx] - self.home_joints,
            "joint_vel": data.qvel[self.qvel_idx],
        }

    def _feet_velocity(self, data) -> jax.Array:
        """[nf, 3] world linear velocity of each foot body origin, from the com-based cvel."""
        cvel = data.cvel[self.feet]  # [nf, 6]: angular, linear at subtree_com of the tree root
        offset = data.xpos[self.feet] - data.subtree_com[self.feet_root]
        return cvel[:, 3:] + jnp.cross(cvel[:, :3], offset)

    def _frame(self, sensors, info) -> jax.Array:
        parts = [
            sensors["gyro"], sensors["gravity"], sensors["joint_pos"], sensors["joint_vel"],
            info["last_action"], info["command"],
        ]
        if self.gait_enabled:
            parts.append(jnp.array([jnp.sin(info["phase"]), jnp.cos(info["phase"])]))
        return jnp.concatenate(parts).astype(F32)

    def _observe(self, sensors, info, key) -> tuple[dict[str, jax.Array], dict]:
        clean = self._frame(sensors, info)
        noisy = clean + self.noise_vec * jax.random.uniform(key, clean.shape, F32, -1.0, 1.0)
        history = jnp.concatenate([noisy[None], info["obs_history"][:-1]], axis=0)
        info = {**info, "obs_history": history}
        gain = (
            info["sys"]["actuator_gainprm"][:, 0] / self.mj_model.actuator_gainprm[:, 0]
            if info["sys"] else jnp.ones((self.nu,), F32)
        )
        friction = info["sys"]["geom_friction"][0, 0] if info["sys"] else F32(1.0)
        privileged = jnp.concatenate([
            clean, sensors["linvel"], sensors["height"][None], info["feet_contact"],
            jnp.reshape(friction, (1,)), gain,
        ]).astype(F32)
        return {"state": history.reshape(-1), "privileged_state": privileged}, info

    # --- the two pure functions --------------------------------------------------
    def reset(self, key: jax.Array) -> State:
        """A fresh episode whose command is sampled and resampled from `env.command`."""
        return self._reset(key, None)

    def reset_with_command(self, key: jax.Array, command: jax.Array) -> State:
        """A fresh episode that tracks `command` [vx, vy, yaw_rate] throughout (no resampling).

        Used for evaluation at a chosen speed; everything else (randomization, noise,
        delay, pushes) is drawn exactly as in `reset`.
        """
        return self._reset(key, jnp.asarray(command, F32))

    def _reset(self, key: jax.Array, command: jax.Array | None) -> State:
        (key, key_sys, key_pose, key_yaw, key_cmd, key_delay,
         key_push, key_phase, key_obs) = jax.random.split(key, 9)
        sys = self.sample_sys(key_sys)
        qpos = jnp.asarray(self.home_qpos)
        noise = float(self.dr.init_qpos_noise) if self.dr.enabled else 0.0
        joints = qpos[self.qpos_idx] + jax.random.uniform(key_pose, (self.nu,), F32, -noise, noise)
        joints = jnp.clip(joints, self.joint_range[:, 0], self.joint_range[:, 1])
        qpos = qpos.at[self.qpos_idx].set(joints)
        yaw = jax.random.uniform(key_yaw, (), F32, -jnp.pi, jnp.pi)
        quat = quaternion.multiply(quaternion.from_yaw(yaw), qpos[self.root_qpos + 3 : self.root_qpos + 7])
        qpos = qpos.at[self.root_qpos + 3 : self.root_qpos + 7].set(quat)
        model = self._model(sys)
        # No forward pass here: observations read qpos/qvel, and the first step
        # runs the full pipeline anyway (keeps physics out of the reset's compile).
        data = mjx.make_data(model).replace(qpos=qpos, ctrl=jnp.asarray(self.home_joints))

        delay = jax.random.randint(key_delay, (), self.delay_range[0], self.delay_range[1] + 1)
        lo, hi = self.dr.push_interval_seconds
        push_steps = jax.random.uniform(key_push, (), F32, lo, hi) / self.ctrl_dt
        zeros_n = jnp.zeros((self.nu,), F32)
        info = {
            "rng": key,
            "step": jnp.zeros((), jnp.int32),
            "truncation": F32(0.0),
            "sys": sys,
            "command": self._sample_command(key_cmd) if command is None else command,
            "command_fixed": jnp.asarray(command is not None),
            "last_action": zeros_n,
            "action_buffer": jnp.zeros((self.delay_range[1] + 1, self.nu), F32),
            "delay": delay,
            "phase": jax.random.uniform(key_phase, (), F32, 0.0, 2 * jnp.pi),
            "feet_air_time": jnp.zeros((len(self.feet),), F32),
            "feet_contact": jnp.ones((len(self.feet),), F32),
            "push_countdown": push_steps.astype(jnp.int32),
            "obs_history": jnp.zeros((self.history, self.frame_size), F32),
            "yaw_rate_avg": F32(0.0),
        }
        # the first frame fills the whole history
        obs, info = self._observe(self._sensors(data), info, key_obs)
        frame = info["obs_history"][0]
        info["obs_history"] = jnp.broadcast_to(frame, info["obs_history"].shape)
        obs = {**obs, "state": info["obs_history"].reshape(-1)}
        metrics = {f"reward/{k}": F32(0.0) for k in self.reward_terms}
        metrics.update({k: F32(0.0) for k in self.metric_names})
        return State(data=data, obs=obs, reward=F32(0.0), done=F32(0.0), metrics=metrics, info=info)

    def step(self, state: State, action: jax.Array) -> State:
        info = dict(state.info)
        key, key_cmd, key_push, key_push_t, key_obs = jax.random.split(info["rng"], 5)
        action = jnp.clip(action, -1.0, 1.0).astype(F32)
        buffer = jnp.concatenate([action[None], info["action_buffer"][:-1]], axis=0)
        applied = buffer[info["delay"]]
        target = jnp.clip(
            self.home_joints + applied * self.action_scale, self.ctrl_range[:, 0], self.ctrl_range[:, 1]
        )
        model = self._model(info["sys"])
        data = state.data.replace(ctrl=target)

        # random push: a horizontal kick to the root velocity
        push_now = info["push_countdown"] <= 0
        if self.dr.enabled and float(self.dr.push_velocity) > 0:
            angle = jax.random.uniform(key_push, (), F32, 0.0, 2 * jnp.pi)
            kick = float(self.dr.push_velocity) * jnp.array([jnp.cos(angle), jnp.sin(angle)])
            qvel = data.qvel.at[self.root_dof : self.root_dof + 2].add(jnp.where(push_now, kick, 0.0))
            data = data.replace(qvel=qvel)
        lo, hi = self.dr.push_interval_seconds
        next_push = (jax.random.uniform(key_push_t, (), F32, lo, hi) / self.ctrl_dt).astype(jnp.int32)
        info["push_countdown"] = jnp.where(push_now, next_push, info["push_countdown"] - 1)

        data = jax.lax.fori_loop(0, self.n_substeps, lambda _, d: mjx.step(model, d), data)
        info["action_buffer"] = buffer
        info["rng"] = key
        return self.after_physics(info, data, action, key_cmd, key_obs)

    def after_physics(self, info: dict, data, action: jax.Array, key_cmd: jax.Array,
                      key_obs: jax.Array) -> State:
        """Everything of a control step after physics: command, gait clock, contacts,
        termination, rewards, observation (`info` already holds the new rng and action buffer).

        Split out so that sim2sim scores a plain-MuJoCo state (its MjData fields copied
        into an MJX Data) with the same reward and termination code as training.
        """
        info = dict(info)
        step = info["step"] + 1
        resample = ((step % self.resample_steps) == 0) & ~info["command_fixed"]
        info["command"] = jnp.where(resample, self._sample_command(key_cmd), info["command"])
        phase = info["phase"] + 2 * jnp.pi * self.gait_frequency * self.ctrl_dt
        info["phase"] = jnp.mod(phase, 2 * jnp.pi)
        contact = self._feet_contact(data)
        first_contact = (info["feet_air_time"] > 0) * contact
        air_time = info["feet_air_time"] + self.ctrl_dt

        sensors = self._sensors(data)
        tilt = jnp.arccos(jnp.clip(-sensors["gravity"][2], -1.0, 1.0))
        terminated = (sensors["height"] < self.min_height) | (tilt > self.max_tilt)
        terminated = terminated.astype(F32)

        cmd = info["command"]
        yaw_avg = info["yaw_rate_avg"] + self.yaw_average_alpha * (
            sensors["yaw_rate"] - info["yaw_rate_avg"])
        info["yaw_rate_avg"] = yaw_avg
        moving = (jnp.linalg.norm(cmd) > 0.05).astype(F32)
        feet_vel = self._feet_velocity(data)[:, :2]  # [nf, 2] m/s
        feet_speed = jnp.linalg.norm(feet_vel, axis=-1)  # [nf] m/s
        # swing-height profile of the gait clock: each foot lifts on its half of the
        # cycle (h * sin of its phase) and stays down on the other half
        feet_phase = info["phase"] + self.feet_phase_offset  # [nf] rad
        lift_target = self.swing_height * jnp.maximum(jnp.sin(feet_phase), 0.0)
        lift = data.xpos[self.feet, 2] - self.home_feet_z  # [nf] m above the standing height
        lift_err = jnp.sum(jnp.square(lift - lift_target))
        action_rate = jnp.sum(jnp.square(action - info["last_action"]))
        quantities = rewards.StepQuantities(
            sensors=sensors, command=cmd, yaw_rate_avg=yaw_avg, moving=moving,
            action_rate=action_rate, joint_pos=data.qpos[self.qpos_idx],
            actuator_force=data.actuator_force, contact=contact, first_contact=first_contact,
            air_time=air_time, feet_speed=feet_speed, lift_err=lift_err, terminated=terminated)
        weighted = {name: self.weights.get(name, 0.0) * term(self, quantities).astype(F32)
                    for name, term in rewards.REWARD_TERMS.items()}
        reward = sum(weighted.values())

        info["feet_air_time"] = air_time * (1.0 - contact)
        info["feet_contact"] = contact
        info["last_action"] = action
        info["step"] = step
        truncation = ((step >= self.episode_length) & (terminated < 0.5)).astype(F32)
        info["truncation"] = truncation
        obs, info = self._observe(sensors, info, key_obs)
        metrics = {f"reward/{k}": v for k, v in weighted.items()}
        metrics.update({
            "vx": sensors["linvel"][0],
            "vx_error": jnp.abs(cmd[0] - sensors["linvel"][0]),
            "vy_error": jnp.abs(cmd[1] - sensors["linvel"][1]),
            "yaw_rate": sensors["yaw_rate"],
            "yaw_rate_error": jnp.abs(cmd[2] - sensors["yaw_rate"]),
            "base_height": sensors["height"],
            # mean horizontal speed of the feet that touch the floor, m/s
            "foot_slip": jnp.sum(contact * feet_speed) / jnp.maximum(jnp.sum(contact), 1.0),
            "action_rate": action_rate,
        })
        done = jnp.maximum(terminated, truncation)
        return State(data=data, obs=obs, reward=reward.astype(F32), done=done, metrics=metrics, info=info)

    # --- deploy contract ---------------------------------------------------------
    def policy_spec(self) -> dict[str, Any]:
        layout, start = [], 0
        definitions = {
            "gyro": f"IMU angular velocity in the {self.imu_frame}, rad/s",
            "gravity": f"unit gravity vector in the {self.imu_frame}",
            "joint_pos": "joint position minus default_pose, rad, actuator order",
            "joint_vel": "joint velocity, rad/s, actuator order",
            "last_action": "previous policy output in [-1, 1], before action_scale and delay",
            "command": "[vx m/s, vy m/s, yaw_rate rad/s] in the heading frame",
            "phase": "[sin, cos] of the gait clock phase, advancing 2*pi*gait_frequency rad/s",
        }
        for name, size in self.frame_layout:
            layout.append({
                "name": name, "start": start, "size": size, "scale": 1.0,
                "noise": self.noise.get(name, 0.0) * self.noise_scale,
                "definition": definitions[name],
            })
            start += size
        return {
            "robot_xml": str(self.xml_path),
            "robot_xml_sha256": file_sha256(self.xml_path),
            "observation": {
                "frame": layout,
                "frame_size": self.frame_size,
                "history": self.history,
                "history_order": "newest frame first; at reset every slot holds the first frame",
                "size": self.observation_size["state"],
                "noise_free_definition": "the frame fields above without the uniform noise",
                "gait_frequency_hz": self.gait_frequency if self.gait_enabled else None,
            },
            "action": {
                "size": self.action_size,
                "scale": self.action_scale,
                "meaning": "joint position target = default_pose + action * scale, clipped to ctrl_range",
                "ctrl_range": self.ctrl_range.tolist(),
                "delay_steps_trained": list(self.delay_range),
            },
            "last_action": "the policy's previous output in [-1, 1] (zeros at start)",
            "default_pose": self.home_joints.tolist(),
            "joint_names": list(self.joint_names),
            "actuator_names": list(self.actuator_names),
            "ctrl_dt": self.ctrl_dt,
            "sim_dt": self.sim_dt,
        }


def make_locomotion_env(cfg) -> LocomotionEnv:
    """Registry factory for `humanoid_walk` (and any robot under `env.robot`); a body, site,
    joint or keyframe name not in the model is a one-line ConfigError."""
    from playground.config import ConfigError
    from playground.sysid.fitted import FittedModelError

    try:
        return LocomotionEnv(cfg)
    except FittedModelError as e:  # env.robot.sysid made for another model
        raise ConfigError(f"env.robot.sysid: {e}") from None
    except KeyError as e:  # mujoco: a name not in the model
        message = e.args[0] if e.args else e
        raise ConfigError(f"env.robot ({cfg.env.robot.xml}): {message}") from None
