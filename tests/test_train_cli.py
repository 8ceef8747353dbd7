"""The real CLI in a subprocess: `--verify` end to end, and bad input -> one line, exit 2."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(ROOT / "playground" / "train.py")]


def _run(args, cwd, timeout=600):
    return subprocess.run(TRAIN + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_verify_passes_and_leaves_a_complete_run(tmp_path):
    proc = _run(["--verify", "--checkpoint-dir", str(tmp_path), "--set", "run.name=v"], tmp_path)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert lines[-1].startswith("VERIFY PASS"), lines[-1]
    run_dir = tmp_path / "v"
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["iteration"] == 10  # quick_verify: 10 iterations
    assert "eval/survival_rate" in rows[-1] and "reward/alive" in rows[-1]
    spec = json.loads((run_dir / "checkpoints" / "10" / "spec" / "metadata").read_text())
    assert len(spec["joint_names"]) == 17 and spec["network"]["hidden"] == [32, 32]
    assert spec["provenance"]["git_commit"] is not None or spec["provenance"]["git_dirty"] is None
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["mjcf_sha256"] == spec["robot_xml_sha256"]
    assert "ppo:" in (run_dir / "config.yaml").read_text()


@pytest.mark.slow
def test_verify_precedence_command_line_beats_quick_verify(tmp_path):
    proc = _run(["--verify", "--num-iterations", "4", "--checkpoint-dir", str(tmp_path),
                 "--set", "run.name=v4"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [json.loads(x) for x in (tmp_path / "v4" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["iteration"] == 4


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--set", "ppo.learning_rat=1e-4"], "did you mean 'ppo.learning_rate'"),
        (["--set", "ppo.num_envs=abc"], "ppo.num_envs"),
        (["--config", "missing.yaml"], "missing.yaml"),
        (["--num-envs", "6", "--set", "ppo.num_minibatches=4", "--set", "ppo.unroll_length=3"],
         "not divisible"),
        (["--task", "nope"], "nope"),
        (["--set", "reward_weights.alive_bonus=1.0"], "did you mean 'alive'"),
        (["--verify", "--enable-amp"], "not implemented yet"),
        (["--resume", "latest"], "not implemented yet"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    proc = _run(args + ["--checkpoint-dir", str(tmp_path)], tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and expected in err[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing written before the input is known good


def test_bad_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("ppo:\n  num_envs: [1,\n")
    proc = _run(["--config", str(bad)], tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "bad.yaml:3" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
