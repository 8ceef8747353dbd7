"""Reference motions: the clip format, loaders for other formats, the motion library
that JAX samples (s, s') pairs from, and the WildRobot gait generator (docs/motion.md)."""
