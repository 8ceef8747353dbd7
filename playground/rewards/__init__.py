"""Reward plug-ins that any algorithm can host (AMP)."""
