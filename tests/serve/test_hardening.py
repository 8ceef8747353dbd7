"""Bad input to the server refuses the start (exit 2, one stderr line, no traceback, files
unchanged, nothing bound) or a reload (an error reply; the served bundle stays), and no
non-finite action is ever sent."""

import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
import threading

import msgpack
import numpy as np
import pytest
import zmq

from playground.serve import protocol
from playground.serve.__main__ import main
from playground.serve.bundle import Bundle, NumpyPolicy
from playground.serve.server import PolicyServer, check_endpoint

ROOT = pathlib.Path(__file__).resolve().parents[2]


def edited(src: pathlib.Path, dst: pathlib.Path, arrays=None, doc=None, npz=None, drop=None):
    """A copy of bundle `src` with its arrays, spec document or npz bytes edited; the
    recorded npz sha256 is updated to match (the edit must be caught by what it breaks)."""
    shutil.copytree(src, dst)
    spec_path, npz_path = dst / "policy_spec.json", dst / "policy.npz"
    if arrays is not None:
        with np.load(npz_path) as z:
            values = {k: z[k] for k in z.files}
        arrays(values)
        np.savez(npz_path, **values)
    if npz is not None:
        npz_path.write_bytes(npz(npz_path.read_bytes()))
    document = json.loads(spec_path.read_text())
    document["bundle"]["npz_sha256"] = hashlib.sha256(npz_path.read_bytes()).hexdigest()
    if doc is not None:
        doc(document)
    spec_path.write_text(json.dumps(document))
    if drop is not None:
        (dst / drop).unlink()
    return dst


def setitem(key, value):
    def edit(d):
        d[key] = value
    return edit


def overflowing(a):
    """A finite first-layer column so large that any positive input overflows it to -inf
    (swish(-inf) is NaN): finite weights, a non-finite output."""
    a["layer_0/kernel"] = a["layer_0/kernel"].copy()
    a["layer_0/kernel"][:, 1] = -3e38


def nan_at(key):
    def edit(a):
        a[key] = a[key].copy()
        a[key].reshape(-1)[0] = np.nan
    return edit


