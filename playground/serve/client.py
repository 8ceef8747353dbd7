"""The robot side of the loop: a policy client, a safety filter, a watchdog.

    client = PolicyClient("tcp://127.0.0.1:5555", spec, timeout_s=spec["ctrl_dt"])
    client.check()                      # refuses a server with another spec hash
    safety = SafetyFilter(spec, max_velocity=4.0)
    controller = PolicyController(client, ObservationBuilder(spec), safety)
    command = controller.start(readings, measured_joint_pos)
    every control period:
        command = controller.step(readings)   # command.targets, command.kp_scale, command.mode

A late or missing reply never blocks the loop for longer than one control period: the
filter holds the last target, then ramps to the safe pose (or fades the position gain
to pure damping), always within the per-step rate limit.
"""

from __future__ import annotations

import dataclasses
import pathlib
import select
import threading
import time
from collections.abc import Callable

import msgpack
import numpy as np
import zmq

from playground.serve import protocol
from playground.serve.keys import secure_client_socket
from playground.serve.observation import ObservationBuilder
from playground.serve.recorder import LogRecorder
from playground.serve.spec import action_size, spec_hash


class SpecMismatchError(RuntimeError):
    """The server serves another contract than the client was built for."""


@dataclasses.dataclass(frozen=True)
class ClientCurve:
    """CurveZMQ on the client: the server's public key file and the client's secret key file."""

    server_public_file: pathlib.Path
    client_secret_file: pathlib.Path


