"""The policy server in-process: act, refusals, fields, stats, info, hot reload, replay."""

import shutil
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from playground.serve import protocol
from playground.serve.bundle import Bundle, NumpyPolicy
from playground.serve.client import PolicyClient, SpecMismatchError
from playground.serve.observation import ObservationBuilder
from playground.serve.server import PolicyServer, load_replay


@pytest.fixture
def serve():
    """serve(bundle_dir, **kwargs) -> running PolicyServer on a free loopback port."""
    running = []

    def start(bundle_dir, policy=None, **kwargs):
        server = PolicyServer(Bundle(bundle_dir), policy, "tcp://127.0.0.1:*", log=lambda m: None,
                              **kwargs)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield start
    for server, thread in running:
        server.stop()
        thread.join(5)


def raw_request(endpoint: str, message, timeout_ms: int = 2000):
    """One request on a fresh DEALER (REQ-style envelope); the decoded reply."""
    with zmq.Context.instance().socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        payload = message if isinstance(message, bytes) else protocol.pack(message)
        sock.send_multipart([b"", payload])
        assert sock.poll(timeout_ms), "no reply"
        return msgpack.unpackb(sock.recv_multipart()[-1], raw=False)


def test_act_returns_the_numpy_policy_action(serve, humanoid_bundle):
    server = serve(humanoid_bundle)
    bundle = Bundle(humanoid_bundle)
    client = PolicyClient(server.endpoint, bundle.spec, timeout_s=1.0)
    info = client.check()
    assert info["obs_size"] == bundle.obs_size and info["action_size"] == bundle.action_size
    policy = NumpyPolicy(bundle)
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs = rng.normal(size=bundle.obs_size).astype(np.float32)
        np.testing.assert_array_equal(client.act(obs), policy(obs))
    assert client.counters["replies"] == 21 and client.counters["timeouts"] == 0
    assert set(client.last_timing) == {"policy_us", "server_us"}
    stats = client.call("stats")
    assert stats["ok"] and stats["counts"]["act_ok"] == 20 and stats["counts"]["errors"] == 0
    assert stats["latency_window"] == 20
    assert 0 < stats["policy_us"]["p50"] <= stats["server_us"]["p50"] <= stats["server_us"]["max"]
    client.close()


def test_a_client_of_another_spec_is_refused(serve, humanoid_bundle):
    server = serve(humanoid_bundle)
    client = PolicyClient(server.endpoint, "0" * 64, timeout_s=1.0)
    with pytest.raises(SpecMismatchError, match="serves spec"):
        client.check()
    assert client.act(np.zeros(Bundle(humanoid_bundle).obs_size, np.float32)) is None
    assert client.last_error[0] == "spec_mismatch" and "re-export" in client.last_error[1]
    client.close()


def test_fields_are_assembled_per_the_spec(serve, humanoid_bundle):
    server = serve(humanoid_bundle)
    bundle = Bundle(humanoid_bundle)
    rng = np.random.default_rng(1)
    readings = {f["name"]: rng.normal(size=f["size"]).tolist()
                for f in bundle.spec["observation"]["frame"]}
    reply = raw_request(server.endpoint, {"v": 1, "type": "act", "seq": 7,
                                          "spec": bundle.spec_hash, "fields": readings})
    assert reply["ok"] and reply["seq"] == 7
    expected = NumpyPolicy(bundle)(ObservationBuilder(bundle.spec).frame(readings))
    np.testing.assert_array_equal(np.frombuffer(reply["action"], "<f4"), expected)
    readings.pop("gyro")
    reply = raw_request(server.endpoint, {"v": 1, "type": "act", "seq": 8,
                                          "spec": bundle.spec_hash, "fields": readings})
    assert not reply["ok"] and reply["error"] == "bad_size" and "gyro" in reply["message"]


