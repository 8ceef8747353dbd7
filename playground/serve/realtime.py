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
import pathlib

import zmq


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
        _set_fifo(fifo_priority)
    return describe()


def _set_fifo(priority: int, tid: int = 0) -> None:
    """Thread `tid` (0: the calling one) under SCHED_FIFO `priority`, or a one-line RealtimeError."""
    low, high = os.sched_get_priority_min(os.SCHED_FIFO), os.sched_get_priority_max(os.SCHED_FIFO)
    if not low <= priority <= high:
        raise RealtimeError(f"SCHED_FIFO priority {priority}: must be in [{low}, {high}]")
    try:
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        raise RealtimeError(f"cannot switch to SCHED_FIFO {priority} ({exc.strerror}): "
                            "run as root, with CAP_SYS_NICE, or raise RLIMIT_RTPRIO") from None


def _thread_ids() -> set[int]:
    return {int(tid) for tid in os.listdir("/proc/self/task")}


def fifo_io_threads(context: zmq.Context, priority: int) -> None:
    """Start `context`'s I/O threads now and run them under SCHED_FIFO `priority`,
    leaving the calling thread as it is. Call it before the context's first socket.

    For a thread that busy-polls its socket: the I/O thread, which carries every
    message and sleeps in epoll between them, must preempt the spinner the moment bytes
    arrive, so it runs one priority above it (a woken thread of the same SCHED_FIFO
    priority waits until the running one yields). The threads are started here with a
    throw-away socket and set from this thread, so they hold the priority before any
    message (a thread that set its own would first have to get the spinner's core).
    """
    before = _thread_ids()
    context.socket(zmq.PAIR).close(0)  # starts the I/O and reaper threads (they stay)
    started = _thread_ids() - before
    if not started:
        raise RealtimeError("fifo_io_threads: the context's I/O threads were running already")
    for tid in started:
        _set_fifo(priority, tid)


def rt_throttled() -> bool:
    """Whether real-time throttling is on (`/proc/sys/kernel/sched_rt_runtime_us` not -1):
    then SCHED_FIFO threads that run most of a second are stopped for the rest of it."""
    try:
        return int(pathlib.Path("/proc/sys/kernel/sched_rt_runtime_us").read_text()) >= 0
    except (OSError, ValueError):
        return False


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
