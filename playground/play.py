"""Play a policy in its MJX env: per-episode lines, one JSON summary, optional video and recording.

    python playground/play.py humanoid_walk --agent zero --episodes 8
    python playground/play.py humanoid_walk --agent trained --checkpoint PATH \\
        --episodes 16 --command 0.3,0,0 [--video out.mp4] [--record out.npz] [--seed S]

PATH is a training checkpoint (a run directory, its `checkpoints/` directory, one step
directory, or `latest`) or an exported bundle directory (policy.npz + policy_spec.json,
written by `playground/export.py`; its config.yaml, or `--config`, rebuilds the env, and
the env's deploy contract must equal the bundle's). `--agent zero|random` give the floors:
zero holds the default pose, random draws uniform actions in [-1, 1].

A trained policy acts with its mode (the deterministic action that export and the robot
run). `--stochastic` (checkpoints only) samples each action from the policy's
distribution instead, as the trainer's rollouts do and as brax's `ppo.train` evaluates by
default (`deterministic_eval=False`, which MuJoCo Playground's pipeline keeps); the
samples are drawn from `--seed`, so a run repeats exactly.

Episodes run side by side (one vmapped env step per control step) with the task's own
randomization, observation noise, action latency and pushes, exactly as in training;
`--command VX,VY,YAW` holds one velocity command for the whole episode instead of the
task's resampled commands. An episode ends at its first `done` (fall or time limit).

The last stdout line is one JSON object: survival_rate (fraction of episodes that never
terminated), mean_episode_length, mean_return, and, averaged over each episode's alive
steps then over episodes (as the trainer's eval/* metrics are): vx_error (|commanded -
actual| forward speed of the root in the heading frame, m/s, per control step), vx_mean,
yaw_rate_error (rad/s), yaw_rate_mean (the world yaw rate reached, rad/s), foot_slip
(mean horizontal speed of feet in contact, m/s), action_rate (sum over joints of the
squared action change per step), and reward_terms (each weighted reward term per step).

`--video` renders episode 0 with MuJoCo's offscreen renderer (the CLI sets MUJOCO_GL=egl
when unset; `MUJOCO_GL=osmesa` works too) and writes an mp4. `--record` writes an npz with
observations, actions, joint_targets, qpos, qvel (each [episodes, steps, ...]), lengths, rewards,
ctrl_dt, command and joint_names.

Exit codes: 0 played, 2 bad input (unknown task, missing checkpoint, bad --command, ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

AGENTS = ("zero", "random", "trained")
#: Parts of the deploy contract that must agree between a bundle and the env that plays it.
CONTRACT_KEYS = ("observation", "action", "default_pose", "joint_names", "ctrl_dt")


class PlayError(ValueError):
    """Bad input for play; the message is one line."""


# --------------------------------------------------------------------------- arguments


def parse_command(text: str) -> tuple[float, float, float]:
    """'VX,VY,YAW' -> three floats (m/s, m/s, rad/s); PlayError otherwise."""
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(np.isfinite(values)):
        raise PlayError(f"--command {text!r}: expected three numbers VX,VY,YAW (e.g. 0.3,0,0)")
    return values  # type: ignore[return-value]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr and exit 2, like every other bad input
        raise PlayError(message)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(
        prog="play.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("task", help="task name (e.g. humanoid_walk)")
    p.add_argument("--agent", choices=AGENTS, default="trained")
    p.add_argument("--checkpoint", help="checkpoint (run dir, step dir, 'latest') or bundle dir")
    p.add_argument("--config", help="YAML for the env (zero/random agents, or a bundle without "
                   "config.yaml); default: the task's own YAML")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for the env (zero/random agents and bundles)")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--steps", type=int, default=None,
                   help="control steps per episode at most (default: the task's episode_length)")
    p.add_argument("--command", default=None, metavar="VX,VY,YAW",
                   help="hold this velocity command (default: the task's random commands)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stochastic", action="store_true",
                   help="sample actions from the policy's distribution (checkpoints only)")
    p.add_argument("--video", type=pathlib.Path, help="write episode 0 as an mp4")
    p.add_argument("--video-size", default="480x640", metavar="HxW")
    p.add_argument("--record", type=pathlib.Path, help="write an npz of the episodes")
    p.add_argument("--checkpoint-dir", default="checkpoints", help="where 'latest' looks")
    args = p.parse_args(argv)
    if args.command is not None:
        args.command = parse_command(args.command)
    if args.episodes < 1:
        raise PlayError(f"--episodes {args.episodes}: must be >= 1")
    if args.steps is not None and args.steps < 1:
        raise PlayError(f"--steps {args.steps}: must be >= 1")
    if args.agent == "trained" and not args.checkpoint:
        raise PlayError("--agent trained needs --checkpoint PATH")
    if args.agent != "trained" and args.checkpoint:
        raise PlayError(f"--checkpoint is only for --agent trained (got --agent {args.agent})")
    if args.stochastic and args.agent != "trained":
        raise PlayError(f"--stochastic is only for --agent trained (got --agent {args.agent})")
    try:
        height, width = (int(x) for x in args.video_size.lower().split("x"))
    except ValueError:
        raise PlayError(f"--video-size {args.video_size!r}: expected HxW, e.g. 480x640") from None
    args.video_hw = (height, width)
    for path, suffix in ((args.video, ".mp4"), (args.record, ".npz")):
        if path is not None and path.suffix != suffix:
            raise PlayError(f"{path}: expected a {suffix} file name")
    return args


# --------------------------------------------------------------------------- agents


@dataclasses.dataclass
class Agent:
    """An env built for the agent, and its batched policy obs -> actions [N, a] in [-1, 1]."""

    cfg: Any
    env: Any
    act: Callable[[dict, np.random.Generator], np.ndarray]
    source: str


def _env_from_config(task: str, config_path, overrides: list[str]):
    from playground import config
    from playground.tasks.registry import get_task

    pairs = [("env.task", task)]
    for text in overrides:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise PlayError(f"--set {text!r}: expected KEY=VALUE")
        pairs.append((key.strip(), raw))
    cfg = config.resolve(config_path, pairs)
    return cfg, get_task(cfg.env.task).make_env(cfg)


def _is_bundle(path: pathlib.Path) -> bool:
    from playground.serve import bundle as bundle_lib

    return (path / bundle_lib.SPEC_NAME).is_file()


def _check_contract(env_spec: dict, spec: dict, source: str) -> None:
    """The env must produce the observations and read the actions the policy was trained on."""
    for key in CONTRACT_KEYS:
        if json.dumps(env_spec.get(key), sort_keys=True) != json.dumps(spec.get(key), sort_keys=True):
            raise PlayError(f"{source}: the env's {key!r} differs from the policy's deploy contract "
                            "(pass the config it was trained with: --config)")


def _bundle_agent(task: str, path: pathlib.Path, args) -> Agent:
    if args.stochastic:
        raise PlayError(f"{path}: --stochastic needs a training checkpoint; a bundle holds the "
                        "deterministic policy only")
    from playground.serve import bundle as bundle_lib

    bundle = bundle_lib.Bundle(path)
    policy = bundle_lib.make_policy(bundle, "numpy")
    config_path = args.config or (path / "config.yaml")
    if not pathlib.Path(config_path).is_file():
        raise PlayError(f"{path}: bundle without config.yaml; pass the training config with --config")
    cfg, env = _env_from_config(task, config_path, args.overrides)
    _check_contract(env.policy_spec(), bundle.spec, str(path))
    return Agent(cfg, env, lambda obs, rng: policy.batch(np.asarray(obs["state"])),
                 f"bundle {path}")


def _checkpoint_agent(task: str, path: str, args) -> Agent:
    from playground import runs

    if args.config:
        raise PlayError("--config is for bundles and floors: a checkpoint carries its config")
    steps_dir, step = runs.find_step(path, args.checkpoint_dir)  # fails fast, before jax loads
    import jax

    from playground import runner

    loaded = runner.load_checkpoint(str(steps_dir / str(step)))
    if loaded.cfg.env.task != task:
        raise PlayError(f"{path}: checkpoint of task {loaded.cfg.env.task!r}, not {task!r}")
    normalizer, params = loaded.carry.normalizer, loaded.policy_params
    fns = loaded.run.fns
    squash = loaded.spec["network"]["squash"]
    if args.stochastic:
        sample = jax.jit(lambda obs, key: fns.algorithm.stochastic_policy(normalizer, params, obs, key))
        keys = {"next": jax.random.PRNGKey(args.seed)}

        def policy(obs):
            keys["next"], key = jax.random.split(keys["next"])
            return sample(obs, key)
    else:
        policy = jax.jit(lambda obs: fns.algorithm.deterministic_policy(normalizer, params, obs))

    def act(obs, rng):
        action = np.asarray(policy(obs))
        return action if squash == "tanh" else np.clip(action, -1.0, 1.0)

    kind = "stochastic" if args.stochastic else "deterministic"
    return Agent(loaded.cfg, loaded.run.env, act,
                 f"checkpoint {steps_dir / str(step)} ({kind} policy)")


def make_agent(args) -> Agent:
    if args.agent == "trained":
        path = pathlib.Path(os.path.expanduser(args.checkpoint))
        if path.is_dir() and _is_bundle(path):
            return _bundle_agent(args.task, path, args)
        return _checkpoint_agent(args.task, args.checkpoint, args)
    cfg, env = _env_from_config(args.task, args.config, args.overrides)
    n = env.action_size
    if args.agent == "zero":
        act = lambda obs, rng: np.zeros((len(obs["state"]), n), np.float32)  # noqa: E731
    else:
        act = lambda obs, rng: rng.uniform(-1.0, 1.0, (len(obs["state"]), n)).astype(np.float32)  # noqa: E731
    return Agent(cfg, env, act, f"{args.agent} actions")


# --------------------------------------------------------------------------- rollout


@dataclasses.dataclass
class Rollout:
    """Per-step arrays [T, N, ...] of N episodes side by side (steps past an episode's end included)."""

    obs: np.ndarray  # [T, N, obs] what the actor saw before acting
    actions: np.ndarray  # [T, N, a] policy outputs in [-1, 1]
    joint_targets: np.ndarray  # [T, N, nu] the ctrl applied in that step (delay, scale, clip)
    qpos: np.ndarray  # [T, N, nq] after the step
    reward: np.ndarray  # [T, N]
    done: np.ndarray  # [T, N]
    truncation: np.ndarray  # [T, N]
    metrics: dict[str, np.ndarray]  # name -> [T, N]
    qvel: np.ndarray | None = None  # [T, N, nv] after the step (None: not recorded)


def run_episodes(env, act, episodes: int, steps: int, seed: int, command=None,
                 progress: Callable[[int], None] | None = None) -> Rollout:
    """Run `episodes` episodes of at most `steps` control steps; no auto-reset."""
    import jax

    from playground.tasks import wrappers

    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    if command is None:
        state = jax.jit(jax.vmap(env.reset))(keys)
    else:
        if not hasattr(env, "reset_with_command"):
            raise PlayError("this task takes no velocity command (drop --command)")
        cmd = np.broadcast_to(np.asarray(command, np.float32), (episodes, 3))
        state = jax.jit(jax.vmap(env.reset_with_command))(keys, cmd)
    step = jax.jit(lambda s, a: wrappers.step_batch(env, s, a))
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {k: [] for k in ("obs", "actions", "joint_targets", "qpos", "qvel",
                                             "reward", "done", "truncation")}
    metrics: dict[str, list] = {}
    for t in range(steps):
        obs_np = {k: np.asarray(v) for k, v in state.obs.items()}
        action = np.asarray(act(obs_np, rng), np.float32)
        state = step(state, action)
        host = jax.device_get({"ctrl": state.data.ctrl, "qpos": state.data.qpos,
                               "qvel": state.data.qvel,
                               "reward": state.reward, "done": state.done,
                               "truncation": state.info["truncation"], "metrics": state.metrics})
        out["obs"].append(obs_np["state"])
        out["actions"].append(action)
        out["joint_targets"].append(host["ctrl"])
        for k in ("qpos", "qvel", "reward", "done", "truncation"):
            out[k].append(host[k])
        for k, v in host["metrics"].items():
            metrics.setdefault(k, []).append(v)
        if progress:
            progress(t + 1)
        if np.all(np.any(np.stack(out["done"]) > 0.5, axis=0)):
            break  # every episode has ended
    return Rollout(**{k: np.stack(v) for k, v in out.items()},
                   metrics={k: np.stack(v) for k, v in metrics.items()})


def episode_lengths(done: np.ndarray) -> np.ndarray:
    """[T, N] done flags -> [N] steps up to and including the first done (T if none)."""
    ended = done > 0.5
    first = np.argmax(ended, axis=0)
    return np.where(ended.any(axis=0), first + 1, done.shape[0])


def summarize(roll: Rollout) -> tuple[list[dict], dict]:
    """Per-episode rows and the aggregate (means over each episode's alive steps, then episodes)."""
    T, N = roll.reward.shape
    lengths = episode_lengths(roll.done)
    alive = (np.arange(T)[:, None] < lengths[None, :]).astype(np.float64)  # [T, N]
    last = lengths - 1
    terminated = (roll.done[last, np.arange(N)] > 0.5) & (roll.truncation[last, np.arange(N)] < 0.5)

    def per_episode(x: np.ndarray) -> np.ndarray:  # [T, N] -> [N] mean over alive steps
        return np.sum(np.where(alive > 0, x, 0.0), axis=0) / lengths

    returns = np.sum(np.where(alive > 0, roll.reward, 0.0), axis=0)
    prev = np.concatenate([np.zeros_like(roll.actions[:1]), roll.actions[:-1]])
    action_rate = per_episode(np.sum(np.square(roll.actions - prev), axis=-1))
    task = {k: per_episode(v) for k, v in roll.metrics.items()
            if not k.startswith("reward/") and k != "nan_resets"}
    terms = {k.removeprefix("reward/"): per_episode(v) for k, v in roll.metrics.items()
             if k.startswith("reward/")}
    rows = []
    for i in range(N):
        row = {"episode": i, "return": float(returns[i]), "length": int(lengths[i]),
               "survived": bool(not terminated[i])}
        for k in ("vx", "vx_error", "yaw_rate_error"):
            if k in task:
                row[k] = float(task[k][i])
        rows.append(row)

    def mean_of(name: str):
        return float(np.mean(task[name])) if name in task else None

    summary = {
        "episodes": N,
        "survival_rate": float(1.0 - terminated.mean()),
        "mean_episode_length": float(lengths.mean()),
        "mean_return": float(returns.mean()),
        "vx_error": mean_of("vx_error"),
        "vx_mean": mean_of("vx"),
        "vy_error": mean_of("vy_error"),
        "yaw_rate_error": mean_of("yaw_rate_error"),
        "yaw_rate_mean": mean_of("yaw_rate"),
        "foot_slip": mean_of("foot_slip"),
        "action_rate": float(action_rate.mean()),
        "nan_resets": float(roll.metrics["nan_resets"].sum()) if "nan_resets" in roll.metrics else 0.0,
        "reward_terms": {k: float(np.mean(v)) for k, v in terms.items()},
    }
    return rows, summary


# --------------------------------------------------------------------------- outputs


def write_record(path: pathlib.Path, roll: Rollout, env, command) -> None:
    """npz: observations/actions/joint_targets/qpos/qvel [episodes, steps, ...] and the episode
    facts (qvel only when the rollout recorded it: not from sim2sim)."""
    def by_episode(x):
        return np.swapaxes(x, 0, 1)

    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        observations=by_episode(roll.obs).astype(np.float32),
        actions=by_episode(roll.actions).astype(np.float32),
        joint_targets=by_episode(roll.joint_targets).astype(np.float32),
        qpos=by_episode(roll.qpos).astype(np.float32),
        **({} if roll.qvel is None else {"qvel": by_episode(roll.qvel).astype(np.float32)}),
        rewards=by_episode(roll.reward).astype(np.float32),
        lengths=episode_lengths(roll.done).astype(np.int32),
        ctrl_dt=np.float64(env.ctrl_dt),
        command=np.asarray(command if command is not None else [np.nan] * 3, np.float32),
        joint_names=np.asarray(getattr(env, "joint_names", ()), dtype=str),
    )


