"""Multi-host training: one process per host, joined into one JAX runtime.

Every process runs the same `train.py` command but for its own
`run.distributed.process_id`; `initialize` (called by the CLI, never at import)
connects them through `jax.distributed.initialize`, after which `jax.devices()`
lists the devices of all processes and one mesh spans them (`runner.make_mesh`).
Each process steps the envs on its own devices; the jitted iteration is the same
program as on one host, and XLA turns the mean gradient into a cross-process
reduction (gloo on CPU, NCCL on GPU). Process 0 writes the run directory; every
process writes its own shards of each checkpoint (a filesystem all processes see).

Launch recipe and limits: docs/multi_host.md.
"""

from __future__ import annotations

import pathlib
import socket
import time

import jax
import numpy as np

from playground.config import ConfigError

#: Longest run directory path `broadcast_path` carries (bytes, UTF-8).
MAX_PATH_BYTES = 4096


def initialize(cfg) -> bool:
    """Join the processes named by `run.distributed` (False: a one-process run, nothing done).

    Must run before anything touches a JAX device. Blocks until every process has
    joined or `run.distributed.timeout_seconds` passed; ConfigError (one line) when
    the coordinator cannot be reached or no cluster is detected for `auto`.
    """
    dist = cfg.run.distributed
    if dist.coordinator is None:
        return False
    timeout = int(dist.timeout_seconds)
    kwargs = {}
    if dist.coordinator != "auto":
        kwargs["coordinator_address"] = dist.coordinator
        if dist.process_id != 0:  # process 0 serves the coordinator itself
            started = time.monotonic()
            wait_for_coordinator(dist.coordinator, timeout)
            timeout = max(1, timeout - int(time.monotonic() - started))
    kwargs["initialization_timeout"] = timeout
    if dist.num_processes is not None:
        kwargs["num_processes"] = int(dist.num_processes)
    if dist.process_id is not None:
        kwargs["process_id"] = int(dist.process_id)
    try:
        jax.distributed.initialize(**kwargs)
    except ValueError as error:  # auto without a detectable cluster, or missing values
        raise ConfigError(f"run.distributed.coordinator={dist.coordinator}: {error}") from None
    except RuntimeError as error:  # unreachable coordinator, timeout, a peer that died
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            f"run.distributed: could not join {dist.num_processes or 'the'} processes through "
            f"{dist.coordinator} within {dist.timeout_seconds}s: {first}"
        ) from None
    return True


def wait_for_coordinator(address: str, timeout: float) -> None:
    """Poll until something accepts TCP connections at `address` (host:port).

    JAX aborts the whole process (no Python exception) when its client cannot
    reach the coordinator in time; this turns the common cause, process 0 not
    running at that address, into a one-line ConfigError instead.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]")  # an IPv6 literal: [::1]:1234
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"run.distributed: no coordinator at {address} after {timeout:g}s "
                    f"({error.strerror or error}); start process 0 there, or fix the address"
                ) from None
        time.sleep(0.2)


def is_primary() -> bool:
    """Whether this process writes the run directory, logs and prints (process 0)."""
    return jax.process_index() == 0


def broadcast_path(path: pathlib.Path | None) -> pathlib.Path:
    """Process 0's `path` on every process (others pass None): one run directory for all.

    A collective: every process must call it, in the same order as the other
    collectives. With one process it returns `path` without compiling anything.
    """
    if jax.process_count() == 1:
        assert path is not None
        return path
    from jax.experimental import multihost_utils

    buffer = np.zeros(MAX_PATH_BYTES, np.uint8)
    if is_primary():
        encoded = str(path).encode()
        if len(encoded) > MAX_PATH_BYTES:
            raise ConfigError(f"run directory path longer than {MAX_PATH_BYTES} bytes: {path}")
        buffer[: len(encoded)] = np.frombuffer(encoded, np.uint8)
    received = np.asarray(multihost_utils.broadcast_one_to_all(buffer))
    return pathlib.Path(bytes(received).rstrip(b"\0").decode())


def reached_preemption_point(chunk: int) -> bool:
    """Whether every process should save now and stop: one of them got SIGTERM.

    With several processes, JAX's preemption notifier catches SIGTERM (the process
    does not die) and the processes agree on the first chunk that all of them will
    reach; call this after every chunk, with consecutive chunk numbers, on every
    process. Always False with one process (SIGTERM then ends it as usual).
    """
    if jax.process_count() == 1:
        return False
    from jax.experimental import multihost_utils

    return bool(multihost_utils.reached_preemption_sync_point(int(chunk)))


def barrier(name: str) -> None:
    """Wait until every process got here (no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
