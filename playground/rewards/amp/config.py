"""The AMP reward plug-in's config section (`amp`); import-light (no jax).

A task whose env can host AMP (a legged robot with a floating base) adds `SECTION`
to its own sections under the name `amp`.
"""

from __future__ import annotations

from playground.config import Field, Section, at_least, greater_than, widths_at_least

SECTION = Section(
    "Adversarial motion priors: a style reward from a discriminator.",
    {
        "enabled": Field(bool, False, "train a discriminator and add the style reward"),
        "weight": Field(float, 0.5, "weight of the style reward term", check=at_least(0)),
        "motion_files": Field(
            list[str],
            [],
            "reference clips: PATH or PATH@WEIGHT (.npz, .json, .csv, a folder or a "
            "manifest .yaml); empty: the clips shipped beside the robot MJCF",
        ),
        "motion_layout": Field(
            str, None, "YAML column layout for .json/.csv clips without their own",
            optional=True,
        ),
        "features": Section(
            "What the discriminator sees of a state (docs/motion.md).",
            {
                "root_height": Field(bool, True, "root z"),
                "orientation": Field(bool, True, "root x and z axes in the heading frame"),
                "linvel": Field(bool, True, "root linear velocity, heading frame"),
                "angvel": Field(bool, True, "root angular velocity, heading frame"),
                "joint_pos": Field(bool, True, "actuated joint positions"),
                "joint_vel": Field(bool, True, "actuated joint velocities"),
                "foot_pos": Field(
                    bool, False, "foot positions relative to the root (one more "
                    "kinematics pass per step)",
                ),
            },
        ),
        "disc_hidden": Field(list[int], [512, 256], "discriminator MLP widths (ReLU)",
                         check=widths_at_least(1)),
        "disc_learning_rate": Field(float, 1e-4, "Adam step of the discriminator",
                                check=greater_than(0)),
        "disc_updates": Field(int, 4, "discriminator minibatch steps per iteration",
                          check=at_least(1)),
        "disc_batch_size": Field(
            int, 512, "reference and replayed policy transitions per discriminator step",
        check=at_least(1),
        ),
        "replay_size": Field(
            int, 200000, "policy transitions kept for the discriminator (newest win)",
        check=at_least(1),
        ),
        "grad_penalty": Field(
            float, 5.0, "weight w of (w/2) E_ref |grad_x D|^2 on the normalized input",
        check=at_least(0),
        ),
        "logit_reg": Field(float, 0.05, "weight of |W_out|^2, the output layer's kernel",
                       check=at_least(0)),
        "weight_decay": Field(float, 1e-4, "weight of |W|^2 over all kernels",
                          check=at_least(0)),
    },
)
