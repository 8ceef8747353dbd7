"""System identification: fit a robot model's joint parameters to a log of the real robot.

    log.py      the npz joint log (written by playground.serve.recorder) and its checks
    robot.py    the robot model, joint groups, parameter layout, the plain-MuJoCo replay
    replay.py   the replay in MJX and the loss (pure, vmapped over candidates)
    search.py   the cross-entropy method and random search, one jitted generation
    fit.py      options -> checked problem -> search -> fitted.json (+ plots.py: PNGs)
    fitted.py   a fitted.json applied to a model (the robot config key env.robot.sysid)

The command line: `python -m playground.sysid fit` (playground/cli/sysid.py); docs/sysid.md.
"""
