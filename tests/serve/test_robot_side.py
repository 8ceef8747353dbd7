"""Robot-side pieces against numbers worked out by hand: safety filter, observation builder,
watchdog, protocol checks."""

import math
import threading
import time

import numpy as np
import pytest

from playground.serve import protocol
from playground.serve.client import SafetyFilter, Watchdog
from playground.serve.observation import ObservationBuilder, ObservationError

# Two joints: default pose [0, 1], limits [-1, 1] and [0, 2], action scale 0.5, 10 Hz.
SPEC = {
    "ctrl_dt": 0.1,
    "action": {"size": 2, "scale": 0.5, "ctrl_range": [[-1.0, 1.0], [0.0, 2.0]]},
    "default_pose": [0.0, 1.0],
    "observation": {
        "frame": [
            {"name": "gyro", "start": 0, "size": 2, "scale": 0.5},
            {"name": "joint_pos", "start": 2, "size": 2, "scale": 1.0},
            {"name": "last_action", "start": 4, "size": 2, "scale": 1.0},
            {"name": "phase", "start": 6, "size": 2, "scale": 1.0},
        ],
        "frame_size": 8, "history": 2, "gait_frequency_hz": 2.5,
    },
}


def make_filter(**kwargs):
    # max step 1.0 rad/s * 0.1 s = 0.1; soft start 4 steps; hold 2 steps; fallback 3 steps
    options = dict(max_velocity=1.0, soft_start_s=0.4, hold_s=0.2, fallback_s=0.3)
    return SafetyFilter(SPEC, **{**options, **kwargs})


def run(safety, actions):
    commands = [safety.step(a) for a in actions]
    return np.array([c.targets for c in commands]), [c.mode for c in commands], commands


def test_soft_start_rate_limit_hold_fallback_and_recovery():
    safety = make_filter()
    safety.start([0.5, 1.0])
    # action [1, 1] -> target default + 0.5 = [0.5, 1.5]; soft start blends 1/4..4/4 of it
    # with the start pose: desired joint 2 = 1.125, 1.25, 1.375, 1.5; rate limit 0.1 per step
    targets, modes, _ = run(safety, [[1.0, 1.0]] * 5)
    np.testing.assert_allclose(targets[:, 1], [1.1, 1.2, 1.3, 1.4, 1.5])
    np.testing.assert_allclose(targets[:, 0], 0.5)
    assert modes == ["soft_start"] * 3 + ["policy"] * 2
    # no reply: hold twice, then ramp to the default pose over 3 steps (desired 1/3, 2/3, 1
    # of the way), each step still at most 0.1: [0.4, 1.4], [0.3, 1.3], [0.2, 1.2], ...
    targets, modes, _ = run(safety, [None] * 7)
    np.testing.assert_allclose(targets, [[0.5, 1.5], [0.5, 1.5], [0.4, 1.4], [0.3, 1.3],
                                         [0.2, 1.2], [0.1, 1.1], [0.0, 1.0]], atol=1e-12)
    assert modes == ["hold", "hold"] + ["fallback"] * 5
    # replies again: soft start from [0, 1] toward target [-0.5, 1.0]: desired -0.125 -> -0.1
    targets, modes, _ = run(safety, [[-1.0, 0.0]] * 2)
    np.testing.assert_allclose(targets, [[-0.1, 1.0], [-0.2, 1.0]], atol=1e-12)
    assert modes == ["soft_start"] * 2
    assert safety.counters == {"steps": 14, "holds": 2, "fallbacks": 1, "estops": 0,
                               "recoveries": 1}


def test_a_short_gap_holds_then_resumes_without_ramp():
    safety = make_filter(soft_start_s=0.1)
    safety.start([0.0, 1.0])
    run(safety, [[0.2, 0.2]] * 2)  # target [0.1, 1.1], reached in one step
    targets, modes, _ = run(safety, [None, [np.nan, 0.0], [0.4, 0.4]])  # NaN: no reply
    np.testing.assert_allclose(targets, [[0.1, 1.1], [0.1, 1.1], [0.2, 1.2]])
    assert modes == ["hold", "hold", "policy"]


def test_damping_fallback_fades_the_gain_and_holds_the_pose():
    safety = make_filter(fallback="damping", soft_start_s=0.1)
    safety.start([0.0, 1.0])
    run(safety, [[0.0, 0.0]])
    targets, modes, commands = run(safety, [None] * 6)
    assert [round(c.kp_scale, 6) for c in commands] == [1.0, 1.0, round(2 / 3, 6),
                                                        round(1 / 3, 6), 0.0, 0.0]
    np.testing.assert_allclose(targets, [[0.0, 1.0]] * 6)
    # the gain comes back along the soft-start ramp (here one step)
    _, modes, commands = run(safety, [[0.0, 0.0]])
    assert modes == ["policy"] and commands[0].kp_scale == 1.0


