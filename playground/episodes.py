"""Episodes of a policy in a task's env, and what play and sim2sim make of them.

`run_episodes` plays N episodes side by side in the MJX env (no auto-reset); a `Rollout`
holds their per-step arrays [T, N, ...] (sim2sim fills one from plain MuJoCo);
`summarize` turns it into per-episode rows and one summary (means over each episode's
alive steps, then over episodes, as the trainer's eval/* metrics are), the task's own
metrics named by its env's `summary_metrics`, and each episode's success and the
success_rate for a task that defines success (its env's `success_mode`);
`write_record` and `write_video` write the npz and the mp4.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Mapping

import numpy as np


def summary_metrics(env) -> dict[str, str]:
    """{summary key: env metric} the task declares (`Env.summary_metrics`; none by default)."""
    return dict(getattr(env, "summary_metrics", ()))


def parse_command(text: str) -> tuple[float, float, float]:
    """'VX,VY,YAW' -> three floats (m/s, m/s, rad/s); ValueError otherwise."""
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(np.isfinite(values)):
        raise ValueError(f"--command {text!r}: expected three numbers VX,VY,YAW (e.g. 0.3,0,0)")
    return values  # type: ignore[return-value]



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
            raise ValueError("this task takes no velocity command (drop --command)")
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


def episode_successes(signal: np.ndarray, lengths: np.ndarray, mode: str) -> np.ndarray:
    """[N] bool: each episode's success from its per-step success signal [T, N] (1.0 / 0.0)
    and its length: the signal at its last step ("last") or at any of its steps ("ever"),
    as `playground.tasks.base.fold_success` decides step by step."""
    T, N = signal.shape
    hit = signal > 0.5
    if mode == "last":
        return hit[lengths - 1, np.arange(N)]
    alive = np.arange(T)[:, None] < lengths[None, :]
    return np.any(hit & alive, axis=0)


def summarize(roll: Rollout, metrics: Mapping[str, str] = (),
              success: str | None = None) -> tuple[list[dict], dict]:
    """Per-episode rows and the aggregate (means over each episode's alive steps, then episodes).

    `metrics` ({summary key: env metric}, the env's `summary_metrics`) names the task's
    metrics to report: each row holds them under the metric's name, the summary under its
    key (None when the rollout lacks the metric). `success` (the env's `success_mode`;
    None: the task defines none) adds `success` to each row and `success_rate` to the
    summary, from the rollout's `success` metric.
    """
    T, N = roll.reward.shape
    metrics = dict(metrics)
    lengths = episode_lengths(roll.done)
    alive = (np.arange(T)[:, None] < lengths[None, :]).astype(np.float64)  # [T, N]
    last = lengths - 1
    terminated = (roll.done[last, np.arange(N)] > 0.5) & (roll.truncation[last, np.arange(N)] < 0.5)

    def per_episode(x: np.ndarray) -> np.ndarray:  # [T, N] -> [N] mean over alive steps
        return np.sum(np.where(alive > 0, x, 0.0), axis=0) / lengths

    returns = np.sum(np.where(alive > 0, roll.reward, 0.0), axis=0)
    prev = np.concatenate([np.zeros_like(roll.actions[:1]), roll.actions[:-1]])
    action_rate = per_episode(np.sum(np.square(roll.actions - prev), axis=-1))
    task = {name: per_episode(roll.metrics[name]) for name in metrics.values()
            if name in roll.metrics}
    terms = {k.removeprefix("reward/"): per_episode(v) for k, v in roll.metrics.items()
             if k.startswith("reward/")}
    succeeded = None
    if success is not None:
        from playground.tasks.base import SUCCESS_METRIC  # jax: play imports this module first

        succeeded = episode_successes(roll.metrics[SUCCESS_METRIC], lengths, success)
    rows = []
    for i in range(N):
        row = {"episode": i, "return": float(returns[i]), "length": int(lengths[i]),
               "survived": bool(not terminated[i])}
        if succeeded is not None:
            row["success"] = bool(succeeded[i])
        row.update({name: float(values[i]) for name, values in task.items()})
        rows.append(row)
    summary = {
        "episodes": N,
        "survival_rate": float(1.0 - terminated.mean()),
        **({} if succeeded is None else {"success_rate": float(succeeded.mean())}),
        "mean_episode_length": float(lengths.mean()),
        "mean_return": float(returns.mean()),
        **{key: float(np.mean(task[name])) if name in task else None
           for key, name in metrics.items()},
        "action_rate": float(action_rate.mean()),
        "nan_resets": float(roll.metrics["nan_resets"].sum()) if "nan_resets" in roll.metrics else 0.0,
        "reward_terms": {k: float(np.mean(v)) for k, v in terms.items()},
    }
    return rows, summary


def episode_line(row: dict) -> str:
    """One episode's row as the line play and sim2sim print."""
    extra = "".join(f"  {k} {v:.3f}" for k, v in row.items()
                    if k not in ("episode", "return", "length", "survived", "success"))
    outcome = "" if "success" not in row else ("  success" if row["success"] else "  no success")
    return (f"episode {row['episode']}: return {row['return']:.2f}  length {row['length']}  "
            f"{'survived' if row['survived'] else 'fell'}{outcome}{extra}")


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


