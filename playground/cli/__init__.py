"""Thin entry points: parse arguments -> config -> call the library -> exit code.

Each module has `main(argv) -> int` and holds no logic a test would want to import.
"""
