"""The shim as the robot runs it: a `python -m playground.serve` process without JAX.

One server process (jax, brax, flax, mujoco made unimportable) takes 10,000 malformed
frames and answers every one with an error, keeps serving, and reports them in its
stats; the robot-side client falls back within one control period when that server
is stopped (SIGSTOP) or gone, never moving a target by more than the rate limit.
"""

import gc
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import msgpack
import numpy as np
import pytest
import zmq

from playground.serve import protocol
from playground.serve.bundle import Bundle, NumpyPolicy
from playground.serve.client import PolicyClient, PolicyController, SafetyFilter
from playground.serve.observation import ObservationBuilder
from playground.serve.realtime import freeze_gc

ROOT = pathlib.Path(__file__).resolve().parents[2]
BLOCKED = ("jax", "jaxlib", "brax", "flax", "mujoco", "optax", "orbax", "ml_collections")
BLOCKER = f'''
import sys
class _NoHeavyImports:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(name + " is unimportable in this test")
sys.meta_path.insert(0, _NoHeavyImports())
'''


@pytest.fixture(scope="module")
def no_jax_env(tmp_path_factory):
    """Environment whose Python cannot import jax & co (a sitecustomize meta-path block)."""
    site = tmp_path_factory.mktemp("nojax")
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    probe = subprocess.run([sys.executable, "-c", "import jax"], env=env, capture_output=True,
                           text=True)
    assert probe.returncode != 0 and "unimportable" in probe.stderr
    return env


