"""The transition wire format and the robot's streamer (numpy + pyzmq + msgpack only)."""

from __future__ import annotations

import json
import pathlib
import time

import msgpack
import numpy as np
import pytest
import zmq

from playground.serve import protocol
from playground.serve import transitions as wire
from playground.serve.spec import spec_hash

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = json.loads((ROOT / "policies" / "humanoid_walk_cpu" / "policy_spec.json").read_text())["spec"]
HASH = spec_hash(SPEC)
OBS, ACT = 62, 17  # the shipped humanoid: a 62-value frame, history 1; 17 actuators


def _message(**changes):
    """A valid transition as a map (then changed), packed."""
    message = {"v": 1, "type": "transition", "seq": 3, "spec": HASH, "policy_version": 2,
               "t": 12.5, "obs": np.arange(OBS, dtype="<f4").tobytes(),
               "action": np.full(ACT, 0.5, "<f4").tobytes(),
               "next_obs": np.ones(OBS, "<f4").tobytes(), "reward": 1.25,
               "terminated": False, "truncated": True, "dropped": 0}
    message.update(changes)
    return msgpack.packb({k: v for k, v in message.items() if v is not ...}, use_bin_type=True)


def test_sizes_come_from_the_spec():
    assert (wire.obs_size(SPEC), SPEC["action"]["size"]) == (OBS, ACT)


def test_a_message_round_trips():
    payload = wire.transition_message(7, HASH, 4, 1.5, np.arange(OBS), np.zeros(ACT),
                                      np.ones(OBS), measurements={"base_vel": [0.1, 0.2, 0.3]},
                                      terminated=True, dropped=2)
    row = wire.parse_transition(payload, HASH, OBS, ACT)
    assert (row["seq"], row["policy_version"], row["t"], row["dropped"]) == (7, 4, 1.5, 2)
    assert row["terminated"] and not row["truncated"] and "reward" not in row
    np.testing.assert_array_equal(row["obs"], np.arange(OBS, dtype=np.float32))
    np.testing.assert_array_equal(row["next_obs"], np.ones(OBS, np.float32))
    np.testing.assert_allclose(row["measurements"]["base_vel"], [0.1, 0.2, 0.3], rtol=1e-7)
    assert wire.parse_transition(_message(), HASH, OBS, ACT)["reward"] == 1.25


@pytest.mark.parametrize("payload, code", [
    (b"\xc1", "bad_msgpack"),
    (msgpack.packb([1, 2]), "bad_request"),
    (_message(seq=-1), "bad_request"),
    (_message(v=2), "bad_version"),
    (_message(type="act"), "bad_request"),
    (_message(spec="0" * 64), "spec_mismatch"),
    (_message(obs=np.zeros(OBS - 1, "<f4").tobytes()), "bad_size"),
    (_message(action=b"\x00" * 5), "bad_dtype"),
    (_message(next_obs=np.full(OBS, np.nan, "<f4").tobytes()), "not_finite"),
    (_message(reward=float("inf")), "not_finite"),
    (_message(reward=...), "bad_request"),  # neither reward nor measurements
    (_message(terminated=1), "bad_request"),
    (_message(t=float("nan")), "bad_request"),
    (b"\x00" * (wire.DEFAULT_MAX_TRANSITION_BYTES + 1), "too_large"),
])
def test_malformed_messages_are_refused_by_reason(payload, code):
    with pytest.raises(protocol.ProtocolError) as error:
        wire.parse_transition(payload, HASH, OBS, ACT)
    assert error.value.code == code and code in wire.REFUSALS
    assert "\n" not in str(error.value)


def _pull(endpoint: str, count: int, timeout_s: float = 10.0) -> list[dict]:
    socket = wire.connect_pull(zmq.Context.instance(), endpoint)
    rows, deadline = [], time.monotonic() + timeout_s
    try:
        while len(rows) < count and time.monotonic() < deadline:
            if socket.poll(100):
                rows.append(wire.parse_transition(socket.recv(), HASH, OBS, ACT))
    finally:
        socket.close(0)
    return rows


def test_with_no_trainer_the_queue_keeps_the_newest_and_counts_the_dropped():
    streamer = wire.TransitionStreamer("tcp://127.0.0.1:*", SPEC, queue_size=4)
    try:
        for i in range(10):  # nobody connected: push returns at once and never blocks
            streamer.push(np.full(OBS, i), np.zeros(ACT), np.full(OBS, i + 1), reward=float(i),
                          truncated=i == 9, policy_version=1)
        assert streamer.counters["pushed"] == 10 and streamer.counters["dropped"] == 6
        assert streamer.counters["sent"] == 0
        rows = _pull(streamer.endpoint, 4)  # a trainer connects: it gets the newest four
        assert [r["seq"] for r in rows] == [6, 7, 8, 9]
        assert [r["reward"] for r in rows] == [6.0, 7.0, 8.0, 9.0]
        assert [r["dropped"] for r in rows] == [2, 3, 4, 5]  # as counted when each was pushed
        assert rows[-1]["truncated"] and rows[0]["obs"][0] == 6.0 and rows[0]["next_obs"][0] == 7.0
        assert streamer.flush(5.0) and streamer.counters["sent"] == 4
    finally:
        streamer.close()


def test_a_trainer_that_reconnects_gets_what_was_pushed_meanwhile():
    streamer = wire.TransitionStreamer("tcp://127.0.0.1:*", SPEC, queue_size=100)
    try:
        streamer.push(np.zeros(OBS), np.zeros(ACT), np.zeros(OBS), reward=0.0)
        assert [r["seq"] for r in _pull(streamer.endpoint, 1)] == [0]
        assert streamer.flush(5.0)
        time.sleep(0.3)  # the first trainer is gone; the streamer notices its pipe closed
        for _ in range(3):
            streamer.push(np.zeros(OBS), np.zeros(ACT), np.zeros(OBS), reward=1.0)
        rows = _pull(streamer.endpoint, 3)
        assert [r["seq"] for r in rows] == [1, 2, 3] and streamer.counters["dropped"] == 0
    finally:
        streamer.close()
