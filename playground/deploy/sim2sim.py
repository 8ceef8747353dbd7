"""A served policy drives the robot in plain MuJoCo (the library of `playground/sim2sim.py`,
whose help describes the readings, latency and what is printed)."""

from __future__ import annotations

import dataclasses
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]


class Sim2SimError(ValueError):
    """Bad input for sim2sim; the message is one line."""


class MujocoRobot:
    """The robot in plain MuJoCo, read through the sensors the spec names.

    `readings()` gives `gyro`, `gravity`, raw `joint_pos` and `joint_vel` (the
    ObservationBuilder subtracts the default pose); call it after `forward()`.
    """

    def __init__(self, xml_path: str | pathlib.Path, spec: dict, imu_site: str | None,
                 root_body: str | None = None):
        import mujoco

        self.mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_path(str(xml_path))
        self.model.opt.timestep = float(spec["sim_dt"])
        self.data = mujoco.MjData(self.model)
        m = self.model
        # env.robot.imu_site null: the IMU frame is the root body's frame (as in the env)
        self.imu_type = mujoco.mjtObj.mjOBJ_SITE if imu_site else mujoco.mjtObj.mjOBJ_BODY
        self.imu = m.site(imu_site).id if imu_site else m.body(root_body).id
        joints = [m.joint(name) for name in spec["joint_names"]]
        self.qpos_idx = np.array([int(j.qposadr[0]) for j in joints])
        self.qvel_idx = np.array([int(j.dofadr[0]) for j in joints])
        # actuators in spec order (ctrl is written by name, never by position)
        self.act_idx = np.array([m.actuator(name).id for name in spec["actuator_names"]])
        self.kp = np.array(m.actuator_gainprm[self.act_idx, 0])
        self.n_substeps = int(round(float(spec["ctrl_dt"]) / float(spec["sim_dt"])))
        self._vel = np.zeros(6)

    def set_state(self, qpos, qvel=None, ctrl=None) -> None:
        d = self.data
        self.mujoco.mj_resetData(self.model, d)
        d.qpos[:] = qpos
        d.qvel[:] = 0.0 if qvel is None else qvel
        if ctrl is not None:
            d.ctrl[self.act_idx] = ctrl
        self.forward()

    def forward(self) -> None:
        """Kinematics and velocities of the current qpos/qvel (what the sensors read)."""
        self.mujoco.mj_forward(self.model, self.data)

    def apply(self, targets: np.ndarray, kp_scale: float = 1.0) -> None:
        """Joint position targets (spec order); kp_scale < 1 fades the position gain (both
        gainprm[0] and biasprm[1] of a position actuator)."""
        m = self.model
        m.actuator_gainprm[self.act_idx, 0] = self.kp * kp_scale
        m.actuator_biasprm[self.act_idx, 1] = -self.kp * kp_scale
        self.data.ctrl[self.act_idx] = targets

    def physics_step(self) -> None:
        self.mujoco.mj_step(self.model, self.data)

    def readings(self) -> dict[str, np.ndarray]:
        d = self.data
        site = self.imu_type == self.mujoco.mjtObj.mjOBJ_SITE
        rot = (d.site_xmat if site else d.xmat)[self.imu].reshape(3, 3)  # IMU frame -> world
        # [angular, linear] velocity of the IMU frame, in that frame
        self.mujoco.mj_objectVelocity(self.model, d, self.imu_type, self.imu, self._vel, 1)
        return {
            "gyro": self._vel[:3].copy(),
            "gravity": rot.T @ np.array([0.0, 0.0, -1.0]),
            "joint_pos": d.qpos[self.qpos_idx].copy(),
            "joint_vel": d.qvel[self.qvel_idx].copy(),
        }

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.data.qpos)) and np.all(np.isfinite(self.data.qvel)))


