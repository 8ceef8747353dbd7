"""The policy server: one ZMQ ROUTER socket, one thread answering in arrival order.

Every request read gets one reply (none if the peer is gone); a malformed one gets an
error reply and the server goes on. `act` requests are answered at once; `stats` and
`info` are cheap; `reload` loads the new bundle in a worker thread while `act` requests
keep being answered by the current policy, then swaps between two requests (only when
the new spec hash equals the served one), so no control request waits behind it: its
reply comes after those to the requests that followed it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import ipaddress
import pathlib
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from playground.serve import protocol
from playground.serve.bundle import Bundle, BundleError, make_policy
from playground.serve.keys import read_client_keys, read_key_file, secure_server_socket
from playground.serve.observation import ObservationBuilder, ObservationError
from playground.serve.protocol import ProtocolError
from playground.serve.realtime import fifo_io_threads

#: Latency samples kept for the stats percentiles (the most recent ones).
LATENCY_WINDOW = 10_000
#: ZMQ's own limit, far above ours: a peer beyond it is dropped without a reply, so ours
#: (max_message_bytes, answered with "too_large") is what clients meet.
ZMQ_HARD_LIMIT_FACTOR = 16
#: A busy-polling loop without requests rests (sleeps on the socket) after this long.
BUSY_MAX_SPIN_S = 0.04
#: Under SCHED_FIFO with throttling on, a busy-polling server rests (sleeps on its socket)
#: for this fraction of the time between two requests, right after each reply.
BUSY_REST = 0.1


def serve_busy(socket: zmq.Socket, handle: Callable[[list[bytes]], bool | None],
               should_stop: Callable[[], bool], rest_fraction: float = 0.0,
               on_idle: Callable[[], None] | None = None) -> None:
    """Spin on `socket`, `handle(frames)` for every message, until `should_stop()`.

    Never sleeps in a receive: a request 20 ms after the last one finds this thread
    running, its code and data in the caches, instead of paying a wake-up from an idle
    CPU. `on_idle()` runs on every empty turn. With `rest_fraction` > 0 (a SCHED_FIFO
    spinner under real-time throttling, which stops a thread that runs 95 % of a
    second for the remaining 50 ms), the loop rests after each reply for that fraction
    of the time it spun since its last rest (and after BUSY_MAX_SPIN_S without a
    request), sleeping on the socket's FD, so it wakes at once when a message comes: at
    a steady request rate the rest falls where no request is due, and the thread stays
    below the throttling limit. A `handle` that returns True (a ping: the client's
    request follows within a millisecond or so) is not followed by a rest.
    """
    events, pollin, fd = zmq.EVENTS, zmq.POLLIN, socket.getsockopt(zmq.FD)
    clock = time.perf_counter
    spin_start = clock()  # the end of the last rest

    def rest(seconds: float) -> None:
        if not socket.getsockopt(events) & pollin:  # re-arms the edge-triggered FD
            select.select([fd], [], [], seconds)

    while not should_stop():
        if socket.getsockopt(events) & pollin:  # processes ZMQ's commands, never blocks
            if not handle(socket.recv_multipart(zmq.NOBLOCK)) and rest_fraction:
                rest(rest_fraction * min(clock() - spin_start, BUSY_MAX_SPIN_S))
                spin_start = clock()
        elif rest_fraction and clock() - spin_start > BUSY_MAX_SPIN_S:
            rest(rest_fraction * BUSY_MAX_SPIN_S)
            spin_start = clock()
        elif on_idle is not None:
            on_idle()


def check_endpoint(endpoint: str) -> bool:
    """Whether `endpoint` is reachable from this machine only; ValueError for a tcp
    endpoint whose port is not 1..65535 or "*" (ZMQ would bind some other port).

    Loopback: ipc://, inproc://, tcp:// on localhost, 127.0.0.0/8 or ::1.
    """
    transport, sep, address = endpoint.partition("://")
    if not sep:
        raise ValueError(f"--bind {endpoint}: expected transport://address, e.g. tcp://127.0.0.1:5555")
    if transport in ("ipc", "inproc"):
        return True
    if transport != "tcp":
        return False
    host, colon, port = address.rpartition(":")
    if not colon or not (port == "*" or port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"--bind {endpoint}: the port must be 1..65535 (or * for any free one)")
    host = host.removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, an interface name or *: maybe not loopback
        return False


def _as_list(value: Any) -> Any:
    """[value] for a bare number, else value."""
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value


@dataclasses.dataclass(frozen=True)
class CurveConfig:
    """CurveZMQ on the server: its secret certificate and a folder of allowed client public keys."""

    server_secret_file: pathlib.Path
    allowed_clients_dir: pathlib.Path


class ReplayPolicy:
    """Serves a recorded action sequence open-loop: the observation is checked, then ignored."""

    def __init__(self, actions: np.ndarray, loop: bool = False):
        self.actions = np.ascontiguousarray(actions, np.float32)
        self.loop = loop
        self.cursor = 0

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.cursor >= len(self.actions):
            if not self.loop:
                raise ProtocolError("replay_end", f"all {len(self.actions)} recorded actions served")
            self.cursor = 0
        action = self.actions[self.cursor]
        self.cursor += 1
        return action


def load_replay(path: pathlib.Path, action_size: int, loop: bool = False,
                episode: int = 0) -> ReplayPolicy:
    """A recording's `actions` (npz, no pickle): [T, a], or play.py's [episodes, T, a]
    (one `episode`, cut to its `lengths` entry when the recording has one)."""
    try:
        with np.load(path, allow_pickle=False) as rec:
            if "actions" not in rec.files:
                raise BundleError(f"{path}: no 'actions' array (has {', '.join(rec.files)})")
            actions = np.asarray(rec["actions"])
            lengths = np.asarray(rec["lengths"]) if "lengths" in rec.files else None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: unreadable recording ({exc})") from None
    if actions.ndim == 3:
        if not 0 <= episode < len(actions):
            raise BundleError(f"{path}: episode {episode} of {len(actions)} recorded")
        end = int(lengths[episode]) if lengths is not None and lengths.ndim == 1 else None
        actions = actions[episode, :end]
    if actions.ndim != 2 or actions.shape[1] != action_size or len(actions) == 0:
        raise BundleError(f"{path}: actions of shape {actions.shape}, expected [T>0, {action_size}]")
    if not np.all(np.isfinite(actions)):
        raise BundleError(f"{path}: non-finite recorded actions")
    return ReplayPolicy(np.clip(actions, -1.0, 1.0), loop)


class PolicyServer:
    """Serve `bundle` (forward pass `policy`) on `bind` until `stop()`."""

    def __init__(self, bundle: Bundle, policy: Callable[[np.ndarray], np.ndarray] | None = None,
                 bind: str = "tcp://127.0.0.1:5555", *, backend: str = "numpy",
                 max_message_bytes: int = protocol.DEFAULT_MAX_MESSAGE_BYTES,
                 curve: CurveConfig | None = None, allow_reload: bool = True,
                 mode: str = "policy", busy_poll: bool = False, busy_rest: float = 0.0,
                 keep_warm_s: float = 0.0, io_priority: int | None = None,
                 log: Callable[[str], None] = print):
        check_endpoint(bind)  # before any socket: a bad port binds nothing
        if curve is not None:  # every key file loads, before any socket
            read_key_file(curve.server_secret_file, secret=True)
            read_client_keys(curve.allowed_clients_dir)
        self.bundle = bundle
        self.backend = backend
        self.policy = policy if policy is not None else make_policy(bundle, backend)
        self.mode = mode  # "policy" or "replay" (reload is refused when replaying)
        self.max_message_bytes = int(max_message_bytes)
        self.allow_reload = allow_reload and mode == "policy"
        self.log = log
        builder = ObservationBuilder(bundle.spec)
        self.builder = builder if builder.history == 1 else None  # "fields" requests need it
        self.busy_poll, self.busy_rest = busy_poll, float(busy_rest)
        if keep_warm_s and (not busy_poll or mode != "policy"):
            raise ValueError("keep-warm needs busy polling and a policy (a replay would advance)")
        self.keep_warm_s = float(keep_warm_s)
        self.context = zmq.Context()
        if io_priority is not None:  # before the first socket starts the I/O thread
            fifo_io_threads(self.context, io_priority)
        self._auth = None
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes * ZMQ_HARD_LIMIT_FACTOR)
        self.socket.setsockopt(zmq.RCVHWM, 1000)
        self.socket.setsockopt(zmq.SNDHWM, 1000)
        if curve is not None:
            self._setup_curve(curve)
        self.socket.bind(bind)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        self._reload_pool = concurrent.futures.ThreadPoolExecutor(1, "bundle-reload")
        self._reload: tuple[concurrent.futures.Future, list[bytes], int] | None = None
        self.started = time.time()
        self.counts = {"requests": 0, "act_ok": 0, "errors": 0, "reloads": 0}
        self.error_counts: dict[str, int] = {}
        self._server_us = np.zeros(LATENCY_WINDOW, np.float64)
        self._policy_us = np.zeros(LATENCY_WINDOW, np.float64)
        self._samples = 0

    # --- setup ---------------------------------------------------------------------
    def _setup_curve(self, curve: CurveConfig) -> None:
        """CURVE with the server's keys (all read before the socket existed)."""
        self._auth = secure_server_socket(self.context, self.socket, curve.server_secret_file,
                                          curve.allowed_clients_dir)

    # --- loop ----------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def serve_forever(self) -> None:
        """Answer requests until `stop()`.

        The loop is a blocking receive with a timeout (how often `stop()` and a running
        reload are looked at), then the answer: no poller and no exception per request,
        so a request costs the same few calls as a bare echo. With `busy_poll` it spins
        on the socket instead (`_serve_busy`).
        """
        if self.busy_poll:
            try:
                self._serve_busy()
            finally:
                self.close()
            return
        idle_ms = None
        try:
            while not self._stop.is_set():
                wanted = 5 if self._reload is not None else 100
                if wanted != idle_ms:
                    idle_ms = wanted
                    self.socket.setsockopt(zmq.RCVTIMEO, idle_ms)
                try:
                    frames = self.socket.recv_multipart()
                except zmq.Again:  # idle for idle_ms
                    frames = None
                if frames is not None:
                    self._handle(frames)
                if self._reload is not None and self._reload[0].done():
                    self._finish_reload()
        finally:
            self.close()

    def _serve_busy(self) -> None:
        """`serve_busy` with the same checks and replies as the blocking loop; `stop()`
        and a finished reload are looked at on every turn. With `keep_warm_s`, an idle
        turn runs the policy on a zero observation that often (its output is dropped):
        between two 50 Hz requests other work on the machine evicts the weights, and a
        cold forward pass costs several times a warm one."""
        every, clock = self.keep_warm_s, time.perf_counter
        obs = np.zeros(self.bundle.obs_size, np.float32)
        warmed = clock()

        def on_idle():
            nonlocal every, warmed
            if self._reload is not None and self._reload[0].done():
                self._finish_reload()
            if every and clock() - warmed > every:  # the weights back into the caches
                try:
                    self.policy(obs)
                except Exception as exc:  # the server goes on, without keep-warm
                    every = 0.0
                    self.log(f"keep-warm off: the policy raised {type(exc).__name__}: {exc}")
                warmed = clock()

        serve_busy(self.socket, self._handle, self._stop.is_set, self.busy_rest, on_idle)

    def close(self) -> None:
        self._reload_pool.shutdown(wait=False, cancel_futures=True)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self.socket.close(0)
        self.context.term()

    # --- requests ------------------------------------------------------------------
    def _handle(self, frames: list[bytes]) -> bool:
        """Answer one request; True for a ping (its request follows: `serve_busy` then
        spins on instead of resting)."""
        t0 = time.perf_counter()
        self.counts["requests"] += 1
        if len(frames) < 2:  # no payload after the routing identity: nothing to answer to
            self._count_error("bad_request")
            return False
        envelope, payload = frames[:-1], frames[-1]
        seq = type_ = None
        try:
            size = sum(map(len, frames)) - len(frames[0])
            if size > self.max_message_bytes:
                raise ProtocolError("too_large", f"{size} bytes > limit {self.max_message_bytes}")
            message = protocol.parse_request(payload, self.max_message_bytes)
            seq, type_ = message["seq"], message["type"]
            if len(envelope) > 2 or (len(envelope) == 2 and envelope[1] != b""):
                raise ProtocolError("bad_request", "frames: [payload] or [empty, payload] expected")
            if type_ == "act":
                reply = self._act(message, t0)
            elif type_ == "stats":
                reply = self._reply(message, **self.stats())
            elif type_ == "info":
                reply = self._reply(message, **self.info())
            elif type_ == "ping":
                reply = self._reply(message)
            else:
                reply = self._start_reload(message, envelope)
                if reply is None:  # answered when the new bundle is in
                    return False
        except ProtocolError as exc:
            self._count_error(exc.code)
            reply = protocol.error_reply(exc.code, str(exc), exc.seq if exc.seq is not None else seq,
                                         exc.type or type_)
        except Exception as exc:  # a bug in a policy must not take the robot's server down
            self._count_error("internal")
            reply = protocol.error_reply("internal", f"{type(exc).__name__}: {exc}", seq, type_)
        self._send(envelope, reply)
        return type_ == "ping"

    def _send(self, envelope: list[bytes], reply: bytes) -> None:
        try:
            self.socket.send_multipart([*envelope, reply], zmq.NOBLOCK)
        except zmq.ZMQError:  # peer gone or its queue full: ROUTER drops, we go on
            pass

    def _count_error(self, code: str) -> None:
        self.counts["errors"] += 1
        self.error_counts[code] = self.error_counts.get(code, 0) + 1

    def _reply(self, message: dict, **fields: Any) -> bytes:
        return protocol.pack({"v": protocol.PROTOCOL_VERSION, "type": message["type"],
                              "seq": message["seq"], "ok": True, **fields})

    def _act(self, message: dict, t0: float) -> bytes:
        seq = message["seq"]
        protocol.check_spec(message, self.bundle.spec_hash)
        if "obs" in message and "fields" in message:
            raise ProtocolError("bad_request", "act takes obs or fields, not both", seq, "act")
        if "obs" in message:
            dtype = message.get("dtype", "float32")
            if dtype not in ("float32", "<f4"):
                raise ProtocolError("bad_dtype", f"dtype {dtype!r}: only float32 is accepted", seq, "act")
            obs = protocol.vector(message["obs"], self.bundle.obs_size, "obs", seq)
        elif "fields" in message:
            obs = self._obs_from_fields(message["fields"], seq)
        else:
            raise ProtocolError("bad_request", "act needs obs (or fields)", seq, "act")
        t1 = time.perf_counter()
        try:
            action = self.policy(obs)
        except ProtocolError as exc:
            exc.seq, exc.type = seq, "act"
            raise
        if not np.isfinite(action).all():  # finite weights can still overflow: never send it
            raise ProtocolError("internal", "the policy's output is not finite for this observation",
                                seq, "act")
        t2 = time.perf_counter()
        policy_us = (t2 - t1) * 1e6
        server_us = (t2 - t0) * 1e6
        i = self._samples % LATENCY_WINDOW
        self._policy_us[i], self._server_us[i] = policy_us, server_us
        self._samples += 1
        self.counts["act_ok"] += 1
        return protocol.pack({
            "v": protocol.PROTOCOL_VERSION, "type": "act", "seq": seq, "ok": True,
            "action": np.asarray(action, protocol.F32).tobytes(),
            "timing": {"policy_us": round(policy_us, 1), "server_us": round(server_us, 1)},
        })

    def _obs_from_fields(self, fields: Any, seq: int) -> np.ndarray:
        if self.builder is None:
            raise ProtocolError("bad_request", "fields need a spec with history 1; send obs", seq, "act")
        if not isinstance(fields, dict):
            raise ProtocolError("bad_request", "fields: a map of name -> values", seq, "act")
        # a bare number is one value (the doc's "phase as the angle")
        values = {name: protocol.vector(_as_list(fields[name]), None, name, seq)
                  for name in self.builder.names if name in fields}
        unknown = sorted(set(fields) - set(self.builder.names))
        if unknown:
            raise ProtocolError("bad_request", f"fields: unknown names {', '.join(map(str, unknown))}",
                                seq, "act")
        try:
            return self.builder.frame(values)
        except ObservationError as exc:
            raise ProtocolError("bad_size", str(exc), seq, "act") from None

    # --- stats and info ------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        n = min(self._samples, LATENCY_WINDOW)
        return {
            "uptime_s": round(time.time() - self.started, 3),
            "counts": dict(self.counts),
            "errors_by_code": dict(self.error_counts),
            "latency_window": n,
            "server_us": protocol.percentiles(self._server_us[:n]),
            "policy_us": protocol.percentiles(self._policy_us[:n]),
            "spec_hash": self.bundle.spec_hash,
            "npz_sha256": self.bundle.meta.get("npz_sha256"),
            "reloading": self._reload is not None,
        }

    def info(self) -> dict[str, Any]:
        return {
            "protocol": protocol.PROTOCOL_VERSION,
            "spec_hash": self.bundle.spec_hash,
            "config_sha256": self.bundle.config_sha256,
            "obs_size": self.bundle.obs_size,
            "action_size": self.bundle.action_size,
            "ctrl_dt": float(self.bundle.spec["ctrl_dt"]),
            "max_message_bytes": self.max_message_bytes,
            "backend": self.backend,
            "mode": self.mode,
            "fields": self.builder is not None,
            "spec": self.bundle.spec,
        }

    # --- hot reload ----------------------------------------------------------------
    def _start_reload(self, message: dict, envelope: list[bytes]) -> bytes | None:
        seq = message["seq"]
        if not self.allow_reload:
            raise ProtocolError("reload_refused", f"reload is disabled on this server ({self.mode})",
                                seq, "reload")
        protocol.check_spec(message, self.bundle.spec_hash)
        path = message.get("bundle")
        if not isinstance(path, str) or not path:
            raise ProtocolError("bad_request", "reload needs bundle (a directory path)", seq, "reload")
        if self._reload is not None:
            raise ProtocolError("busy", "a reload is already running", seq, "reload")

        def load():
            bundle = Bundle(path)
            return bundle, make_policy(bundle, self.backend)

        self._reload = (self._reload_pool.submit(load), envelope, seq)
        return None

    def _finish_reload(self) -> None:
        future, envelope, seq = self._reload
        self._reload = None
        message = {"type": "reload", "seq": seq}
        try:
            bundle, policy = future.result()
            if bundle.spec_hash != self.bundle.spec_hash:
                raise ProtocolError("reload_refused",
                                    f"new bundle's spec {bundle.spec_hash[:12]} differs from the "
                                    f"served {self.bundle.spec_hash[:12]}", seq, "reload")
        except ProtocolError as exc:
            self._count_error(exc.code)
            self._send(envelope, protocol.error_reply(exc.code, str(exc), seq, "reload"))
            return
        except Exception as exc:  # BundleError, OSError, a broken onnx file, ...
            self._count_error("reload_refused")
            self._send(envelope, protocol.error_reply("reload_refused", f"{exc}", seq, "reload"))
            return
        self.bundle, self.policy = bundle, policy
        self.counts["reloads"] += 1
        self.log(f"reloaded {bundle.directory} (weights {bundle.meta.get('npz_sha256', '')[:12]})")
        self._send(envelope, self._reply(message, npz_sha256=bundle.meta.get("npz_sha256"),
                                         bundle=str(bundle.directory)))
