"""Algorithms: one folder per algorithm, each registered under a name."""