def _draw_floor_grid(scene, center, spacing: float = 0.25, half_extent: float = 2.0) -> None:
    """Thin lines on the floor every `spacing` m (fixed in the world): shows how far the robot walks."""
    import mujoco

    lo = np.floor((np.asarray(center) - half_extent) / spacing) * spacing
    ticks = [lo + spacing * i for i in range(int(2 * half_extent / spacing) + 2)]
    for axis in (0, 1):
        for tick in ticks:
            if scene.ngeom >= scene.maxgeom:
                return
            pos = np.array([center[0], center[1], 0.0005])
            pos[axis] = tick[axis]
            size = np.array([half_extent, half_extent, 0.0005])
            size[axis] = 0.002
            mujoco.mjv_initGeom(scene.geoms[scene.ngeom], mujoco.mjtGeom.mjGEOM_BOX, size, pos,
                                np.eye(3).ravel(), np.array([0.8, 0.8, 0.8, 1.0], np.float32))
            scene.ngeom += 1


def render_model(env, size: tuple[int, int], follow: bool):
    """A copy of the env's MuJoCo model for rendering only: the env's model, its physics
    and its file (whose sha256 policy specs record) stay as they are.

    Its offscreen buffer fits `size`; with `follow` (a camera tracking a walking robot)
    the lights fixed in the world follow the model's centre of mass instead, keeping
    their offset from where it started, so the robot never walks out of its light.
    """
    import copy

    import mujoco

    model = copy.deepcopy(env.mj_model)
    height, width = size
    model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
    model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
    if follow:
        fixed = (model.light_bodyid == 0) & (model.light_mode == mujoco.mjtCamLight.mjCAMLIGHT_FIXED)
        model.light_mode[fixed] = mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM
    return model


