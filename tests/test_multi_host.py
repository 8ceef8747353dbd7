"""Multi-host training through jax.distributed: two `train.py` processes on 127.0.0.1,
one CPU device each, are one run (one run directory, metrics written once) whose
checkpoint is bit-for-bit that of one process with two forced CPU devices; a
two-process resume continues it exactly, and a resume in one process is refused.

Also the one-line errors of `run.distributed` (no jax needed).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from playground import config

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(ROOT / "playground" / "train.py")]
# cart-pole, 16 envs, 2 chunks of 4 iterations, a checkpoint after each chunk
SMALL = [
    "--task", "cartpole_balance", "--num-envs", "16", "--num-iterations", "8",
    "--set", "ppo.unroll_length=16", "--set", "ppo.num_minibatches=4", "--set", "ppo.num_epochs=2",
    "--set", "run.log_every=1024", "--set", "run.checkpoint_every=4", "--set", "run.eval_every=0",
    "--set", "run.eval_envs=8", "--set", "run.progress=false", "--no-wandb",
]
TIMEOUT = 900  # seconds per process: generous, the CPU is shared


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(args: list[str], cwd: pathlib.Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(TRAIN + args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _launch_processes(args: list[str], cwd: pathlib.Path, count: int = 2) -> list:
    """One command per "host": the same arguments, each with its process id."""
    port = _free_port()
    return [
        _launch(args + ["--set", f"run.distributed.coordinator=127.0.0.1:{port}",
                        "--set", f"run.distributed.num_processes={count}",
                        "--set", f"run.distributed.process_id={pid}"], cwd)
        for pid in range(count)
    ]


def _wait(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:  # a process whose peer died waits for it: never leave one behind
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results


def _ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, out[-3000:] + err[-3000:]
    return out


def _iterations(run_dir: pathlib.Path) -> list[int]:
    return [json.loads(line)["iteration"]
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _carry_leaves(run_dir: pathlib.Path) -> dict[str, np.ndarray]:
    from playground.runner import load_checkpoint

    loaded = load_checkpoint(run_dir, log=lambda *_: None)
    return {jax.tree_util.keystr(path): np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(loaded.carry)[0]}


def _assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [key for key in a if not np.array_equal(a[key], b[key], equal_nan=True)]
    assert not different, f"{len(different)} of {len(a)} leaves differ, e.g. {different[:5]}"


@pytest.mark.slow
def test_two_processes_train_one_run_exactly_as_two_local_devices(tmp_path):
    args = SMALL + ["--checkpoint-dir", str(tmp_path)]
    two_devices = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    # the reference (one process, two devices) and the two-process run, side by side
    procs = [_launch(args + ["--set", "run.name=local"], tmp_path, two_devices),
             *_launch_processes(args, tmp_path)]  # no run.name: process 0 names the run dir
    reference, primary, secondary = _wait(procs)
    _ok(reference)
    assert "it     8" in _ok(primary)
    printed = [line for line in _ok(secondary).splitlines() if not line.startswith("[Gloo]")]
    assert not printed, printed  # process 0 alone prints (gloo's C++ greeting aside)
    run_dirs = sorted(p for p in tmp_path.iterdir() if p.name != "local")
    assert len(run_dirs) == 1, run_dirs  # both processes wrote into the one run directory
    run_dir = run_dirs[0]
    assert _iterations(run_dir) == [4, 8]  # metrics written once
    history = json.loads((run_dir / "provenance.json").read_text())
    assert (history["devices"], history["processes"]) == (2, 2)
    reference_leaves = _carry_leaves(tmp_path / "local")
    _assert_bitwise_equal(_carry_leaves(run_dir), reference_leaves)  # env state included

    # lose the last checkpoint (a kill before its save): a two-process resume redoes
    # iterations 4..8 exactly; one process, with one device or with two, is refused
    shutil.rmtree(run_dir / "checkpoints" / "8")
    resume = ["--resume", str(run_dir)]
    procs = [*_launch_processes(resume, tmp_path),
             _launch(resume, tmp_path),
             _launch(resume, tmp_path, two_devices)]
    primary, secondary, one_device, one_process = _wait(procs)
    assert "from iteration 4" in _ok(primary)
    _ok(secondary)
    for (code, _, err), reason in ((one_device, "devices"), (one_process, "processes")):
        assert code == 2 and reason in err and len(err.strip().splitlines()) == 1, err[-2000:]
    assert _iterations(run_dir) == [4, 8]
    assert len(json.loads((run_dir / "provenance.json").read_text())["resumes"]) == 1
    _assert_bitwise_equal(_carry_leaves(run_dir), reference_leaves)


def _distributed(**values) -> list[tuple[str, object]]:
    return [(f"run.distributed.{key}", value) for key, value in values.items()]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"coordinator": "node0"}, "must be host:port"),
        ({"coordinator": "node0:99999"}, "must be host:port"),
        ({"coordinator": ":1234"}, "must be host:port"),
        ({"coordinator": "node0:1234", "process_id": 0}, "num_processes is required"),
        ({"coordinator": "node0:1234", "num_processes": 2}, "process_id is required"),
        ({"coordinator": "node0:1234", "num_processes": 2, "process_id": 2},
         "process_id 2 is out of range for num_processes 2"),
        ({"coordinator": "node0:1234", "num_processes": 2, "process_id": -1},
         "process_id must be >= 0"),
        ({"coordinator": "node0:1234", "num_processes": 0, "process_id": 0},
         "num_processes must be >= 1"),
        ({"coordinator": "node0:1234", "num_processes": 3, "process_id": 0},
         "ppo.num_envs 16 is not divisible by run.distributed.num_processes 3"),
        ({"num_processes": 2}, "needs run.distributed.coordinator"),
        ({"coordinator": "auto", "timeout_seconds": 0}, "timeout_seconds must be >= 1"),
    ],
)
def test_bad_distributed_settings_are_one_line_errors(values, message):
    cfg = config.resolve(None, [("env.task", "cartpole_balance"), ("ppo.num_envs", 16),
                                *_distributed(**values)])
    with pytest.raises(config.ConfigError, match=message) as error:
        config.derive(cfg)
    assert "\n" not in str(error.value)


def test_good_distributed_settings_pass():
    for values in ({"coordinator": "node0:1234", "num_processes": 4, "process_id": 3},
                   {"coordinator": "'[::1]:1234'", "num_processes": 1, "process_id": 0},
                   {"coordinator": "auto"}, {}):
        cfg = config.resolve(None, [("env.task", "cartpole_balance"), ("ppo.num_envs", 16),
                                    *_distributed(**values)])
        config.derive(cfg)


def test_cli_bad_process_id_and_unreachable_coordinator_exit_2(tmp_path):
    """Checked before jax starts; a coordinator nobody serves is a one-line error too."""
    base = SMALL + ["--checkpoint-dir", str(tmp_path),
                    "--set", f"run.distributed.coordinator=127.0.0.1:{_free_port()}",
                    "--set", "run.distributed.num_processes=2"]
    bad_id = _launch(base + ["--set", "run.distributed.process_id=5"], tmp_path)
    # process 1 waits for process 0's coordinator service, which never starts
    alone = _launch(base + ["--set", "run.distributed.process_id=1",
                            "--set", "run.distributed.timeout_seconds=2"], tmp_path)
    for (code, _, err), reason in zip(_wait([bad_id, alone]),
                                      ("process_id 5 is out of range", "no coordinator at"),
                                      strict=True):
        assert code == 2 and reason in err, err[-2000:]
        assert len(err.strip().splitlines()) == 1, err[-2000:]
        assert "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_playground_tasks_are_refused_multi_host():
    """MuJoCo Playground places its model on jax.devices()[0], process 0's device."""
    cfg = config.resolve(None, [("env.task", "playground:CartpoleBalance"), ("ppo.num_envs", 16),
                                *_distributed(coordinator="auto")])
    with pytest.raises(config.ConfigError, match="cannot train multi-host"):
        config.derive(cfg)


