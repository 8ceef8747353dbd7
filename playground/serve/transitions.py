"""Transitions from the robot to a remote trainer: the wire format and the robot's streamer.

The robot binds a PUSH socket (e.g. `tcp://*:5559`); the trainer connects a PULL socket to
it (through an SSH tunnel when it is remote) and pulls. One ZMQ message per control step,
one msgpack map (never pickle), every field checked by the trainer (`parse_transition`):

    v               int    TRANSITION_VERSION
    type            str    "transition"
    seq             int    the streamer's count of transitions pushed (0, 1, ...): a gap is
                           a transition dropped on the robot or lost on the way
    spec            str    spec hash of the policy's contract (playground.serve.spec): the
                           trainer refuses transitions of another observation layout
    policy_version  int    which policy acted (the caller's count of policy reloads)
    t               float  robot time of the observation, seconds (monotonic clock)
    obs             bytes  float32 little-endian [obs_size]: the observation the policy saw
    action          bytes  float32 LE [action_size]: the policy's action in [-1, 1]
                           (before the safety filter)
    next_obs        bytes  float32 LE [obs_size]: the observation one control step later
                           (before any reset)
    reward          float  the step's reward as the robot computed it, or absent with
    measurements    map    {name: float32 LE bytes or a list of numbers} the task's reward
                           needs, computed on the trainer (at least one of the two)
    terminated      bool   the episode ended in a terminal state (no bootstrap)
    truncated       bool   the episode was cut by a time limit (bootstrap from next_obs)
    dropped         int    transitions this streamer dropped so far (oldest first)

The streamer never blocks the control loop: `push` packs the message and appends it to a
bounded queue (when full the oldest is dropped and counted), and a sender thread moves the
queue into the socket without blocking. While no trainer is connected (or it is slow) the
messages wait in the queue; a trainer that connects, or reconnects after a restart, gets
the newest `queue_size` of them.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import pathlib
import threading
import time
from typing import Any

import numpy as np
import zmq

from playground.serve import protocol
from playground.serve.keys import secure_client_socket, secure_server_socket
from playground.serve.spec import action_size, observation_frame, spec_hash

TRANSITION_VERSION = 1
MESSAGE_TYPE = "transition"
#: Largest transition message a trainer reads by default (bytes).
DEFAULT_MAX_TRANSITION_BYTES = 256 * 1024
#: Why a message was refused (the trainer counts each; none is fatal).
REFUSALS = ("too_large", "bad_msgpack", "bad_request", "bad_version", "spec_mismatch",
            "bad_dtype", "bad_size", "not_finite")
_F32 = protocol.F32


@dataclasses.dataclass(frozen=True)
class StreamCurve:
    """CurveZMQ for the transition stream. The robot binds, so it holds the server keys:
    its secret key file and a folder of the trainers' public keys it lets in. The trainer
    connects with the robot's public key file and its own secret key file."""

    server_secret_file: pathlib.Path | None = None
    allowed_clients_dir: pathlib.Path | None = None
    server_public_file: pathlib.Path | None = None
    client_secret_file: pathlib.Path | None = None


def obs_size(spec: dict) -> int:
    """Length of the policy's observation vector (frame size x history)."""
    _, frame_size, history = observation_frame(spec)
    return frame_size * history


def transition_message(seq: int, spec_hash_: str, policy_version: int, t: float,
                       obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, *,
                       reward: float | None = None, measurements: dict | None = None,
                       terminated: bool = False, truncated: bool = False,
                       dropped: int = 0) -> bytes:
    """One transition as the wire carries it (see the module docstring)."""
    message: dict[str, Any] = {
        "v": TRANSITION_VERSION, "type": MESSAGE_TYPE, "seq": int(seq), "spec": spec_hash_,
        "policy_version": int(policy_version), "t": float(t),
        "obs": np.ascontiguousarray(obs, _F32).tobytes(),
        "action": np.ascontiguousarray(action, _F32).tobytes(),
        "next_obs": np.ascontiguousarray(next_obs, _F32).tobytes(),
        "terminated": bool(terminated), "truncated": bool(truncated), "dropped": int(dropped),
    }
    if reward is not None:
        message["reward"] = float(reward)
    if measurements:
        message["measurements"] = {str(k): np.ascontiguousarray(v, _F32).tobytes()
                                   for k, v in measurements.items()}
    return protocol.pack(message)


