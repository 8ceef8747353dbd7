"""playground: a pure-JAX MJX robot-learning trainer (PPO, A2C, SAC; AMP as a reward plug-in)."""

from playground import xla_flags as _xla_flags

_xla_flags.apply()  # before any jax backend starts: see playground/xla_flags.py
