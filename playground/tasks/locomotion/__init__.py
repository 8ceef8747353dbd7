"""Locomotion: legged robots and humanoids tracking velocity commands."""
