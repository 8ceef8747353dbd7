"""Tasks: one module or folder per task family (env, config section, rewards), and the registry."""