def _int(message: dict, name: str, seq: int | None) -> int:
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < protocol.SEQ_LIMIT:
        raise protocol.ProtocolError("bad_request", f"{name}: an integer in [0, 2**63) is required",
                                     seq, MESSAGE_TYPE)
    return value


def _bool(message: dict, name: str, seq: int) -> bool:
    value = message.get(name)
    if not isinstance(value, bool):
        raise protocol.ProtocolError("bad_request", f"{name}: true or false is required", seq,
                                     MESSAGE_TYPE)
    return value


def parse_transition(payload: bytes, expected_spec_hash: str, obs_size_: int, action_size_: int,
                     max_bytes: int = DEFAULT_MAX_TRANSITION_BYTES) -> dict[str, Any]:
    """Decode and check one transition message; raises protocol.ProtocolError (its `code`
    one of REFUSALS, a one-line message). Returns plain values and float32 arrays."""
    if len(payload) > max_bytes:
        raise protocol.ProtocolError("too_large", f"{len(payload)} bytes > {max_bytes}")
    message = protocol.unpack(payload, max_bytes)
    if not isinstance(message, dict):
        raise protocol.ProtocolError("bad_request", "a transition is a msgpack map")
    seq = _int(message, "seq", None)
    if message.get("v") != TRANSITION_VERSION:
        raise protocol.ProtocolError("bad_version", f"v must be {TRANSITION_VERSION}", seq,
                                     MESSAGE_TYPE)
    if message.get("type") != MESSAGE_TYPE:
        raise protocol.ProtocolError("bad_request", f"type must be {MESSAGE_TYPE!r}", seq)
    spec = message.get("spec")
    if not isinstance(spec, str):
        raise protocol.ProtocolError("bad_request", "spec: the spec hash (string) is required",
                                     seq, MESSAGE_TYPE)
    if spec != expected_spec_hash:
        raise protocol.ProtocolError(
            "spec_mismatch", f"transition of spec {spec[:12]}, the trainer's policy is "
            f"{expected_spec_hash[:12]} (another observation layout)", seq, MESSAGE_TYPE)
    t = message.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise protocol.ProtocolError("bad_request", "t: a finite number (seconds) is required",
                                     seq, MESSAGE_TYPE)
    out: dict[str, Any] = {
        "seq": seq, "policy_version": _int(message, "policy_version", seq), "t": float(t),
        "dropped": _int(message, "dropped", seq),
        "terminated": _bool(message, "terminated", seq),
        "truncated": _bool(message, "truncated", seq),
    }
    for name, size in (("obs", obs_size_), ("action", action_size_), ("next_obs", obs_size_)):
        out[name] = _vector(message.get(name), size, name, seq)
    reward, measurements = message.get("reward"), message.get("measurements")
    if reward is None and not measurements:
        raise protocol.ProtocolError("bad_request", "reward or measurements is required", seq,
                                     MESSAGE_TYPE)
    if reward is not None:
        if isinstance(reward, bool) or not isinstance(reward, (int, float)):
            raise protocol.ProtocolError("bad_dtype", "reward: a number is expected", seq,
                                         MESSAGE_TYPE)
        if not math.isfinite(reward):
            raise protocol.ProtocolError("not_finite", "reward: NaN or inf", seq, MESSAGE_TYPE)
        out["reward"] = float(reward)
    if measurements is not None:
        if not isinstance(measurements, dict):
            raise protocol.ProtocolError("bad_request", "measurements: a map is expected", seq,
                                         MESSAGE_TYPE)
        out["measurements"] = {name: _vector(value, None, f"measurements.{name}", seq)
                               for name, value in measurements.items()}
    return out


def _vector(value: Any, size: int | None, name: str, seq: int) -> np.ndarray:
    try:
        return protocol.vector(value, size, name, seq)
    except protocol.ProtocolError as e:  # the same checks as an act request, this type
        raise protocol.ProtocolError(e.code, str(e), seq, MESSAGE_TYPE) from None