def write_video(path: pathlib.Path, env, qpos: np.ndarray, size: tuple[int, int],
                fps_target: float = 30.0) -> dict:
    """Render qpos [T, nq] of one episode with MuJoCo's offscreen renderer into an mp4.

    Frames are taken every k control steps so the video plays in real time near `fps_target`;
    the camera follows the floating base when the env names one, and so do the scene's
    lights (`render_model`).
    """
    import imageio.v2 as imageio
    import mujoco

    from playground import quaternion

    root = getattr(env, "root_body", None)
    model = render_model(env, size, follow=root is not None)
    height, width = size
    data = mujoco.MjData(model)
    every = max(1, int(round(1.0 / (env.ctrl_dt * fps_target))))
    fps = 1.0 / (env.ctrl_dt * every)
    camera = mujoco.MjvCamera()
    if root is not None:
        # follow the base, looking at the robot's front-left side at its starting heading
        heading = np.degrees(quaternion.to_yaw(qpos[0, env.root_qpos + 3 : env.root_qpos + 7]))
        camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        camera.trackbodyid = int(root)
        camera.distance, camera.elevation, camera.azimuth = 1.1, -12.0, heading - 110.0
    else:
        mujoco.mjv_defaultFreeCamera(model, camera)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = 0
    with mujoco.Renderer(model, height, width) as renderer, \
            imageio.get_writer(path, fps=fps, codec="libx264", quality=7,
                               macro_block_size=8) as writer:
        for q in qpos[::every]:
            data.qpos[:] = q
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera)
            if root is not None:
                _draw_floor_grid(renderer.scene, data.xpos[int(root)][:2])
            writer.append_data(renderer.render())
            frames += 1
    return {"path": str(path), "frames": frames, "fps": fps}


