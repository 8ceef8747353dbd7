"""The trainer's transition receiver against the robot's streamer and a raw socket."""

from __future__ import annotations

import json
import pathlib
import time

import msgpack
import numpy as np
import zmq

from playground.online.receiver import TransitionReceiver
from playground.serve import transitions as wire
from playground.serve.spec import spec_hash

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = json.loads((ROOT / "policies" / "humanoid_walk_cpu" / "policy_spec.json").read_text())["spec"]
HASH = spec_hash(SPEC)
OBS, ACT = 62, 17


def _wait(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_streamed_transitions_arrive_in_order_as_one_batch():
    streamer = wire.TransitionStreamer("tcp://127.0.0.1:*", SPEC)
    receiver = TransitionReceiver(streamer.endpoint, SPEC, log=lambda _: None)
    try:
        for i in range(20):
            streamer.push(np.full(OBS, i), np.full(ACT, -0.5), np.full(OBS, i + 1),
                          reward=0.5 * i, terminated=i == 19, policy_version=i // 10, t=0.02 * i)
        _wait(lambda: receiver.counters["accepted"] == 20)
        batch = receiver.drain()
        assert len(batch) == 20 and receiver.drain() is None  # drained once
        assert batch.obs.shape == (20, OBS) and batch.action.shape == (20, ACT)
        assert batch.obs.dtype == np.float32 and batch.next_obs[3, 0] == 4.0
        np.testing.assert_array_equal(batch.seq, np.arange(20))
        np.testing.assert_allclose(batch.reward, 0.5 * np.arange(20))
        assert batch.terminated.tolist() == [False] * 19 + [True]
        assert batch.policy_version.tolist() == [0] * 10 + [1] * 10
        assert receiver.counters["lost"] == 0 and receiver.counters["refused"] == 0
    finally:
        receiver.close()
        streamer.close()


def test_malformed_messages_are_counted_never_fatal_and_gaps_are_lost():
    """A raw PUSH socket stands in for a faulty robot: garbage, another spec, a NaN, then
    valid transitions with a gap in their sequence numbers."""
    context = zmq.Context.instance()
    robot = context.socket(zmq.PUSH)
    robot.setsockopt(zmq.LINGER, 0)
    port = robot.bind_to_random_port("tcp://127.0.0.1")
    logged = []
    receiver = TransitionReceiver(f"tcp://127.0.0.1:{port}", SPEC, log=logged.append)

    def valid(seq, **kw):
        return wire.transition_message(seq, HASH, 0, 0.0, np.zeros(OBS), np.zeros(ACT),
                                       np.zeros(OBS), reward=1.0, **kw)
    try:
        payloads = [b"not msgpack \xc1", msgpack.packb({"v": 1}),
                    wire.transition_message(0, "f" * 64, 0, 0.0, np.zeros(OBS), np.zeros(ACT),
                                            np.zeros(OBS), reward=1.0),
                    valid(0), valid(1),
                    wire.transition_message(2, HASH, 0, 0.0, np.full(OBS, np.nan),
                                            np.zeros(ACT), np.zeros(OBS), reward=1.0),
                    valid(5, dropped=2), b"\xc1"]
        for payload in payloads:
            robot.send(payload)
        _wait(lambda: receiver.counters["received"] == len(payloads))
        assert receiver.counters["accepted"] == 3 and receiver.counters["refused"] == 5
        assert receiver.refusals == {"bad_msgpack": 2, "bad_request": 1, "spec_mismatch": 1,
                                     "not_finite": 1}
        assert len(logged) == 4  # the first of each reason
        assert receiver.counters["lost"] == 3  # seq 2 (refused), 3, 4 never accepted
        assert receiver.counters["robot_dropped"] == 2
        assert receiver.drain().seq.tolist() == [0, 1, 5]
    finally:
        receiver.close()
        robot.close(0)


def test_a_full_buffer_drops_the_oldest_and_counts_them():
    streamer = wire.TransitionStreamer("tcp://127.0.0.1:*", SPEC)
    receiver = TransitionReceiver(streamer.endpoint, SPEC, capacity=8, log=lambda _: None)
    try:
        for i in range(12):
            streamer.push(np.zeros(OBS), np.zeros(ACT), np.zeros(OBS),
                          measurements={"height": [0.3 + i]})
        _wait(lambda: receiver.counters["accepted"] == 12)
        batch = receiver.drain()
        assert receiver.counters["overflow"] == 4 and batch.seq.tolist() == list(range(4, 12))
        assert np.isnan(batch.reward).all()  # measurements only: the trainer computes rewards
        np.testing.assert_allclose(batch.measurements["height"][:, 0], 0.3 + np.arange(4, 12))
    finally:
        receiver.close()
        streamer.close()
