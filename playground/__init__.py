"""playground: a pure-JAX MJX robot-learning trainer (PPO, optionally AMP)."""
