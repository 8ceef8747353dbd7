"""`playground/export.py` end to end on a real checkpoint (saved from an initial carry)."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from playground.serve.bundle import Bundle, NumpyPolicy

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, save_initial_checkpoint):
    """<checkpoint_dir>/<run>/checkpoints/3 holding an initial carry with random statistics."""
    directory = tmp_path_factory.mktemp("ckpt") / "cartpole-test"
    carry, _ = save_initial_checkpoint(directory / "checkpoints", {3: {"iteration": 3}})
    return directory, carry


def export(*args):
    return subprocess.run([sys.executable, "playground/export.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_export_cli_writes_a_checked_bundle(run_dir, tmp_path):
    directory, carry = run_dir
    out = tmp_path / "bundle"
    done = export("latest", "--checkpoint-dir", directory.parent, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "numpy max|err|" in done.stdout and "onnx max|err|" in done.stdout
    bundle = Bundle(out)
    assert bundle.meta["source_checkpoint"].endswith("cartpole-test/checkpoints/3")
    np.testing.assert_array_equal(bundle.arrays["normalizer/mean"], carry.normalizer.mean["state"])
    doc = json.loads((out / "policy_spec.json").read_text())
    assert doc["spec"]["network"]["hidden"] == [16, 8] and doc["spec_hash"] == bundle.spec_hash
    obs = np.zeros(bundle.obs_size, np.float32)
    assert NumpyPolicy(bundle)(obs).shape == (1,)

    again = export(directory / "checkpoints" / "3", "--out", out)  # never overwrites silently
    assert again.returncode == 2 and again.stderr.startswith("error:") and "--force" in again.stderr


def test_export_cli_bad_paths_are_one_line_errors(tmp_path):
    for args in ([tmp_path / "missing", "--out", tmp_path / "b"],
                 ["latest", "--checkpoint-dir", tmp_path, "--out", tmp_path / "b"]):
        done = export(*args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1