def start_server(bundle, env, *extra):
    """The real CLI on a free port; returns (process, endpoint) once it says it serves."""
    with zmq.Context.instance().socket(zmq.REP) as probe:  # a port free right now
        port = probe.bind_to_random_port("tcp://127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "playground.serve", "--bundle", str(bundle),
         "--bind", f"tcp://127.0.0.1:{port}", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("serving"), line + proc.stderr.read()
    return proc, f"tcp://127.0.0.1:{port}"


def malformed_frames(spec_hash: str, obs_size: int, count: int, seed: int = 0):
    """`count` bad requests of every kind: (frames to send, expected error code or None)."""
    rng = random.Random(seed)
    good = protocol.act_request(1, spec_hash, np.zeros(obs_size, np.float32))

    def act(**fields):
        return protocol.pack({"v": 1, "type": "act", "seq": 3, "spec": spec_hash, **fields})

    kinds = [
        lambda: ([b"", rng.randbytes(rng.randrange(0, 300))], None),  # random bytes
        lambda: ([b"", b""], "bad_msgpack"),
        lambda: ([b"", good[: rng.randrange(1, len(good) - 1)]], "bad_msgpack"),  # truncated
        lambda: ([b"", good + b"\x00"], "bad_msgpack"),  # trailing bytes
        lambda: ([b"", act(obs=rng.randbytes(4 * rng.choice([0, 1, obs_size - 1, obs_size + 1])))],
                 "bad_size"),
        lambda: ([b"", act(obs=rng.randbytes(4 * obs_size + rng.randrange(1, 4)))], "bad_dtype"),
        lambda: ([b"", act(obs=np.zeros(obs_size, np.float64).tobytes())], "bad_size"),
        lambda: ([b"", act(obs=np.zeros(obs_size, np.float32).tobytes(), dtype="float64")],
                 "bad_dtype"),
        lambda: ([b"", act(obs=["x"] * obs_size)], "bad_dtype"),
        lambda: ([b"", act(obs=7)], "bad_dtype"),
        lambda: ([b"", act(obs=np.full(obs_size, rng.choice([np.nan, np.inf, -np.inf]),
                                       np.float32).tobytes())], "not_finite"),
        lambda: ([b"", act(obs=[1e39] * obs_size)], "not_finite"),
        lambda: ([b"", rng.randbytes(70_000)], "too_large"),  # over the 64 KiB limit
        lambda: ([b"", act(obs=np.zeros(20_000, np.float32).tobytes())], "too_large"),
        lambda: ([b"", protocol.pack([1, 2, 3])], "bad_request"),
        lambda: ([b"", protocol.pack({"v": 1, "type": "act", "spec": spec_hash})], "bad_request"),
        lambda: ([b"", protocol.pack({"v": 1, "type": "act", "seq": -1})], "bad_request"),
        lambda: ([b"", protocol.pack({"v": 99, "type": "act", "seq": 1})], "bad_version"),
        lambda: ([b"", protocol.pack({"v": 1, "type": "shell", "seq": 1})], "unknown_type"),
        lambda: ([b"", act()], "bad_request"),
        lambda: ([b"", protocol.pack({"v": 1, "type": "act", "seq": 1, "spec": "f" * 64,
                                      "obs": b""})], "spec_mismatch"),
        lambda: ([b"x", b"y", good], "bad_request"),  # extra envelope frames
        lambda: ([b"", act(fields={"gyro": [0.0, 0.0]})], "bad_size"),
        lambda: ([b"", act(fields=[1, 2])], "bad_request"),
        lambda: ([b"", b"\xc1" * 10], "bad_msgpack"),  # never-used msgpack byte
        lambda: ([b"", b"\xdd\xff\xff\xff\xff"], "bad_msgpack"),  # array claiming 4G items
        lambda: ([b"", b"\x91" * 30_000 + b"\x00"], "bad_msgpack"),  # nested 30,000 deep
    ]
    return [rng.choice(kinds)() for _ in range(count)]


def test_server_without_jax_survives_10000_malformed_frames(humanoid_bundle, no_jax_env):
    bundle = Bundle(humanoid_bundle)
    proc, endpoint = start_server(humanoid_bundle, no_jax_env)
    try:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        frames = malformed_frames(bundle.spec_hash, bundle.obs_size, 10_000)
        codes = {}
        for start in range(0, len(frames), 250):  # pipelined in batches
            batch = frames[start:start + 250]
            for message, _ in batch:
                sock.send_multipart(message)
            for _, expected in batch:
                assert sock.poll(5000), f"no reply after {start} frames; server alive: {proc.poll()}"
                reply = msgpack.unpackb(sock.recv_multipart()[-1], raw=False)
                assert reply["ok"] is False and reply["error"] in protocol.ERROR_CODES
                assert expected is None or reply["error"] == expected, (expected, reply)
                codes[reply["error"]] = codes.get(reply["error"], 0) + 1
        assert sum(codes.values()) == 10_000 and len(codes) >= 9

        client = PolicyClient(endpoint, bundle.spec, timeout_s=2.0)
        obs = np.ones(bundle.obs_size, np.float32)
        np.testing.assert_array_equal(client.act(obs), NumpyPolicy(bundle)(obs))
        stats = client.call("stats")
        assert stats["counts"]["errors"] == 10_000 and stats["counts"]["act_ok"] == 1
        assert stats["errors_by_code"] == codes
        client.close()
        sock.close()
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped" in out and "Traceback" not in err


@pytest.mark.parametrize("busy", [False, True], ids=["blocking", "busy_poll"])
def test_client_falls_back_when_the_server_stops_or_dies(humanoid_bundle, no_jax_env, busy):
    bundle = Bundle(humanoid_bundle)
    spec = bundle.spec
    proc, endpoint = start_server(humanoid_bundle, no_jax_env)
    ctrl_dt = spec["ctrl_dt"]
    client = PolicyClient(endpoint, spec, timeout_s=ctrl_dt, busy_poll=busy)
    # a spinning client in this unpinned SCHED_OTHER test process is a CPU hog to the
    # scheduler: on a loaded machine it waits out other tasks' slices (deployed, it owns
    # its core); each missed reply still costs about one period, not a blocked loop
    slack = 0.1 if busy else 0.015
    safety = SafetyFilter(spec, max_velocity=2.0, soft_start_s=0.2, hold_s=0.04, fallback_s=0.4)
    controller = PolicyController(client, ObservationBuilder(spec), safety)
    max_step = 2.0 * ctrl_dt
    rng = np.random.default_rng(0)
    pose = np.asarray(spec["default_pose"]) + 0.05

    def readings():
        return {"gyro": rng.normal(size=3) * 0.1, "gravity": [0.0, 0.0, -1.0],
                "joint_pos": pose, "joint_vel": np.zeros(len(pose)), "command": [0.3, 0.0, 0.0]}

    outputs, modes, late = [pose], [], []

    def run(steps):
        for _ in range(steps):
            t = time.perf_counter()
            command = controller.step(readings())
            late.append(time.perf_counter() - t)
            outputs.append(command.targets)
            modes.append(command.mode)

    # as a robot loop does (docs/serving.md): a full collection of this test process's
    # heap (JAX and the suite) can take longer than a control period by itself
    freeze_gc()
    try:
        outputs.append(controller.start(readings(), pose).targets)
        run(30)
        assert "policy" in modes and client.counters["timeouts"] == 0
        proc.send_signal(signal.SIGSTOP)
        late.clear()
        run(30)  # hold 2 periods, then the 0.4 s ramp to the default pose
        assert modes[30:32] == ["hold", "hold"] and set(modes[32:60]) == {"fallback"}
        assert max(late) < ctrl_dt + slack, max(late)  # each missed reply costs one period
        np.testing.assert_allclose(outputs[-1], spec["default_pose"], atol=1e-9)
        proc.send_signal(signal.SIGCONT)
        for _ in range(100):  # the server answers again: soft start back into the policy
            run(1)
            if modes[-1] == "policy":
                break
        assert "soft_start" in modes[60:] and modes[-1] == "policy"
        proc.kill()
        proc.wait()
        late.clear()
        n = len(modes)
        run(10)
        assert modes[n:n + 2] == ["hold", "hold"] and set(modes[n + 2:]) == {"fallback"}
        assert max(late) < ctrl_dt + slack, max(late)
    finally:
        gc.unfreeze()
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait()
        client.close()
    steps = np.abs(np.diff(np.stack(outputs), axis=0))
    assert steps.max() <= max_step + 1e-12  # never a jump beyond the rate limit
    c = client.counters
    assert c["timeouts"] + c["unreachable"] >= 40 and c["reconnects"] >= 1


def test_serve_cli_bad_input_is_one_line_and_exit_2(humanoid_bundle, tmp_path, no_jax_env):
    with zmq.Context.instance().socket(zmq.REP) as taken:
        port = taken.bind_to_random_port("tcp://127.0.0.1")
        for args in (["--bundle", str(tmp_path)],  # no bundle there
                     ["--bundle", str(humanoid_bundle), "--bind", f"tcp://127.0.0.1:{port}"],
                     ["--bundle", str(humanoid_bundle), "--bind", "nonsense"],
                     ["--bundle", str(humanoid_bundle), "--curve-secret", str(tmp_path / "k")],
                     ["--bundle", str(humanoid_bundle), "--replay", str(tmp_path / "none.npz")],
                     ["--bundle", str(humanoid_bundle), "--keep-warm", "1"],  # needs --busy-poll
                     ["--bundle", str(humanoid_bundle), "--busy-poll", "--rt-priority", "99"]):
            done = subprocess.run([sys.executable, "-m", "playground.serve", *args], cwd=ROOT,
                                  env=no_jax_env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 2, (args, done.stderr)
            assert done.stderr.startswith("error:") and len(done.stderr.splitlines()) == 1, done.stderr


def test_serve_cli_pins_and_schedules_every_thread(humanoid_bundle, no_jax_env):
    """--cpus / --rt-priority apply before the ZMQ context: its I/O thread inherits them."""
    bundle = Bundle(humanoid_bundle)
    fifo = os.geteuid() == 0  # root here; elsewhere the flag may be refused (exit 2)
    extra = ["--cpus", "0"] + (["--rt-priority", "10"] if fifo else [])
    proc, endpoint = start_server(humanoid_bundle, no_jax_env, *extra)
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task")]
        assert len(tids) >= 2  # main thread + ZMQ's I/O thread (one BLAS thread: no pool)
        assert all(os.sched_getaffinity(t) == {0} for t in tids)
        policy = os.SCHED_FIFO if fifo else os.SCHED_OTHER
        assert all(os.sched_getscheduler(t) == policy for t in tids)
        client = PolicyClient(endpoint, bundle.spec, timeout_s=2.0)
        obs = np.ones(bundle.obs_size, np.float32)
        np.testing.assert_array_equal(client.act(obs), NumpyPolicy(bundle)(obs))
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def test_busy_poll_server_checks_reloads_and_stops_on_sigterm(humanoid_bundle, bundle_factory,
                                                              tmp_path, no_jax_env):
    """--busy-poll spins on the socket: every check, stats, reload and SIGTERM still work;
    under SCHED_FIFO (root here) ZMQ's I/O thread runs one priority above the spinner."""
    bundle = Bundle(humanoid_bundle)
    new = Bundle(bundle_factory(tmp_path / "new", seed=5))  # same contract, other weights
    fifo = os.geteuid() == 0
    proc, endpoint = start_server(humanoid_bundle, no_jax_env, "--busy-poll", "--cpus", "0",
                                  "--keep-warm", "0.5", *(["--rt-priority", "10"] if fifo else []))
    try:
        priorities = sorted(os.sched_getparam(int(t)).sched_priority
                            for t in os.listdir(f"/proc/{proc.pid}/task"))
        assert priorities[0] == (10 if fifo else 0) and priorities[-1] == (11 if fifo else 0)
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        frames = malformed_frames(bundle.spec_hash, bundle.obs_size, 300, seed=1)
        for message, _ in frames:
            sock.send_multipart(message)
        for _, expected in frames:
            assert sock.poll(5000), "no reply from the busy-polling server"
            reply = msgpack.unpackb(sock.recv_multipart()[-1], raw=False)
            assert reply["ok"] is False and expected in (None, reply["error"]), (expected, reply)
        sock.close()

        client = PolicyClient(endpoint, bundle.spec, timeout_s=2.0, busy_poll=True)
        obs = np.ones(bundle.obs_size, np.float32)
        np.testing.assert_array_equal(client.act(obs), NumpyPolicy(bundle)(obs))
        reloaded = client.call("reload", 30.0, bundle=str(new.directory))
        assert reloaded["ok"] and reloaded["npz_sha256"] == new.meta["npz_sha256"]
        assert client.warm()  # a ping: no rest before the request that follows
        np.testing.assert_array_equal(client.act(obs), NumpyPolicy(new)(obs))
        stats = client.call("stats")
        assert stats["counts"] == {"requests": 305, "act_ok": 2, "errors": 300, "reloads": 1}
        assert client.counters["stale"] == 0 and client.counters["pings"] == 1
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped" in out, err
    assert "Traceback" not in err