def _physics_fields(robot: MujocoRobot, n_contacts: int) -> dict[str, np.ndarray]:
    """The MjData fields the env's after_physics reads, shaped like an MJX Data's.

    Taken right after mj_step, as after mjx.step: qpos/qvel integrated, positions,
    velocities, forces and contacts from the start of that physics step.
    """
    d = robot.data
    f32 = np.float32
    fields = {k: np.asarray(getattr(d, k), f32) for k in
              ("qpos", "qvel", "xpos", "cvel", "subtree_com", "actuator_force", "ctrl")}
    dist = np.ones(n_contacts, f32)  # padding: 1 m apart, never touching
    geom1 = np.full(n_contacts, -1, np.int32)
    geom2 = np.full(n_contacts, -1, np.int32)
    ncon = int(d.ncon)
    if ncon:
        order = np.argsort(d.contact.dist[:ncon])[:n_contacts]  # the closest, if C found more
        dist[:len(order)] = d.contact.dist[order]
        geom1[:len(order)] = d.contact.geom1[order]
        geom2[:len(order)] = d.contact.geom2[order]
    fields["contact"] = {"dist": dist, "geom1": geom1, "geom2": geom2}
    return fields


def make_scorer(env):
    """jit(info, fields, action) -> the env's State after that control step (rewards, done, info).

    The same split of the rng as env.step, so command resampling follows the same keys.
    """
    import jax

    from playground.tasks.mjx_compat import mjx

    template = mjx.make_data(env.mjx_model)

    def score(info, fields, action):
        fields = dict(fields)
        contact = template._impl.contact.replace(**fields.pop("contact"))
        data = template.replace(**fields, _impl=template._impl.replace(contact=contact))
        key, key_cmd, _, _, key_obs = jax.random.split(info["rng"], 5)
        return env.after_physics({**info, "rng": key}, data, action, key_cmd, key_obs)

    return jax.jit(score), int(template._impl.contact.dist.shape[0])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_local_server(bundle: pathlib.Path, log) -> tuple[subprocess.Popen, str]:
    """`python -m playground.serve --bundle DIR` on a free loopback port."""
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "playground.serve", "--bundle", str(bundle.resolve()), "--bind", endpoint],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    log(f"started a policy server for {bundle} at {endpoint} (pid {proc.pid})")
    return proc, endpoint


def fetch_spec(endpoint: str, proc: subprocess.Popen | None, wait_s: float = 30.0) -> dict:
    """Ask the server for its spec (info request), waiting for a local server to come up."""
    import zmq

    from playground.serve.client import PolicyClient

    try:
        probe = PolicyClient(endpoint, "", timeout_s=0.5)
    except zmq.ZMQError as e:
        raise Sim2SimError(f"--server {endpoint}: {e} (expected e.g. tcp://127.0.0.1:5555)") from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            info = probe.call("info", timeout_s=0.5)
            if info is not None and info.get("ok") and isinstance(info.get("spec"), dict):
                return info["spec"]
            if proc is not None and proc.poll() is not None:
                message = (proc.stderr.read() or "").strip().splitlines()
                raise Sim2SimError(f"the policy server exited: {message[-1] if message else proc.returncode}")
            if time.monotonic() > deadline:
                raise Sim2SimError(f"no policy server answers at {endpoint} (waited {wait_s:.0f} s)")
    finally:
        probe.close()


@dataclasses.dataclass
class EpisodeLog:
    """Per-control-step rows of one episode, in `episodes.Rollout` terms (observations not kept)."""

    actions: list = dataclasses.field(default_factory=list)
    joint_targets: list = dataclasses.field(default_factory=list)
    qpos: list = dataclasses.field(default_factory=list)
    reward: list = dataclasses.field(default_factory=list)
    done: list = dataclasses.field(default_factory=list)
    truncation: list = dataclasses.field(default_factory=list)
    metrics: dict = dataclasses.field(default_factory=dict)


def to_rollout(logs: list[EpisodeLog]):
    """Episodes of different lengths -> episodes.Rollout [T, N, ...] (each padded with its last row)."""
    from playground.episodes import Rollout

    T = max(len(log.reward) for log in logs)

    def stack(rows: list) -> np.ndarray:
        rows = list(rows) + [rows[-1]] * (T - len(rows))
        return np.stack([np.asarray(r) for r in rows])

    fields = {k: np.stack([stack(getattr(log, k)) for log in logs], axis=1)
              for k in ("actions", "joint_targets", "qpos", "reward", "done", "truncation")}
    metrics = {k: np.stack([stack(log.metrics[k]) for log in logs], axis=1) for k in logs[0].metrics}
    return Rollout(obs=np.zeros((T, len(logs), 0), np.float32), **fields, metrics=metrics)


