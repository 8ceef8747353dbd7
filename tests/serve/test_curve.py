"""CurveZMQ: keys from the shim's own command; only allowed client keys get service."""

import pathlib
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
import zmq

from playground.serve.bundle import Bundle
from playground.serve.client import ClientCurve, PolicyClient
from playground.serve.server import CurveConfig, PolicyServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="libzmq without CURVE")


def make_keys(directory: pathlib.Path, name: str) -> None:
    done = subprocess.run([sys.executable, "-m", "playground.serve.keys", str(directory),
                           "--name", name], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (directory / f"{name}.key").is_file() and (directory / f"{name}.key_secret").is_file()
    assert (directory / f"{name}.key_secret").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("busy", [False, True], ids=["blocking", "busy_poll"])
def test_only_allowed_client_keys_are_served(humanoid_bundle, tmp_path, busy):
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    for name in ("server", "robot", "stranger"):
        make_keys(keys, name)
    again = subprocess.run([sys.executable, "-m", "playground.serve.keys", str(keys)], cwd=ROOT,
                           capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.startswith("error:")  # no silent overwrite
    allowed.mkdir()
    shutil.copy(keys / "robot.key", allowed)

    bundle = Bundle(humanoid_bundle)
    server = PolicyServer(bundle, None, "tcp://127.0.0.1:*", log=lambda m: None,
                          curve=CurveConfig(keys / "server.key_secret", allowed), busy_poll=busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    obs = np.zeros(bundle.obs_size, np.float32)
    try:
        robot = PolicyClient(server.endpoint, bundle.spec, timeout_s=2.0,
                             curve=ClientCurve(keys / "server.key", keys / "robot.key_secret"))
        assert robot.act(obs) is not None and robot.check()["spec_hash"] == bundle.spec_hash
        stranger = PolicyClient(server.endpoint, bundle.spec, timeout_s=0.3,
                                curve=ClientCurve(keys / "server.key", keys / "stranger.key_secret"))
        plain = PolicyClient(server.endpoint, bundle.spec, timeout_s=0.3)
        for client in (stranger, plain):
            assert client.act(obs) is None and client.call("stats", 0.3) is None
            c = client.counters
            assert c["replies"] == 0 and c["timeouts"] + c["unreachable"] == 2
            client.close()
        assert server.counts["requests"] == 2  # the refused clients never reached the server
        robot.close()
    finally:
        server.stop()
        thread.join(5)