def test_checkpoint_saves_device_arrays_and_restores_into_shardings(tmp_path):
    """What a multi-host save and resume do, in one process: jax.Array leaves are saved as
    they are (each process writes its shards) and come back in the run's shardings."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from playground import checkpoint

    mesh = Mesh(np.array(jax.devices()[:1]), ("envs",))
    shardings = {"env": NamedSharding(mesh, PartitionSpec("envs")),
                 "params": NamedSharding(mesh, PartitionSpec()),
                 "empty": NamedSharding(mesh, PartitionSpec())}
    carry = jax.device_put({"env": np.arange(8.0, dtype=np.float32).reshape(4, 2),
                            "params": np.full(3, 0.5, np.float32),
                            "empty": np.zeros((4, 0), np.float32)}, shardings)
    assert checkpoint._flatten(carry)["['env']"] is carry["env"]  # no host copy
    saver = checkpoint.Checkpointer(tmp_path / "ck")
    saver.save(1, carry, {}, {}, {"iteration": 1})
    saver.close()
    abstract = jax.eval_shape(lambda: carry)
    out = checkpoint.restore(tmp_path / "ck", abstract, shardings=shardings)["carry"]
    for key in ("env", "params"):
        assert isinstance(out[key], jax.Array) and out[key].sharding == shardings[key]
        np.testing.assert_array_equal(np.asarray(out[key]), np.asarray(carry[key]))
    assert out["empty"].shape == (4, 0)
    host = checkpoint.restore(tmp_path / "ck", abstract)["carry"]  # any layout, as numpy
    assert isinstance(host["env"], np.ndarray)
    np.testing.assert_array_equal(host["env"], np.asarray(carry["env"]))