BAD_BUNDLES = {
    "no_spec_file": dict(drop="policy_spec.json"),
    "no_npz_file": dict(drop="policy.npz"),
    "bad_json": dict(doc=lambda d: d.clear()),  # replaced below by text that is not JSON
    "spec_without_normalizer": dict(doc=lambda d: d["spec"].pop("normalizer")),
    "spec_without_network": dict(doc=lambda d: d["spec"].pop("network")),
    "spec_not_a_map": dict(doc=setitem("spec", [1, 2])),
    "no_bundle_section": dict(doc=lambda d: d.pop("bundle")),
    "layer_count_mismatch": dict(doc=lambda d: d["bundle"].update(layers=2)),
    "truncated_npz": dict(npz=lambda b: b[: len(b) // 2]),
    "nan_weight": dict(arrays=nan_at("layer_1/kernel")),
    "inf_bias": dict(arrays=lambda a: a["layer_2/bias"].__setitem__(0, np.inf)),
    "nan_normalizer_mean": dict(arrays=nan_at("normalizer/mean")),
    "inf_normalizer_std": dict(arrays=lambda a: a["normalizer/std"].__setitem__(3, np.inf)),
    "float64_kernel": dict(arrays=lambda a: a.update({"layer_0/kernel": a["layer_0/kernel"].astype(np.float64)})),
    "wrong_bias_shape": dict(arrays=lambda a: a.update({"layer_1/bias": a["layer_1/bias"][:-1]})),
    "missing_array": dict(arrays=lambda a: a.pop("normalizer/std")),
    "extra_array": dict(arrays=lambda a: a.update({"layer_3/kernel": a["layer_0/kernel"]})),
}


def make_bad(name: str, src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    out = edited(src, dst, **BAD_BUNDLES[name])
    if name == "bad_json":
        (out / "policy_spec.json").write_text('{"spec": ')
    return out


def tree_digest(root: pathlib.Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def refused_start(argv: list[str], capsys, tmp_path) -> str:
    """main(argv) with a taken port: exit 2 and one stderr line, before any bind (else the
    error would be the taken port), files unchanged; the line."""
    before = tree_digest(tmp_path)
    with zmq.Context.instance().socket(zmq.REP) as taken:
        port = taken.bind_to_random_port("tcp://127.0.0.1")
        bind = [] if "--bind" in argv else ["--bind", f"tcp://127.0.0.1:{port}"]
        capsys.readouterr()
        assert main([*argv, *bind]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert "cannot bind" not in err and "Traceback" not in err, err
    assert tree_digest(tmp_path) == before
    return err


@pytest.mark.parametrize("name", sorted(BAD_BUNDLES))
def test_malformed_bundle_refuses_the_start(name, humanoid_bundle, tmp_path, capsys):
    bad = make_bad(name, humanoid_bundle, tmp_path / "bad")
    refused_start(["--bundle", str(bad)], capsys, tmp_path)


def test_nan_weights_refuse_the_real_cli(humanoid_bundle, tmp_path):
    bad = make_bad("nan_weight", humanoid_bundle, tmp_path / "bad")
    done = subprocess.run([sys.executable, "-m", "playground.serve", "--bundle", str(bad)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "", done
    assert done.stderr.splitlines() == [f"error: {bad / 'policy.npz'}: layer_1/kernel holds NaN or inf"]


def key_files(tmp_path: pathlib.Path) -> dict[str, pathlib.Path]:
    """server.key(_secret), allowed/robot.key, and broken variants."""
    done = subprocess.run([sys.executable, "-m", "playground.serve.keys", str(tmp_path / "keys"),
                           "--name", "server"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    keys = tmp_path / "keys"
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(keys / "server.key", allowed / "robot.key")
    (tmp_path / "bad_allowed").mkdir()
    shutil.copy(keys / "server.key", tmp_path / "bad_allowed" / "robot.key")
    (tmp_path / "bad_allowed" / "typo.key").write_text('curve\n    public-key = "too short"\n')
    (tmp_path / "empty_allowed").mkdir()
    return {"secret": keys / "server.key_secret", "public": keys / "server.key", "allowed": allowed,
            "bad_allowed": tmp_path / "bad_allowed", "empty_allowed": tmp_path / "empty_allowed",
            "garbage": keys / "garbage.key_secret"}


@pytest.mark.skipif(not zmq.has("curve"), reason="libzmq without CURVE")
@pytest.mark.parametrize("secret, clients, named", [
    ("public", "allowed", "public"),            # a public key where the secret one is needed
    ("garbage", "allowed", "garbage"),          # not a key file at all
    ("secret", "bad_allowed", "typo.key"),      # one malformed client key among good ones
    ("secret", "empty_allowed", "empty_allowed"),
])
def test_a_key_file_that_does_not_load_refuses_the_start(secret, clients, named, humanoid_bundle,
                                                         tmp_path, capsys):
    files = key_files(tmp_path)
    files["garbage"].write_text("hello\n")
    err = refused_start(["--bundle", str(humanoid_bundle), "--curve-secret", str(files[secret]),
                         "--curve-clients", str(files[clients])], capsys, tmp_path)
    assert str(files.get(named, files[clients] / named)) in err, err


@pytest.mark.parametrize("bind", ["tcp://127.0.0.1:99999", "tcp://127.0.0.1:0", "tcp://127.0.0.1:-1",
                                  "tcp://127.0.0.1", "tcp://127.0.0.1:http", "nonsense"])
def test_a_bad_port_refuses_the_start(bind, humanoid_bundle, tmp_path, capsys):
    err = refused_start(["--bundle", str(humanoid_bundle), "--bind", bind], capsys, tmp_path)
    assert bind in err


def test_loopback_is_all_of_127_and_ipv6_one():
    for endpoint in ("tcp://127.0.0.1:5555", "tcp://127.0.0.2:5555", "tcp://127.255.0.9:1",
                     "tcp://[::1]:5555", "tcp://localhost:5555", "tcp://127.0.0.1:*",
                     "ipc:///tmp/x", "inproc://x"):
        assert check_endpoint(endpoint), endpoint
    for endpoint in ("tcp://0.0.0.0:5555", "tcp://*:5555", "tcp://192.168.1.2:65535",
                     "tcp://[::]:5555", "tcp://eth0:5555", "tcp://robot.local:5555"):
        assert not check_endpoint(endpoint), endpoint


def request(sock, message) -> dict:
    sock.send_multipart([b"", protocol.pack(message)])
    assert sock.poll(30_000), "no reply"
    return msgpack.unpackb(sock.recv_multipart()[-1], raw=False)


@pytest.fixture
def served(humanoid_bundle):
    """served(bundle_dir) -> (server, DEALER socket) of an in-process server."""
    running = []

    def start(bundle_dir):
        server = PolicyServer(Bundle(bundle_dir), None, "tcp://127.0.0.1:*", log=lambda m: None)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(server.endpoint)
        running.append((server, thread, sock))
        return server, sock

    yield start
    for server, thread, sock in running:
        sock.close()
        server.stop()
        thread.join(5)


@pytest.mark.parametrize("name", ["nan_weight", "inf_normalizer_std", "truncated_npz",
                                  "spec_without_normalizer", "layer_count_mismatch"])
def test_malformed_bundle_refuses_the_reload(name, served, humanoid_bundle, tmp_path):
    bad = make_bad(name, humanoid_bundle, tmp_path / "bad")
    before = tree_digest(tmp_path)
    bundle = Bundle(humanoid_bundle)
    server, sock = served(humanoid_bundle)
    reply = request(sock, {"v": 1, "type": "reload", "seq": 1, "spec": bundle.spec_hash,
                           "bundle": str(bad)})
    assert reply["ok"] is False and reply["error"] == "reload_refused" and reply["seq"] == 1
    assert "\n" not in reply["message"] and str(bad) in reply["message"], reply
    obs = np.linspace(-1, 1, bundle.obs_size, dtype=np.float32)
    reply = request(sock, {"v": 1, "type": "act", "seq": 2, "spec": bundle.spec_hash, "obs": obs.tobytes()})
    np.testing.assert_array_equal(np.frombuffer(reply["action"], "<f4"), NumpyPolicy(bundle)(obs))
    assert server.counts["reloads"] == 0 and tree_digest(tmp_path) == before


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_a_non_finite_output_is_an_error_reply(served, humanoid_bundle, tmp_path):
    huge = Bundle(edited(humanoid_bundle, tmp_path / "huge", arrays=overflowing))
    server, sock = served(huge.directory)
    obs = huge.arrays["normalizer/mean"] + huge.arrays["normalizer/std"]  # z = 1 everywhere
    with np.errstate(all="ignore"):
        assert not np.isfinite(NumpyPolicy(huge)(obs)).all()  # the case exists
    reply = request(sock, {"v": 1, "type": "act", "seq": 4, "spec": huge.spec_hash, "obs": obs.tobytes()})
    assert reply["ok"] is False and reply["error"] == "internal" and reply["seq"] == 4
    assert "action" not in reply and server.counts["act_ok"] == 0