class PolicyClient:
    """Send an observation, get an action within `timeout_s`, or None (and count why).

    A DEALER socket (LINGER 0, IMMEDIATE): a reply that comes after its deadline is
    recognised by its sequence number and dropped, so a lost reply never blocks the
    next request (the trap of a REQ socket); while no peer is connected a send fails
    at once instead of queueing. After a timeout, if nothing valid came back for
    `reconnect_after_s`, the socket is closed and a fresh one connects (dropping
    whatever it still queued); reconnecting less often than that avoids a storm of
    handshakes when the period is shorter than a TCP connect.

    `busy_poll=True` spins on the socket until the reply or the deadline instead of
    sleeping in `select`: for a control loop that owns its core anyway, it saves the
    wake-up when the reply arrives (give ZMQ's I/O thread a real-time priority, see
    `realtime.fifo_io_threads`, so that it preempts the spinner).
    """

    def __init__(self, endpoint: str, spec: dict | str, *, timeout_s: float,
                 reconnect_after_s: float | None = None, curve: ClientCurve | None = None,
                 context: zmq.Context | None = None, busy_poll: bool = False):
        self.endpoint = endpoint
        self.spec_hash = spec if isinstance(spec, str) else spec_hash(spec)
        self.action_size = None if isinstance(spec, str) else action_size(spec)
        self.timeout_s = float(timeout_s)
        self.reconnect_after_s = (max(0.1, 5 * self.timeout_s) if reconnect_after_s is None
                                  else float(reconnect_after_s))
        self.curve = curve
        self.busy_poll = busy_poll
        self.context = context or zmq.Context.instance()
        self.seq = 0
        self.counters = {"requests": 0, "replies": 0, "timeouts": 0, "unreachable": 0,
                         "errors": 0, "stale": 0, "reconnects": 0, "pings": 0}
        self.last_error: tuple[str, str] | None = None
        self.last_timing: dict | None = None
        self.socket = None
        self._connect()

    def _connect(self) -> None:
        socket = self.context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.IMMEDIATE, 1)  # no queueing while not connected
        socket.setsockopt(zmq.SNDHWM, 4)
        socket.setsockopt(zmq.RECONNECT_IVL, 10)  # ms: find a restarted server quickly
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, 200)
        if self.curve is not None:
            secure_client_socket(socket, self.curve.server_public_file,
                                 self.curve.client_secret_file)
        socket.connect(self.endpoint)
        self.socket = socket
        self._fd = socket.getsockopt(zmq.FD)
        self._alive_at = time.monotonic()  # connect time or last valid reply

    def reconnect(self) -> None:
        """Close the socket (dropping its queue) and connect a fresh one."""
        self.socket.close(0)
        self.counters["reconnects"] += 1
        self._connect()

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(0)
            self.socket = None

    def _failed(self, counter: str) -> None:
        self.counters[counter] += 1
        if time.monotonic() - self._alive_at > self.reconnect_after_s:
            self.reconnect()

    def _wait(self, event: int, deadline: float) -> bool:
        """Wait for `event` until `deadline` (perf_counter s), to the microsecond.

        zmq's own poll counts whole milliseconds (a 1 kHz loop would give up on a reply
        at once); select() on the socket's edge-triggered FD, re-checking EVENTS after
        every wake-up, sleeps the exact time without spinning (unless `busy_poll`).
        """
        socket, fd = self.socket, self._fd
        if self.busy_poll and event == zmq.POLLIN:  # the reply: spin (EVENTS processes
            # ZMQ's pending commands); a connection still being set up is waited for
            # asleep, so that the kernel's own threads can finish it on this core
            clock, events = time.perf_counter, zmq.EVENTS
            while not socket.getsockopt(events) & event:
                if clock() >= deadline:
                    return False
            return True
        while True:
            if socket.getsockopt(zmq.EVENTS) & event:
                return True
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            select.select([fd], [], [], left)

    def _request(self, payload: bytes, seq: int, timeout_s: float) -> dict | None:
        """Send one request, wait for the reply with `seq` until the deadline."""
        self.counters["requests"] += 1
        deadline = time.perf_counter() + timeout_s
        # no server connected yet (IMMEDIATE): wait for one, but not past the deadline
        while True:
            try:
                self.socket.send_multipart([b"", payload], zmq.NOBLOCK)
                break
            except zmq.Again:
                if not self._wait(zmq.POLLOUT, deadline):
                    self._failed("unreachable")
                    return None
        while True:
            if not self._wait(zmq.POLLIN, deadline):
                self._failed("timeouts")
                return None
            frames = self.socket.recv_multipart()
            try:
                reply = msgpack.unpackb(frames[-1], raw=False)
            except Exception:
                reply = None
            # seq nil: the server could not read the request (this client has one in
            # flight: it is the answer, an error); another seq: a late reply, dropped
            unreadable = isinstance(reply, dict) and reply.get("seq") is None and reply.get("ok") is False
            if not unreadable and (not isinstance(reply, dict) or reply.get("seq") != seq):
                if not (isinstance(reply, dict) and reply.get("type") == "ping"):
                    self.counters["stale"] += 1  # a late reply to an earlier request
                continue
            self.counters["replies"] += 1
            self._alive_at = time.monotonic()
            if not reply.get("ok"):
                self.counters["errors"] += 1
                self.last_error = (str(reply.get("error")), str(reply.get("message")))
            return reply

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % protocol.SEQ_LIMIT
        return self.seq

    def act(self, obs: np.ndarray) -> np.ndarray | None:
        """The action for `obs`, or None if no valid reply came within `timeout_s`."""
        seq = self._next_seq()
        reply = self._request(protocol.act_request(seq, self.spec_hash, obs), seq, self.timeout_s)
        if reply is None or not reply.get("ok"):
            return None
        action = reply.get("action")
        size = 4 * self.action_size if self.action_size is not None else None
        if not isinstance(action, bytes) or len(action) % 4 or size not in (None, len(action)):
            return self._bad_reply("action is not action_size float32 bytes")
        action = np.frombuffer(action, protocol.F32)
        if not np.isfinite(action).all():
            return self._bad_reply("non-finite action")
        self.last_timing = reply.get("timing")
        return action

    def warm(self) -> bool:
        """Send a ping and return at once (its reply is dropped by the next request).

        At slow rates, a ping a millisecond or so before each request finds the path
        (both I/O threads, the kernel's TCP code, the server's decoding) warm again,
        and the request that follows costs about what it costs at 1 kHz. False when
        the message could not be queued (no server connected)."""
        try:
            self.socket.send_multipart([b"", self._message("ping", self._next_seq())], zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.counters["pings"] += 1
        return True

    def _bad_reply(self, message: str) -> None:
        """A reply no robot should act on (a broken or foreign server): counted, dropped."""
        self.counters["errors"] += 1
        self.last_error = ("bad_reply", message)
        return None

    def call(self, type_: str, timeout_s: float = 1.0, **fields) -> dict | None:
        """An info / stats / reload request; the reply map, or None on timeout."""
        seq = self._next_seq()
        return self._request(self._message(type_, seq, spec=self.spec_hash, **fields), seq,
                             timeout_s)

    @staticmethod
    def _message(type_: str, seq: int, **fields) -> bytes:
        """A packed request of `type_` with the common fields (version, type, seq)."""
        return protocol.pack({"v": protocol.PROTOCOL_VERSION, "type": type_, "seq": seq, **fields})

    def check(self, timeout_s: float = 2.0) -> dict:
        """Ask the server what it serves; SpecMismatchError unless it is our spec."""
        info = self.call("info", timeout_s)
        if info is None:
            raise TimeoutError(f"no answer from {self.endpoint} within {timeout_s:.1f} s")
        if info.get("spec_hash") != self.spec_hash:
            raise SpecMismatchError(
                f"{self.endpoint} serves spec {str(info.get('spec_hash'))[:12]}, this client was "
                f"built for {self.spec_hash[:12]}")
        return info


@dataclasses.dataclass
class JointCommand:
    """What the robot driver applies this control period."""

    targets: np.ndarray  # [nu] joint position targets, rad
    kp_scale: float  # 1: full position gain; 0: damping only (fallback "damping")
    mode: str  # soft_start | policy | hold | fallback | estop


class SafetyFilter:
    """Joint targets from policy actions, with limits, rate limit, soft start and fallback.

    Every output differs from the previous one by at most `max_velocity * ctrl_dt`
    per joint: soft start, hold, fallback and recovery all pass through the rate limit.
    Targets are clipped to the spec's `ctrl_range` (a start pose outside it is
    walked into range at the rate limit instead of jumping).

    `estop` (optional): a callable polled every step; True latches the e-stop mode
    (the fallback ramp) until `reset_estop()`.
    """

    MODES = ("soft_start", "policy", "hold", "fallback", "estop")

    def __init__(self, spec: dict, *, max_velocity: float, soft_start_s: float = 2.0,
                 hold_s: float = 0.1, fallback_s: float = 1.0, fallback: str = "pose",
                 safe_pose=None, estop: Callable[[], bool] | None = None):
        if fallback not in ("pose", "damping"):
            raise ValueError("fallback must be 'pose' or 'damping'")
        action = spec["action"]
        self.ctrl_dt = float(spec["ctrl_dt"])
        self.n = action_size(spec)
        self.default_pose = np.asarray(spec["default_pose"], np.float64)
        self.scale = np.asarray(action["scale"], np.float64) * np.ones(self.n)
        limits = np.asarray(action["ctrl_range"], np.float64)
        self.lower, self.upper = limits[:, 0], limits[:, 1]
        self.max_step = float(max_velocity) * self.ctrl_dt
        self.soft_steps = max(1, round(soft_start_s / self.ctrl_dt))
        self.hold_steps = max(0, round(hold_s / self.ctrl_dt))
        self.fallback_steps = max(1, round(fallback_s / self.ctrl_dt))
        self.fallback = fallback
        self.safe_pose = np.clip(self.default_pose if safe_pose is None
                                 else np.asarray(safe_pose, np.float64), self.lower, self.upper)
        self.estop = estop
        self.counters = {"steps": 0, "holds": 0, "fallbacks": 0, "estops": 0, "recoveries": 0}
        self.output = None

    def targets_of(self, action) -> np.ndarray:
        """default_pose + clip(action, -1, 1) * scale, clipped to ctrl_range (the env's rule)."""
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        return np.clip(self.default_pose + action * self.scale, self.lower, self.upper)

    def start(self, current_pose) -> JointCommand:
        """Begin at the measured pose; the policy takes over along the soft-start ramp."""
        self.output = np.asarray(current_pose, np.float64).copy()
        self.kp_scale = 1.0
        self._soft_start()
        self._missed = 0
        self._estopped = False
        return JointCommand(self.output.copy(), self.kp_scale, self.mode)

    def reset_estop(self) -> None:
        """Leave the e-stop latch; the next fresh action soft-starts from the current output."""
        self._estopped = False

    def _soft_start(self) -> None:
        self.mode = "soft_start"
        self._ramp_from, self._kp_ramp_from, self._ramp_step = self.output.copy(), self.kp_scale, 0

    def step(self, action) -> JointCommand:
        """One control period; `action` None (or non-finite) means no usable reply."""
        if self.output is None:
            raise RuntimeError("call start(current_pose) first")
        self.counters["steps"] += 1
        if self.estop is not None and not self._estopped and self.estop():
            self._estopped = True
            self.counters["estops"] += 1
            self._enter_fallback("estop")
        if self._estopped:
            desired = self._fallback_desired()
        elif action is None or not np.all(np.isfinite(action)):
            self._missed += 1
            if self.mode in ("fallback", "estop"):
                desired = self._fallback_desired()
            elif self._missed <= self.hold_steps:
                self.counters["holds"] += 1
                desired = self.output  # hold the last target
                if self.mode != "hold":
                    self._mode_before_hold, self.mode = self.mode, "hold"
            else:
                self._enter_fallback("fallback")
                desired = self._fallback_desired()
        else:
            self._missed = 0
            if self.mode in ("fallback", "estop"):
                self.counters["recoveries"] += 1  # ramp back in, as at start-up
                self._soft_start()
            elif self.mode == "hold":
                self.mode = self._mode_before_hold
            desired = self.targets_of(action)
            if self.mode == "soft_start":
                self._ramp_step += 1
                alpha = min(1.0, self._ramp_step / self.soft_steps)
                desired = (1 - alpha) * self._ramp_from + alpha * desired
                self.kp_scale = self._kp_ramp_from + alpha * (1.0 - self._kp_ramp_from)
                if alpha >= 1.0:
                    self.mode = "policy"
        self.output = self._rate_limited(desired)
        return JointCommand(self.output.copy(), self.kp_scale, self.mode)

    def _rate_limited(self, desired: np.ndarray) -> np.ndarray:
        return self.output + np.clip(desired - self.output, -self.max_step, self.max_step)

    def _enter_fallback(self, mode: str) -> None:
        self.counters["fallbacks"] += 1
        self.mode = mode
        self._fallback_from, self._fallback_step = self.output.copy(), 0
        self._kp_from = self.kp_scale

    def _fallback_desired(self) -> np.ndarray:
        self._fallback_step += 1
        beta = min(1.0, self._fallback_step / self.fallback_steps)
        if self.fallback == "damping":  # hold the pose, fade the position gain to zero
            self.kp_scale = self._kp_from * (1.0 - beta)
            return self._fallback_from
        return (1 - beta) * self._fallback_from + beta * self.safe_pose


class Watchdog:
    """Calls `on_trip` once (from its own thread) if `kick()` stops coming for `timeout_s`.

    Hook the robot's e-stop here: it fires even when the control loop itself hangs.
    """

    def __init__(self, timeout_s: float, on_trip: Callable[[], None]):
        self.timeout_s = float(timeout_s)
        self.on_trip = on_trip
        self.tripped = threading.Event()
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.timeout_s / 4):
            if time.monotonic() - self._last > self.timeout_s:
                self.tripped.set()
                self.on_trip()
                return


