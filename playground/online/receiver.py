"""The trainer's end of the transition stream: a thread that pulls, checks and keeps.

    receiver = TransitionReceiver("tcp://robot:5559", spec)   # connects; ZMQ reconnects
    between jitted chunks:
        batch = receiver.drain()      # every valid transition since the last drain, or None
    receiver.close()

Every message is checked (`playground.serve.transitions.parse_transition`: size, msgpack,
version, spec hash, dtypes and lengths, finite values); a refused one is counted under its
reason and the first of each reason is logged, and the stream goes on. Valid transitions
wait in a bounded buffer (`capacity`; when the learner falls behind, the oldest are
dropped and counted as `overflow`). Sequence gaps are counted as `lost` (dropped on the
robot or on the way); the robot's own drop count arrives in every message.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable

import numpy as np
import zmq

from playground.serve import protocol
from playground.serve import transitions as wire
from playground.serve.spec import action_size, spec_hash


@dataclasses.dataclass
class TransitionBatch:
    """Transitions in arrival order: [N, ...] float32 arrays, [N] flags and counters."""

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    reward: np.ndarray  # NaN where the robot sent measurements instead
    terminated: np.ndarray
    truncated: np.ndarray
    policy_version: np.ndarray
    t: np.ndarray
    seq: np.ndarray
    measurements: dict[str, np.ndarray]  # names every row carries, [N, k]

    def __len__(self) -> int:
        return int(self.seq.shape[0])


class TransitionReceiver:
    """Pull transitions for the policy of `spec` from `endpoint` on a background thread."""

    def __init__(self, endpoint: str, spec: dict, *, capacity: int = 65536,
                 max_bytes: int = wire.DEFAULT_MAX_TRANSITION_BYTES,
                 curve: wire.StreamCurve | None = None, context: zmq.Context | None = None,
                 log: Callable[[str], None] = print):
        self.spec_hash = spec_hash(spec)
        self.obs_size, self.action_size = wire.obs_size(spec), action_size(spec)
        self.max_bytes = int(max_bytes)
        self.log = log
        self.context = context or zmq.Context.instance()
        self.socket = wire.connect_pull(self.context, endpoint, curve, self.max_bytes)
        self._rows: collections.deque[dict] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.counters = {"received": 0, "accepted": 0, "refused": 0, "overflow": 0, "lost": 0,
                         "robot_dropped": 0}
        self.refusals: dict[str, int] = {}
        self._last_seq: int | None = None
        self._measurement_sizes: dict[str, int] = {}  # fixed by the first transition
        self._thread = threading.Thread(target=self._receive_loop, name="transition-receiver",
                                        daemon=True)
        self._thread.start()

    def _receive_loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(50):
                continue
            try:
                payload = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                continue
            except zmq.ZMQError:
                if self._stop.is_set():
                    return
                raise
            self._take(payload)

    def _take(self, payload: bytes) -> None:
        self.counters["received"] += 1
        try:
            row = wire.parse_transition(payload, self.spec_hash, self.obs_size, self.action_size,
                                        self.max_bytes)
        except protocol.ProtocolError as e:
            self.counters["refused"] += 1
            if e.code not in self.refusals:
                self.log(f"online: refused a transition ({e.code}): {e}")
            self.refusals[e.code] = self.refusals.get(e.code, 0) + 1
            return
        for name, value in row.get("measurements", {}).items():
            size = self._measurement_sizes.setdefault(name, value.size)
            if value.size != size:
                self.counters["refused"] += 1
                self.refusals["bad_size"] = self.refusals.get("bad_size", 0) + 1
                return
        if self._last_seq is not None and row["seq"] > self._last_seq + 1:
            self.counters["lost"] += row["seq"] - self._last_seq - 1
        self._last_seq = row["seq"]  # a smaller seq: the robot's streamer restarted
        self.counters["robot_dropped"] = row["dropped"]
        with self._lock:
            if len(self._rows) == self._rows.maxlen:
                self.counters["overflow"] += 1
            self._rows.append(row)
        self.counters["accepted"] += 1

    def drain(self) -> TransitionBatch | None:
        """Every transition accepted since the last drain (None when there is none)."""
        with self._lock:
            rows = list(self._rows)
            self._rows.clear()
        if not rows:
            return None
        names = set.intersection(*(set(r.get("measurements", {})) for r in rows))
        return TransitionBatch(
            obs=np.stack([r["obs"] for r in rows]),
            action=np.stack([r["action"] for r in rows]),
            next_obs=np.stack([r["next_obs"] for r in rows]),
            reward=np.asarray([r.get("reward", np.nan) for r in rows], np.float32),
            terminated=np.asarray([r["terminated"] for r in rows]),
            truncated=np.asarray([r["truncated"] for r in rows]),
            policy_version=np.asarray([r["policy_version"] for r in rows], np.int64),
            t=np.asarray([r["t"] for r in rows], np.float64),
            seq=np.asarray([r["seq"] for r in rows], np.int64),
            measurements={n: np.stack([r["measurements"][n] for r in rows]) for n in sorted(names)},
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.socket.close(0)
