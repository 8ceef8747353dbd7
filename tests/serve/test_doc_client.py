"""A client written from docs/serving.md alone: raw pyzmq + msgpack, no playground.serve.

It talks to the real server process (python -m playground.serve, bound to 127.0.0.2,
which is loopback: no warning) over REQ and DEALER and exchanges every request type;
the expected action is computed from policy.npz with the doc's formula.
"""

import json
import math
import pathlib
import signal
import subprocess
import sys

import msgpack
import numpy as np
import pytest
import zmq

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOST = "127.0.0.2"  # in 127.0.0.0/8: loopback


def doc_action(npz, spec, layers, obs):
    """The doc's deterministic action, float32."""
    act = {"swish": lambda x: x / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
           "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), "tanh": np.tanh}
    f = act[spec["network"]["activation"]]
    x = np.asarray(obs, np.float32)
    if spec["normalizer"]["enabled"]:
        std = np.maximum(npz["normalizer/std"], npz["normalizer/eps"])
        x = np.clip((x - npz["normalizer/mean"]) / std, -npz["normalizer/clip"], npz["normalizer/clip"])
    for i in range(layers):
        x = x @ npz[f"layer_{i}/kernel"] + npz[f"layer_{i}/bias"]
        if i < layers - 1:
            x = f(x)
    return np.tanh(x) if spec["network"]["squash"] == "tanh" else np.clip(x, -1, 1)


def doc_obs(spec, readings):
    """The observation the doc says the server builds from `fields` (history 1)."""
    obs = np.zeros(spec["network"]["input_size"], np.float32)
    for entry in spec["observation"]["frame"]:
        value = np.atleast_1d(np.asarray(readings[entry["name"]], np.float64))
        if entry["name"] == "joint_pos":
            value = value - np.asarray(spec["default_pose"])
        if entry["name"] == "phase" and value.size == 1 and entry["size"] == 2:
            value = np.array([math.sin(value[0]), math.cos(value[0])])
        obs[entry["start"]:entry["start"] + entry["size"]] = value * entry.get("scale", 1.0)
    return obs


class DocClient:
    """REQ or DEALER, the frames of the doc's table, non-blocking sends, a deadline per reply."""

    def __init__(self, endpoint, kind):
        self.kind = kind
        self.sock = zmq.Context.instance().socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IMMEDIATE, 1)
        self.sock.setsockopt(zmq.SNDTIMEO, 2000)  # never block forever on a send
        self.sock.connect(endpoint)

    def request(self, payload: bytes, timeout_ms=20_000):
        self.sock.send_multipart([payload] if self.kind == zmq.REQ else [b"", payload])
        assert self.sock.poll(timeout_ms), "no reply"
        frames = self.sock.recv_multipart()
        assert frames[:-1] == ([] if self.kind == zmq.REQ else [b""])  # the doc's framing
        return msgpack.unpackb(frames[-1], raw=False)


@pytest.mark.parametrize("kind", [zmq.REQ, zmq.DEALER], ids=["REQ", "DEALER"])
def test_a_client_from_the_doc_alone(humanoid_bundle, kind):
    doc = json.loads((humanoid_bundle / "policy_spec.json").read_text())
    spec, spec_hash, layers = doc["spec"], doc["spec_hash"], doc["bundle"]["layers"]
    obs_size, action_size = spec["network"]["input_size"], spec["action"]["size"]
    with np.load(humanoid_bundle / "policy.npz") as z:
        npz = {k: z[k] for k in z.files}
    with zmq.Context.instance().socket(zmq.REP) as probe:
        port = probe.bind_to_random_port(f"tcp://{HOST}")
    proc = subprocess.Popen([sys.executable, "-m", "playground.serve", "--bundle", str(humanoid_bundle),
                             "--bind", f"tcp://{HOST}:{port}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    client = None
    try:
        assert proc.stdout.readline().startswith("serving"), proc.stderr.read()
        client = DocClient(f"tcp://{HOST}:{port}", kind)
        seq = 0

        def call(type_, **fields):
            nonlocal seq
            seq += 1
            reply = client.request(msgpack.packb({"v": 1, "type": type_, "seq": seq, **fields},
                                                 use_bin_type=True))
            assert reply["v"] == 1 and reply["seq"] == seq and reply["type"] == type_, reply
            return reply

        def action_of(reply):
            assert reply["ok"], reply
            action = np.frombuffer(reply["action"], "<f4")
            assert action.shape == (action_size,) and np.all(np.abs(action) <= 1)
            return action

        obs = np.random.default_rng(0).normal(size=obs_size).astype(np.float32)
        expected = doc_action(npz, spec, layers, obs)
        np.testing.assert_allclose(action_of(call("act", spec=spec_hash, obs=obs.astype("<f4").tobytes())),
                                   expected, atol=1e-5)
        np.testing.assert_allclose(action_of(call("act", spec=spec_hash, obs=obs.tolist())), expected,
                                   atol=1e-5)
        rng = np.random.default_rng(1)
        readings = {e["name"]: rng.uniform(-1, 1, e["size"]).tolist() for e in spec["observation"]["frame"]}
        readings["phase"] = 0.7  # an angle as a bare number
        np.testing.assert_allclose(action_of(call("act", spec=spec_hash, fields=readings)),
                                   doc_action(npz, spec, layers, doc_obs(spec, readings)), atol=1e-5)
        refused = call("act", spec=spec_hash, obs=obs.tobytes(), fields=readings)
        assert refused["ok"] is False and refused["error"] == "bad_request"

        info = call("info")
        assert info["ok"] and info["spec_hash"] == spec_hash and info["obs_size"] == obs_size
        assert info["fields"] is True and info["action_size"] == action_size
        stats = call("stats")
        assert stats["ok"] and stats["counts"]["act_ok"] == 3
        assert call("ping") == {"v": 1, "type": "ping", "seq": seq, "ok": True}
        reloaded = call("reload", spec=spec_hash, bundle=str(humanoid_bundle))
        assert reloaded["ok"] and reloaded["npz_sha256"] == doc["bundle"]["npz_sha256"]

        # unreadable: seq nil, type "error"; readable map with a bad key: its seq is echoed
        for payload, code in ((b"\xc1", "bad_msgpack"), (msgpack.packb([1, 2]), "bad_request")):
            reply = client.request(payload)
            assert reply["seq"] is None and reply["type"] == "error" and reply["error"] == code, reply
        seq += 1
        reply = client.request(msgpack.packb({"v": 1, "type": "act", "seq": seq, 5: "x"}))
        assert reply["ok"] is False and reply["error"] == "bad_request" and reply["seq"] == seq
    finally:
        if client is not None:
            client.sock.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "warning" not in err, err  # 127.0.0.2 is loopback
