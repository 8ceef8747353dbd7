"""Real-time settings: CPU lists, pinning and SCHED_FIFO reach the threads started later."""

import json
import os
import subprocess
import sys

import pytest

from playground.serve.realtime import parse_cpus

CHILD = """
import json, os, zmq
from playground.serve.realtime import configure_process, freeze_gc
try:
    state = configure_process({0}, %s)
except OSError as exc:
    print(json.dumps({"error": str(exc)})); raise SystemExit
socket = zmq.Context().socket(zmq.DEALER)  # starts ZMQ's I/O thread now
freeze_gc()
threads = {int(t): (sorted(os.sched_getaffinity(int(t))), os.sched_getscheduler(int(t)))
           for t in os.listdir("/proc/self/task")}
print(json.dumps({"state": state, "threads": threads}))
"""


def test_parse_cpus():
    assert parse_cpus("1") == {1}
    assert parse_cpus("2,3") == {2, 3}
    assert parse_cpus("0-2,5") == {0, 1, 2, 5}
    for bad in ("", "x", "1-", "-1", "1,,2", "a-b", "3-1"):
        with pytest.raises(ValueError, match="cpus"):
            parse_cpus(bad)


def run_child(priority):
    done = subprocess.run([sys.executable, "-c", CHILD % priority], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_pinning_reaches_zmq_io_thread():
    result = run_child(None)
    assert result["state"] == {"cpus": [0], "policy": "other", "priority": 0}
    assert len(result["threads"]) >= 2  # the main thread and at least ZMQ's I/O thread
    assert all(cpus == [0] and policy == os.SCHED_OTHER
               for cpus, policy in result["threads"].values())


def test_fifo_reaches_zmq_io_thread_or_names_the_refusal():
    result = run_child(10)
    if "error" in result:  # no permission here: a one-line refusal that says what to do
        assert "SCHED_FIFO" in result["error"] and "\n" not in result["error"]
        return
    assert result["state"] == {"cpus": [0], "policy": "fifo", "priority": 10}
    assert all(policy == os.SCHED_FIFO for _, policy in result["threads"].values())


IO_CHILD = """
import json, os, threading, zmq
from playground.serve.realtime import RealtimeError, fifo_io_threads
context = zmq.Context()
try:
    fifo_io_threads(context, 10)
except OSError as exc:
    print(json.dumps({"error": str(exc)})); raise SystemExit
threads = {int(t): [os.sched_getscheduler(int(t)), os.sched_getparam(int(t)).sched_priority]
           for t in os.listdir("/proc/self/task")}
try:
    fifo_io_threads(context, 10)
    again = None
except RealtimeError as exc:
    again = str(exc)
print(json.dumps({"main": threading.get_native_id(), "threads": threads, "again": again}))
"""


def test_fifo_io_threads_leaves_the_calling_thread_alone():
    done = subprocess.run([sys.executable, "-c", IO_CHILD], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    if "error" in result:
        assert "SCHED_FIFO" in result["error"] and "\n" not in result["error"]
        return
    threads = {int(t): v for t, v in result["threads"].items()}
    assert threads.pop(result["main"]) == [os.SCHED_OTHER, 0]
    assert threads and all(v == [os.SCHED_FIFO, 10] for v in threads.values())  # I/O + reaper
    assert "running already" in result["again"]  # too late once the threads run