class TransitionStreamer:
    """The robot's end: `push` one transition per control step; it never blocks.

        streamer = TransitionStreamer("tcp://*:5559", spec)
        every control step:
            streamer.push(obs, action, next_obs, reward=r, terminated=..., truncated=...,
                          policy_version=v)
        streamer.close()

    `counters`: pushed, sent, dropped (the oldest, from a full queue); `queued`: waiting now.
    """

    def __init__(self, bind: str, spec: dict, *, queue_size: int = 4096,
                 curve: StreamCurve | None = None, context: zmq.Context | None = None,
                 clock=time.monotonic):
        if queue_size < 1:
            raise ValueError(f"queue_size {queue_size}: must be >= 1")
        self.spec_hash = spec_hash(spec)
        self.obs_size, self.action_size = obs_size(spec), action_size(spec)
        self.clock = clock
        self.context = context or zmq.Context.instance()
        self.socket = self.context.socket(zmq.PUSH)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SNDHWM, 64)  # the queue below holds the rest, oldest out
        self._auth = None
        if curve is not None:
            self._auth = secure_server_socket(self.context, self.socket, curve.server_secret_file,
                                              curve.allowed_clients_dir)
        self.socket.bind(bind)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._queue: collections.deque[bytes] = collections.deque(maxlen=queue_size)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.counters = {"pushed": 0, "sent": 0, "dropped": 0}
        self._in_flight = False
        self._thread = threading.Thread(target=self._send_loop, name="transition-streamer",
                                        daemon=True)
        self._thread.start()

    def push(self, obs, action, next_obs, *, reward: float | None = None,
             measurements: dict | None = None, terminated: bool = False,
             truncated: bool = False, policy_version: int = 0, t: float | None = None) -> None:
        """Queue one transition (packed now, so later changes to the arrays do not show)."""
        with self._lock:
            seq = self.counters["pushed"]
            payload = transition_message(
                seq, self.spec_hash, policy_version, self.clock() if t is None else t, obs,
                action, next_obs, reward=reward, measurements=measurements,
                terminated=terminated, truncated=truncated, dropped=self.counters["dropped"])
            if len(self._queue) == self._queue.maxlen:
                self.counters["dropped"] += 1  # the deque drops its oldest on append
            self._queue.append(payload)
            self.counters["pushed"] += 1
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                payload = self._queue.popleft() if self._queue else None
                self._in_flight = payload is not None
            if payload is None:
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            try:
                self.socket.send(payload, zmq.NOBLOCK)
                sent = True
            except zmq.Again:  # no trainer connected, or its pipe is full: keep it queued
                sent = False
            except zmq.ZMQError:
                if self._stop.is_set():
                    return
                raise
            with self._lock:
                if sent:
                    self.counters["sent"] += 1
                elif len(self._queue) == self._queue.maxlen:
                    self.counters["dropped"] += 1  # the queue filled meanwhile: it was the oldest
                else:
                    self._queue.appendleft(payload)
                self._in_flight = False
            if not sent:
                self._stop.wait(0.002)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every pushed transition is sent or dropped, or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._queue and not self._in_flight:
                    return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=2.0)
        self.socket.close(0)
        if self._auth is not None:
            self._auth.stop()


def connect_pull(context: zmq.Context, endpoint: str, curve: StreamCurve | None = None,
                 max_bytes: int = DEFAULT_MAX_TRANSITION_BYTES) -> zmq.Socket:
    """The trainer's end of the stream: a PULL socket connected to the robot's streamer
    (ZMQ reconnects by itself after either side restarts)."""
    socket = context.socket(zmq.PULL)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 1024)
    socket.setsockopt(zmq.MAXMSGSIZE, 4 * max_bytes)  # beyond this, ZMQ cuts the peer off
    socket.setsockopt(zmq.RECONNECT_IVL, 100)
    socket.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
    if curve is not None:
        secure_client_socket(socket, curve.server_public_file, curve.client_secret_file)
    socket.connect(endpoint)
    return socket