def test_estop_latches_until_reset():
    pressed = threading.Event()
    safety = make_filter(estop=pressed.is_set)
    safety.start([0.0, 1.0])
    run(safety, [[1.0, 1.0]] * 5)  # at [0.5, 1.5]
    pressed.set()
    targets, modes, _ = run(safety, [[1.0, 1.0]] * 3)  # replies keep coming: ignored
    assert modes == ["estop"] * 3
    np.testing.assert_allclose(targets, [[0.4, 1.4], [0.3, 1.3], [0.2, 1.2]], atol=1e-12)
    pressed.clear()
    safety.reset_estop()
    _, modes, _ = run(safety, [[1.0, 1.0]])
    assert modes == ["soft_start"] and safety.counters["estops"] == 1


def test_targets_are_clipped_to_joint_limits():
    safety = SafetyFilter({**SPEC, "action": {**SPEC["action"], "scale": 3.0}}, max_velocity=100)
    # default [0, 1] + clip(action, -1, 1) * 3, then clipped to [-1, 1] and [0, 2]
    np.testing.assert_allclose(safety.targets_of([5.0, -0.5]), [1.0, 0.0])
    safety.start([0.0, 1.0])
    targets, _, _ = run(safety, [[1.0, -1.0]] * 30)
    assert targets.max(axis=0)[0] <= 1.0 and targets.min(axis=0)[1] >= 0.0


def test_observation_builder_by_hand():
    builder = ObservationBuilder(SPEC)
    assert builder.size == 16 and builder.required_readings() == ["gyro", "joint_pos"]
    # frame = [gyro * 0.5, joint_pos - default_pose, last_action, sin/cos phase]
    obs = builder.reset({"gyro": [2.0, 4.0], "joint_pos": [0.1, 0.8]}, phase=0.0)
    first = [1.0, 2.0, 0.1, -0.2, 0.0, 0.0, 0.0, 1.0]
    np.testing.assert_allclose(obs, first * 2, atol=1e-7)  # history filled with frame 0
    builder.set_last_action([2.0, -0.5])  # clipped to [1, -0.5]
    # the clock advances 2 pi * 2.5 Hz * 0.1 s = pi / 2: [sin, cos] = [1, 0]
    obs = builder.step({"gyro": [0.0, 0.0], "joint_pos": [0.6, 1.0]})
    np.testing.assert_allclose(obs, [0.0, 0.0, 0.6, 0.0, 1.0, -0.5, 1.0, 0.0] + first, atol=1e-7)
    assert builder.phase == pytest.approx(math.pi / 2)
    with pytest.raises(ObservationError, match="missing readings: gyro"):
        builder.step({"joint_pos": [0.0, 0.0]})
    with pytest.raises(ObservationError, match="joint_pos: 3 values, the spec says 2"):
        builder.step({"gyro": [0, 0], "joint_pos": [0, 0, 0]})
    with pytest.raises(ObservationError, match="gyro: non-finite"):
        builder.step({"gyro": [np.nan, 0], "joint_pos": [0, 0]})


def test_flat_layout_specs_build_too():
    spec = {"ctrl_dt": 0.02, "action_size": 1,
            "observation_layout": [{"name": "cart", "size": 1, "scale": 1.0},
                                   {"name": "pole", "size": 2, "scale": 2.0}]}
    builder = ObservationBuilder(spec)
    np.testing.assert_allclose(builder.reset({"cart": 0.5, "pole": [1.0, -1.0]}), [0.5, 2.0, -2.0])


def test_watchdog_trips_once_when_kicks_stop():
    trips = []
    dog = Watchdog(0.1, lambda: trips.append(time.monotonic()))
    for _ in range(10):
        time.sleep(0.02)
        dog.kick()
    assert not dog.tripped.is_set()
    stopped = time.monotonic()
    assert dog.tripped.wait(1.0)
    assert len(trips) == 1 and 0.09 < trips[0] - stopped < 0.5
    dog.stop()


def test_protocol_checks_and_percentiles():
    np.testing.assert_array_equal(protocol.vector([1, 2.5], 2, "obs", 0), [1.0, 2.5])
    for value, code in (([True, 1.0], "bad_dtype"), ([1.0], "bad_size"), (b"abc", "bad_dtype"),
                        ([float("nan"), 0.0], "not_finite"), ([1e300, 0.0], "not_finite"),
                        ({"a": 1}, "bad_dtype")):
        with pytest.raises(protocol.ProtocolError) as info:
            protocol.vector(value, 2, "obs", 0)
        assert info.value.code == code
    # numpy's linear interpolation over 1..100: p50 = 50.5, p90 = 90.1, p99 = 99.01
    stats = protocol.percentiles(np.arange(1.0, 101.0))
    assert stats == {"p50": 50.5, "p90": 90.1, "p99": 99.0, "max": 100.0}
    with pytest.raises(protocol.ProtocolError, match="seq"):
        protocol.parse_request(protocol.pack({"v": 1, "type": "act", "seq": True}), 1000)