def test_hot_reload_same_spec_without_dropping_requests(serve, humanoid_bundle, bundle_factory,
                                                        tmp_path):
    server = serve(humanoid_bundle)
    old = Bundle(humanoid_bundle)
    new_dir = bundle_factory(tmp_path / "new", seed=5)  # same contract, other weights
    other_dir = bundle_factory(tmp_path / "other", overrides=[("env.action_scale", 0.2)])
    new = Bundle(new_dir)
    assert new.spec_hash == old.spec_hash and new.meta["npz_sha256"] != old.meta["npz_sha256"]
    obs = np.linspace(-1, 1, old.obs_size, dtype=np.float32)

    ctx = zmq.Context.instance()
    control = ctx.socket(zmq.DEALER)
    admin = ctx.socket(zmq.DEALER)
    for s in (control, admin):
        s.setsockopt(zmq.LINGER, 0)
        s.connect(server.endpoint)
    admin.send_multipart([b"", protocol.pack({"v": 1, "type": "reload", "seq": 1,
                                              "spec": old.spec_hash, "bundle": str(new_dir)})])
    actions, reload_reply, seq = [], None, 0
    deadline = time.monotonic() + 20
    while reload_reply is None and time.monotonic() < deadline:
        seq += 1  # control requests keep flowing while the new bundle loads
        control.send_multipart([b"", protocol.act_request(seq, old.spec_hash, obs)])
        assert control.poll(1000), f"act {seq} got no reply during the reload"
        reply = msgpack.unpackb(control.recv_multipart()[-1], raw=False)
        assert reply["ok"] and reply["seq"] == seq
        actions.append(np.frombuffer(reply["action"], "<f4"))
        if admin.poll(0):
            reload_reply = msgpack.unpackb(admin.recv_multipart()[-1], raw=False)
    assert reload_reply["ok"] and reload_reply["npz_sha256"] == new.meta["npz_sha256"]
    np.testing.assert_array_equal(actions[0], NumpyPolicy(old)(obs))
    control.send_multipart([b"", protocol.act_request(seq + 1, old.spec_hash, obs)])
    assert control.poll(1000)
    after = msgpack.unpackb(control.recv_multipart()[-1], raw=False)
    np.testing.assert_array_equal(np.frombuffer(after["action"], "<f4"), NumpyPolicy(new)(obs))

    # another contract: refused, the served policy stays
    admin.send_multipart([b"", protocol.pack({"v": 1, "type": "reload", "seq": 2,
                                              "spec": old.spec_hash, "bundle": str(other_dir)})])
    assert admin.poll(20000)
    refused = msgpack.unpackb(admin.recv_multipart()[-1], raw=False)
    assert not refused["ok"] and refused["error"] == "reload_refused" and "differs" in refused["message"]
    broken = tmp_path / "broken"
    shutil.copytree(new_dir, broken)
    (broken / "policy.npz").write_bytes(b"not a zip")
    admin.send_multipart([b"", protocol.pack({"v": 1, "type": "reload", "seq": 3,
                                              "spec": old.spec_hash, "bundle": str(broken)})])
    assert admin.poll(20000)
    refused = msgpack.unpackb(admin.recv_multipart()[-1], raw=False)
    assert refused["error"] == "reload_refused" and "sha256" in refused["message"]
    assert server.stats()["spec_hash"] == old.spec_hash and server.counts["reloads"] == 1
    control.close()
    admin.close()


def test_replay_serves_the_recording_open_loop(serve, humanoid_bundle, tmp_path):
    bundle = Bundle(humanoid_bundle)
    n_obs, n_act = bundle.obs_size, bundle.action_size
    actions = np.random.default_rng(2).uniform(-1.5, 1.5, (3, n_act)).astype(np.float32)
    np.savez(tmp_path / "rec.npz", actions=actions, qpos=np.zeros((3, 24)))
    server = serve(humanoid_bundle, load_replay(tmp_path / "rec.npz", n_act), mode="replay")
    client = PolicyClient(server.endpoint, bundle.spec, timeout_s=1.0)
    got = [client.act(np.full(n_obs, i, np.float32)).copy() for i in range(3)]
    np.testing.assert_array_equal(np.stack(got), np.clip(actions, -1, 1))
    assert client.act(np.zeros(n_obs, np.float32)) is None and client.last_error[0] == "replay_end"
    assert client.act(np.full(n_obs, np.nan, np.float32)) is None  # still checked first
    assert client.last_error[0] == "not_finite"
    reply = client.call("reload", bundle=str(humanoid_bundle))
    assert reply["error"] == "reload_refused"
    client.close()
    # play.py's layout: [episodes, steps, a] with each episode's length
    np.savez(tmp_path / "play.npz", actions=np.stack([actions, -actions]), lengths=[3, 2])
    np.testing.assert_array_equal(load_replay(tmp_path / "play.npz", n_act, episode=1).actions,
                                  np.clip(-actions[:2], -1, 1))
    np.savez(tmp_path / "bad.npz", actions=np.zeros((3, 5)))
    with pytest.raises(ValueError, match=rf"expected \[T>0, {n_act}\]"):
        load_replay(tmp_path / "bad.npz", n_act)


