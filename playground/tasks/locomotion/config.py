"""The locomotion task's config (env, reward_weights, domain_randomization).

Import-light (no jax, no mujoco): the config resolves before anything compiles.
The defaults are the production GPU recipe for humanoid_walk (WildRobot).
"""

from __future__ import annotations

from playground.config import (
    Field,
    FreeForm,
    Section,
    at_least,
    check_whole_multiple,
    greater_than,
    in_range,
    lower_at_least,
)

ENV = Section(
    "The simulated legged robot: timing, actions, observation noise, commands, termination, "
    "robot model.",
    {
                "episode_length": Field(int, 1000, "control steps before truncation", check=at_least(1)),
        "ctrl_dt": Field(float, 0.02, "seconds per policy step", check=greater_than(0)),
        "sim_dt": Field(float, 0.004, "seconds per physics step; must divide ctrl_dt",
                  check=greater_than(0)),
        "action_scale": Field(
            float, 0.3, "rad of position target per unit action, around the home pose"
        ),
        "action_delay_steps": Field(
            list[int],
            [0, 1],
            "[min, max] control steps of action latency, sampled per episode",
            interval=True,
            check=lower_at_least(0),
        ),
        "obs_history": Field(
            int, 1, "frames of actor observation stacked (1 = no history)",
            check=at_least(1),
        ),
        "tracking_sigma": Field(
            float, 0.25, "width of the exp(-err^2/sigma) tracking rewards",
                check=greater_than(0),
        ),
        "tracking_sigma_yaw": Field(
            float, 0.25, "width of the yaw-rate tracking reward (rad^2/s^2)",
                check=greater_than(0),
        ),
        "yaw_average_seconds": Field(
            float, 0.5, "time constant of the averaged yaw rate that "
            "reward term tracking_ang_vel_avg tracks (a gait cycle or so: the yaw "
            "wobble of each step averages out, the turn stays)",
                check=greater_than(0),
        ),
        "tracking_sigma_yaw_avg": Field(
            float, 0.05, "width of the averaged yaw-rate tracking reward (rad^2/s^2)",
                check=greater_than(0),
        ),
        "base_height_target": Field(
            float,
            None,
            "m; null: the home keyframe's root body height",
            optional=True,
        ),
        "feet_air_time_target": Field(float, 0.3, "seconds of swing rewarded per step"),
        "noise": Section(
            "Uniform observation noise, in each sensor's units, times `scale`.",
            {
                "scale": Field(float, 1.0, "global multiplier (0 disables noise)"),
                "gyro": Field(float, 0.2, "rad/s"),
                "gravity": Field(float, 0.05, "projected gravity, unit vector"),
                "joint_pos": Field(float, 0.03, "rad"),
                "joint_vel": Field(float, 1.5, "rad/s"),
            },
        ),
        "gait": Section(
            "Gait clock given to the policy.",
            {
                "enabled": Field(bool, True, "sin/cos phase clock in the observation"),
                "frequency": Field(float, 1.5, "Hz, gait cycles per second"),
                "swing_height": Field(
                    float, 0.035, "m; peak foot lift the `feet_phase` reward asks for"
                ),
            },
        ),
        "command": Section(
            "Velocity commands, sampled uniformly from [lo, hi].",
            {
                "vx": Field(list[float], [-0.3, 0.6], "m/s forward", interval=True),
                "vy": Field(list[float], [-0.2, 0.2], "m/s sideways", interval=True),
                "yaw_rate": Field(list[float], [-0.5, 0.5], "rad/s", interval=True),
                "resample_seconds": Field(float, 5.0, "seconds between new commands"),
                "zero_probability": Field(
                    float, 0.1, "probability that a sampled command is standing still",
                        check=in_range(0, 1),
                ),
                "turn_in_place_probability": Field(
                    float, 0.0, "probability that a sampled command turns in place "
                    "(vx = vy = 0, yaw rate as sampled)",
                        check=in_range(0, 1),
                ),
            },
        ),
        "termination": Section(
            "When an episode ends early.",
            {
                "min_base_height": Field(float, 0.18, "m; root body below this ends it"),
                "max_tilt": Field(float, 0.9, "rad of root tilt from upright that ends it"),
            },
        ),
        "robot": Section(
            "The robot model (see configs/custom_robot.yaml for bringing your own).",
            {
                "xml": Field(
                    str,
                    "playground/tasks/assets/wildrobot/wildrobot.xml",
                    "MJCF file, relative to the project root or absolute",
                ),
                "keyframe": Field(str, "home", "keyframe with the default pose"),
                "root_body": Field(str, "pelvis", "floating-base body"),
                "feet": Field(list[str], ["left_foot", "right_foot"], "foot body names"),
                "imu_site": Field(str, "imu", "site of the gyro/accelerometer on the "
                                  "root body; null: the root body's own frame",
                                  optional=True),
                "sysid": Field(str, None, "fitted.json of `python -m playground.sysid fit` "
                               "on this MJCF: its kp, damping, frictionloss and armature "
                               "become the nominal model (randomization scales them); "
                               "null: the MJCF's values", optional=True),
            },
        ),
        
    },
)

REWARD_WEIGHTS = FreeForm(
    float,
    "reward term -> weight; the task YAML gives them, the env checks the names",
)

DOMAIN_RANDOMIZATION = Section(
    "Per-episode physics randomization; scales multiply the model's value, "
    "[lo, hi] sampled uniformly.",
    {
        "enabled": Field(bool, True, "off: the nominal model every episode"),
        "floor_friction": Field(list[float], [0.5, 1.2], "sliding friction", interval=True),
        "mass_scale": Field(list[float], [0.9, 1.1], "x body masses", interval=True),
        "actuator_gain_scale": Field(
            list[float], [0.9, 1.1], "x actuator kp", interval=True
        ),
        "damping_scale": Field(list[float], [0.8, 1.2], "x joint damping", interval=True),
        "armature_scale": Field(list[float], [0.9, 1.1], "x joint armature", interval=True),
        "frictionloss_scale": Field(
            list[float], [0.5, 1.5], "x joint friction loss", interval=True
        ),
        "init_qpos_noise": Field(float, 0.05, "rad, uniform noise on the initial joints"),
        "push_interval_seconds": Field(
            list[float], [5.0, 10.0], "seconds between pushes", interval=True
        ),
        "push_velocity": Field(float, 0.3, "m/s added to the base (0 disables pushes)"),
    },
)

SECTIONS = {
    "env": ENV,
    "reward_weights": REWARD_WEIGHTS,
    "domain_randomization": DOMAIN_RANDOMIZATION,
}


def check(cfg) -> None:
    """Cross-key checks: the control step is a whole number of physics steps."""
    check_whole_multiple(cfg, "env.ctrl_dt", "env.sim_dt")