class PolicyController:
    """Readings -> observation -> server -> safe joint command, once per control period."""

    def __init__(self, client: PolicyClient, builder: ObservationBuilder, safety: SafetyFilter,
                 watchdog: Watchdog | None = None, recorder: LogRecorder | None = None):
        self.client, self.builder, self.safety, self.watchdog = client, builder, safety, watchdog
        #: a joint log for system identification: one row per period (measured, sent)
        self.recorder = recorder
        self.last_action: np.ndarray | None = None

    def start(self, readings, current_pose, phase: float = 0.0) -> JointCommand:
        """First period: observation from `readings` (history filled), soft start from the pose."""
        self.safety.start(current_pose)
        return self._record(readings, self._act(self.builder.reset(readings, phase)))

    def step(self, readings) -> JointCommand:
        """Every later period: the next observation (gait clock advanced, last action in)."""
        return self._record(readings, self._act(self.builder.step(readings)))

    def _record(self, readings, command: JointCommand) -> JointCommand:
        if self.recorder is not None:
            self.recorder.record(readings["joint_pos"], command.targets, readings.get("joint_vel"))
        return command

    def _act(self, obs: np.ndarray) -> JointCommand:
        action = self.client.act(obs)
        if action is not None:
            self.last_action = action.copy()
            self.builder.set_last_action(action)
        if self.watchdog is not None:
            self.watchdog.kick()
        return self.safety.step(action)