def test_client_drops_replies_no_robot_should_act_on(humanoid_bundle):
    """A foreign or broken server: NaN actions, wrong sizes, replies to other seqs."""
    bundle = Bundle(humanoid_bundle)
    n = bundle.action_size
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    answers = [
        lambda seq: {"seq": seq, "ok": True, "action": np.full(n, np.nan, "<f4").tobytes()},
        lambda seq: {"seq": seq, "ok": True, "action": np.zeros(n + 1, "<f4").tobytes()},
        lambda seq: {"seq": seq + 1000, "ok": True, "action": np.zeros(n, "<f4").tobytes()},
        lambda seq: {"seq": seq, "ok": True, "action": np.full(n, 0.5, "<f4").tobytes()},
    ]

    def fake_server():
        for answer in answers:
            frames = router.recv_multipart()
            seq = msgpack.unpackb(frames[-1], raw=False)["seq"]
            router.send_multipart([*frames[:-1], msgpack.packb(answer(seq))])

    thread = threading.Thread(target=fake_server, daemon=True)
    thread.start()
    client = PolicyClient(f"tcp://127.0.0.1:{port}", bundle.spec, timeout_s=0.5)
    obs = np.zeros(bundle.obs_size, np.float32)
    assert client.act(obs) is None and client.last_error == ("bad_reply", "non-finite action")
    assert client.act(obs) is None and "action_size" in client.last_error[1]
    assert client.act(obs) is None and client.counters["stale"] == 1  # wrong seq: timed out
    np.testing.assert_array_equal(client.act(obs), np.full(n, 0.5))
    thread.join(5)
    client.close()
    router.close()


def test_onnx_backend_serves_the_same_actions(serve, humanoid_bundle):
    bundle = Bundle(humanoid_bundle)
    server = serve(humanoid_bundle, backend="onnx")
    client = PolicyClient(server.endpoint, bundle.spec, timeout_s=1.0)
    assert client.check()["backend"] == "onnx"
    obs = np.random.default_rng(3).normal(size=(5, bundle.obs_size)).astype(np.float32)
    served = np.stack([client.act(o).copy() for o in obs])
    np.testing.assert_allclose(served, NumpyPolicy(bundle).batch(obs), atol=1e-5, rtol=0)
    client.close()


def test_ping_is_answered_and_its_reply_never_counts_as_stale(serve, humanoid_bundle):
    server = serve(humanoid_bundle)
    bundle = Bundle(humanoid_bundle)
    assert raw_request(server.endpoint, {"v": 1, "type": "ping", "seq": 7}) == {
        "v": 1, "type": "ping", "seq": 7, "ok": True}  # no spec needed, nothing else in it
    client = PolicyClient(server.endpoint, bundle.spec, timeout_s=2.0)
    obs = np.linspace(-1, 1, bundle.obs_size, dtype=np.float32)
    assert client.act(obs) is not None  # connected
    assert client.warm()  # returns at once; the act after it drops the ping's reply
    np.testing.assert_array_equal(client.act(obs), NumpyPolicy(bundle)(obs))
    c = client.counters
    assert (c["pings"], c["replies"], c["stale"], c["timeouts"]) == (1, 2, 0, 0)
    assert server.stats()["counts"]["requests"] == 4 and server.counts["errors"] == 0
    client.close()