def run_episode(robot: MujocoRobot, env, state0, controller, score, n_contacts: int, steps: int,
                latency_steps: int) -> EpisodeLog:
    """One episode from the env's reset state `state0`, until done or `steps` control steps."""
    import jax

    log = EpisodeLog()
    info = jax.device_get(state0.info)
    robot.set_state(np.asarray(state0.data.qpos), ctrl=np.asarray(env.home_joints))
    readings = {**robot.readings(), "command": np.asarray(info["command"])}
    # observation (history filled, gait clock at the env's phase) -> server -> safety filter
    command = controller.start(readings, readings["joint_pos"], phase=float(info["phase"]))
    pending: list[tuple[int, np.ndarray, float]] = []  # (physics step to apply at, targets, kp_scale)
    physics_step = 0
    for _ in range(steps):
        pending.append((physics_step + latency_steps, command.targets, command.kp_scale))
        for _ in range(robot.n_substeps):
            while pending and pending[0][0] <= physics_step:
                _, targets, kp_scale = pending.pop(0)
                robot.apply(targets, kp_scale)
            robot.physics_step()
            physics_step += 1
        finite = robot.finite()
        # the env scores the policy's output (the last one it gave when a reply was missing)
        policy_action = controller.builder.last_action.copy()
        state = score(info, _physics_fields(robot, n_contacts), policy_action)
        info = state.info
        host = jax.device_get({"reward": state.reward, "done": state.done,
                               "truncation": info["truncation"], "metrics": state.metrics,
                               "command": info["command"]})
        done = float(host["done"]) if finite else 1.0
        log.actions.append(policy_action)
        log.joint_targets.append(np.asarray(robot.data.ctrl[robot.act_idx], np.float32))
        log.qpos.append(np.asarray(robot.data.qpos, np.float32))
        log.reward.append(float(host["reward"]) if finite else 0.0)
        log.done.append(done)
        log.truncation.append(float(host["truncation"]) if finite else 0.0)
        for k, v in host["metrics"].items():
            log.metrics.setdefault(k, []).append(float(v) if finite else 0.0)
        if done > 0.5:
            break
        robot.forward()
        command = controller.step({**robot.readings(), "command": np.asarray(host["command"])})
    return log


def build_env(spec: dict, args):
    """The env of the policy's training config, randomization off; its contract must be the spec's."""
    from playground import config, policy

    config_path = args.config
    if (config_path is None and args.bundle is not None
            and (args.bundle / policy.BUNDLE_CONFIG_NAME).is_file()):
        config_path = args.bundle / policy.BUNDLE_CONFIG_NAME
    overrides = [("env.task", spec["task"]), ("domain_randomization.enabled", False)]
    cfg = (config.resolve(None, overrides) if config_path is None
           else policy.config_file(config_path, overrides))
    env = policy.make_env(cfg)
    if not hasattr(env, "after_physics"):
        raise Sim2SimError(f"task {spec['task']!r} is not a legged-robot task; sim2sim drives those")
    env_spec = env.policy_spec()
    policy.check_contract(env_spec, spec, f"the server's policy (config {config_path or 'of the task'})")
    if env_spec["robot_xml_sha256"] != spec.get("robot_xml_sha256"):
        raise Sim2SimError(f"{env.xml_path}: not the robot MJCF the policy was trained on (sha256 differs)")
    return cfg, env