# --------------------------------------------------------------------------- main


def play(args, log=print) -> dict:
    """Build the agent, run the episodes, print per-episode lines; the summary dict."""
    agent = make_agent(args)  # bad paths and configs fail here, before jax is imported
    from playground import runner

    runner.configure_jax(agent.cfg)
    env = agent.env
    steps = int(args.steps or env.episode_length)
    log(f"play {args.task}: {args.episodes} episodes x up to {steps} steps, agent "
        f"{agent.source}, command {args.command or 'sampled by the task'}, seed {args.seed}")
    t0 = time.monotonic()
    marks = {steps * i // 4 for i in (1, 2, 3)}

    def progress(t):
        if t in marks:
            log(f"  step {t}/{steps} ({time.monotonic() - t0:.0f}s)")

    roll = run_episodes(env, agent.act, args.episodes, steps, args.seed, args.command, progress)
    rows, summary = summarize(roll)
    for row in rows:
        extra = "".join(f"  {k} {row[k]:.3f}" for k in ("vx", "vx_error", "yaw_rate_error") if k in row)
        log(f"episode {row['episode']}: return {row['return']:.2f}  length {row['length']}  "
            f"{'survived' if row['survived'] else 'fell'}{extra}")
    if args.record:
        write_record(args.record, roll, env, args.command)
        log(f"recorded {args.record}")
    if args.video:
        length = int(episode_lengths(roll.done)[0])
        info = write_video(args.video, env, roll.qpos[:length, 0], args.video_hw)
        log(f"video {info['path']}: {info['frames']} frames at {info['fps']:.0f} fps")
    summary = {"task": args.task, "agent": args.agent, "source": agent.source,
               "stochastic": bool(args.stochastic),
               "command": list(args.command) if args.command else None, "seed": args.seed,
               "steps": steps, **summary, "wall_time_s": round(time.monotonic() - t0, 1)}
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from playground.config import ConfigError
    from playground.platforms import check_jax_platforms
    from playground.tasks.registry import get_task

    try:
        args = parse_args(argv)
        try:
            get_task(args.task)  # also playground:<EnvName>, which needs the optional extra
        except KeyError as e:
            raise PlayError(e.args[0]) from None
    except PlayError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # side effects belong to the CLI: headless GL for the renderer, quiet XLA
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        check_jax_platforms()  # JAX_PLATFORMS=cuda without a CUDA jax: one line, exit 2
        summary = play(args)
    except (ConfigError, FileNotFoundError, ValueError) as e:  # ValueError: PlayError, a bundle
        print(f"error: {e}", file=sys.stderr)                    # or checkpoint of another setup
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
