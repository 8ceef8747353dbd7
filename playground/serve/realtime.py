"""Real-time settings for a process on the robot side: CPU pinning, SCHED_FIFO, frozen GC.

What a robot control loop does in practice, as one call made early (before the ZMQ
context exists, so that its I/O thread, created later, inherits the CPU set and the
scheduling policy):

    from playground.serve.realtime import configure_process, freeze_gc
    configure_process(cpus={3}, fifo_priority=50)   # may need root / CAP_SYS_NICE
    ... build the client, the safety filter ...
    freeze_gc()                                       # right before the control loop

docs/serving.md has the deployment advice and the figures behind it.
"""

from __future__ import annotations

import gc
import os


class RealtimeError(OSError):
    """A setting the OS refused; the message is one line."""


def parse_cpus(text: str) -> set[int]:
    """"1" or "2,3" or "0-3" -> {ints}; ValueError with a one-line message otherwise."""
    cpus: set[int] = set()
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()) or int(hi or lo) < int(lo):
            raise ValueError(f"cpus {text!r}: a list like 1 or 2,3 or 0-3 expected")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def configure_process(cpus: set[int] | None = None, fifo_priority: int | None = None) -> dict:
    """Pin the calling thread (and the threads it starts later) to `cpus`, and/or run it
    under SCHED_FIFO at `fifo_priority` (1..99). Returns what is now in effect.

    Linux applies both per thread: threads that exist already keep their settings, so
    call this before creating a ZMQ context or starting other threads.
    """
    if cpus is not None:
        try:
            os.sched_setaffinity(0, cpus)
        except (OSError, ValueError) as exc:
            raise RealtimeError(f"cannot pin to CPUs {sorted(cpus)}: {exc}") from None
    if fifo_priority is not None:
        low, high = os.sched_get_priority_min(os.SCHED_FIFO), os.sched_get_priority_max(os.SCHED_FIFO)
        if not low <= fifo_priority <= high:
            raise RealtimeError(f"SCHED_FIFO priority {fifo_priority}: must be in [{low}, {high}]")
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(fifo_priority))
        except OSError as exc:
            raise RealtimeError(f"cannot switch to SCHED_FIFO {fifo_priority} ({exc.strerror}): "
                                "run as root, with CAP_SYS_NICE, or raise RLIMIT_RTPRIO") from None
    return describe()


def describe() -> dict:
    """The calling thread's CPU set, scheduling policy and priority."""
    policy = os.sched_getscheduler(0)
    names = {os.SCHED_OTHER: "other", os.SCHED_FIFO: "fifo", os.SCHED_RR: "rr"}
    return {"cpus": sorted(os.sched_getaffinity(0)), "policy": names.get(policy, str(policy)),
            "priority": os.sched_getparam(0).sched_priority}


def freeze_gc() -> None:
    """Collect once, then move every object alive now out of the collector's reach.

    The objects built at start-up (modules, the policy, sockets) are never freed; with
    them frozen, a collection scans only what the loop allocated since, so the
    occasional full collection costs microseconds instead of milliseconds. Reference
    counting frees the per-request objects as before: memory does not grow.
    """
    gc.collect()
    gc.freeze()