def sim2sim(args, log=print) -> dict:
    """Serve (or reach) the policy, run the episodes in MuJoCo, print lines; the summary dict."""
    proc, endpoint = (None, args.server)
    if args.bundle is not None:
        proc, endpoint = start_local_server(args.bundle, log)
    try:
        return _sim2sim(args, endpoint, proc, log)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _sim2sim(args, endpoint: str, proc, log) -> dict:
    spec = fetch_spec(endpoint, proc, wait_s=10.0 if proc is None else 60.0)
    if "observation" not in spec or "default_pose" not in spec:
        raise Sim2SimError(f"{endpoint} serves a policy of task {spec.get('task')!r}, not a legged robot")
    cfg, env = build_env(spec, args)

    import jax

    from playground.compile_cache import configure_jax
    from playground.episodes import episode_line, summarize, summary_metrics, write_video
    from playground.serve.client import PolicyClient, PolicyController, SafetyFilter
    from playground.serve.observation import ObservationBuilder
    from playground.serve.recorder import LogRecorder

    configure_jax(cfg)
    ctrl_dt, sim_dt = float(spec["ctrl_dt"]), float(spec["sim_dt"])
    timeout_s = ctrl_dt if args.timeout_ms is None else args.timeout_ms / 1000.0
    client = PolicyClient(endpoint, spec, timeout_s=timeout_s)
    client.check()
    # soft start and rate limit off: with prompt replies the targets are the env's own
    safety = SafetyFilter(spec, max_velocity=np.inf, soft_start_s=0.0)
    controller = PolicyController(client, ObservationBuilder(spec), safety)
    robot = MujocoRobot(env.xml_path, spec, cfg.env.robot.imu_site, cfg.env.robot.root_body)
    score, n_contacts = make_scorer(env)
    latency_steps = int(round(args.latency_ms / 1000.0 / sim_dt))
    steps = min(int(args.steps or env.episode_length), int(env.episode_length))
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.episodes)  # as play.py draws them
    if args.command is None:
        reset = jax.jit(env.reset)
    else:
        command = np.asarray(args.command, np.float32)
        reset = jax.jit(lambda key: env.reset_with_command(key, command))
    log(f"sim2sim {spec['task']}: {args.episodes} episodes x up to {steps} steps in MuJoCo "
        f"{robot.mujoco.__version__} at sim_dt {sim_dt * 1000:g} ms, server {endpoint}, latency "
        f"{latency_steps * sim_dt * 1000:g} ms, deadline {timeout_s * 1000:g} ms, "
        f"command {args.command or 'sampled by the task'}, seed {args.seed}")
    # compile the scorer before the clock starts (a reset state scored once, thrown away)
    state0 = reset(keys[0])
    robot.set_state(np.asarray(state0.data.qpos), ctrl=np.asarray(env.home_joints))
    jax.block_until_ready(score(state0.info, _physics_fields(robot, n_contacts),
                                np.zeros(robot.act_idx.size, np.float32)).reward)
    t0 = time.monotonic()
    logs, step_times = [], []
    metrics = summary_metrics(env)
    from playground.tasks.base import success_mode

    success = success_mode(env)
    for i in range(args.episodes):
        # episode 0's joint log, on the simulator's clock
        controller.recorder = (LogRecorder.for_spec(spec, clock=lambda: float(robot.data.time))
                               if args.record_log and i == 0 else None)
        before = dict(client.counters)
        t_ep = time.perf_counter()
        episode = run_episode(robot, env, reset(keys[i]), controller, score, n_contacts, steps,
                              latency_steps)
        step_times.append((time.perf_counter() - t_ep) / len(episode.reward))
        logs.append(episode)
        if controller.recorder is not None:
            controller.recorder.save(args.record_log)
            log(f"joint log {args.record_log}: {len(controller.recorder)} rows")
        missed = sum(client.counters[k] - before[k] for k in ("timeouts", "unreachable"))
        (row,), _ = summarize(to_rollout([episode]), metrics, success)
        log(f"{episode_line({**row, 'episode': i})}  missed {missed}  "
            f"({time.monotonic() - t0:.0f}s)")
    rows, summary = summarize(to_rollout(logs), metrics, success)
    if args.video:
        length = len(logs[0].qpos)
        info = write_video(args.video, env, np.stack(logs[0].qpos)[:length], args.video_hw)
        log(f"video {info['path']}: {info['frames']} frames at {info['fps']:.0f} fps")
    client.close()
    counters, safety_counts = client.counters, safety.counters
    return {
        "task": spec["task"], "server": endpoint, "command": list(args.command) if args.command else None,
        "seed": args.seed, "steps": steps, "latency_ms": latency_steps * sim_dt * 1000,
        "deadline_ms": timeout_s * 1000, **summary,
        "falls": sum(not r["survived"] for r in rows),
        "missed_deadlines": counters["timeouts"] + counters["unreachable"],
        "server_errors": counters["errors"],
        "holds": safety_counts["holds"], "fallbacks": safety_counts["fallbacks"],
        "requests": counters["requests"],
        "control_step_ms": round(1000 * float(np.mean(step_times)), 3),
        "wall_time_s": round(time.monotonic() - t0, 1),
    }
