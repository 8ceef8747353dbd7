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


def _saved_run(root: pathlib.Path) -> pathlib.Path:
    """A run directory with one complete step (as orbax writes it) of a 16-env cart-pole run."""
    from playground import config, runs

    values = config.to_dict(config.resolve(None, [("env.task", "cartpole_balance"),
                                                  ("ppo.num_envs", 16)]))
    step = root / "old-run" / "checkpoints" / "8"
    (step / "config").mkdir(parents=True)
    (step / "config" / "metadata").write_text(json.dumps(values))
    for part in (*runs.REQUIRED_FILES, f"{runs.DATA_DIR}/0"):  # what a restore reads
        (step / part).parent.mkdir(parents=True, exist_ok=True)
        (step / part).touch()
    return root / "old-run"


# (arguments, text the one error line must hold); {tmp} is the test's directory
BAD_INPUT = [
    (["--set", "ppo.learning_rat=1e-4"], "did you mean 'ppo.learning_rate'"),  # unknown key
    (["--set", "ppo.num_envs=abc"], "ppo.num_envs"),  # wrong type
    (["--config", "{tmp}/bad.yaml"], "bad.yaml:3"),  # unreadable YAML
    (["--config", "missing.yaml"], "missing.yaml"),  # missing config file
    (["--num-envs", "0"], "ppo.num_envs must be >= 1"),  # zero envs
    (["--num-envs", "-4"], "ppo.num_envs must be >= 1"),  # negative envs
    (["--num-envs", "6", "--set", "ppo.num_minibatches=4", "--set", "ppo.unroll_length=3"],
     "not divisible"),  # batch not divisible
    (["--task", "nope"], "unknown task 'nope'"),  # unknown task
    (["--resume", "{tmp}/no-such-run"], "no such file or directory"),  # bad --resume path
    (["--resume", "{tmp}/runs/old-run", "--num-envs", "32"],
     "ppo.num_envs cannot change when resuming"),  # incompatible resume
    (["--resume", "latest"], "latest: no complete checkpoint"),  # nothing to resume
    (["--verify", "--enable-amp", "--set", "amp.motion_files=[{tmp}/missing.npz]"],
     "missing.npz"),  # AMP without motion data
    (["--verify", "--enable-amp", "--task", "cartpole_balance"],
     "AMP needs a legged robot"),  # AMP on a task without a floating base
    (["--set", "reward_weights.alive_bonus=1.0"], "did you mean 'alive'"),  # unknown reward term
    (["--set", "env.robot.xml={tmp}/nope.xml"], "nope.xml"),  # robot XML missing
    (["--set", "env.robot.xml={tmp}/broken.xml"], "XML parse error"),  # robot XML unparsable
    (["--set", "env.robot.feet=[left_foot,toe]"], "Invalid name 'toe'"),  # foot not in model
]


@pytest.mark.parametrize("args, expected", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    (tmp_path / "bad.yaml").write_text("ppo:\n  num_envs: [1,\n")
    (tmp_path / "broken.xml").write_text("<mujoco><worldbody><body></mujoco>")
    runs_dir = tmp_path / "runs"
    _saved_run(runs_dir)
    before = sorted(str(p) for p in runs_dir.rglob("*"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    checkpoint_dir = [] if "--resume" in args and "latest" not in args else ["--checkpoint-dir",
                                                                            str(tmp_path / "ck")]
    proc = _run(args + checkpoint_dir, tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], proc.stderr
    assert "Traceback" not in proc.stderr
    # nothing written: no new run, the existing run untouched
    assert not (tmp_path / "ck").exists()
    assert sorted(str(p) for p in runs_dir.rglob("*")) == before
