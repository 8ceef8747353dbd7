"""The real CLI in a subprocess: `--verify` end to end, and bad input -> one line, exit 2."""

import hashlib
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
def test_verify_passes_and_leaves_a_complete_run(tmp_path, logged_scalars):
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
    tensorboard, jsonl = logged_scalars(run_dir)  # TensorBoard: every row, at its env steps
    assert tensorboard == jsonl and "eval/survival_rate" in tensorboard


@pytest.mark.slow
def test_verify_precedence_command_line_beats_quick_verify(tmp_path):
    proc = _run(["--verify", "--num-iterations", "4", "--checkpoint-dir", str(tmp_path),
                 "--set", "run.name=v4"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [json.loads(x) for x in (tmp_path / "v4" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["iteration"] == 4


def _saved_run(root: pathlib.Path, name: str = "old-run") -> pathlib.Path:
    """A run directory with two complete steps (8, 16; holding the files a restore reads)
    of a 16-env cart-pole run, and its metrics rows."""
    from playground import config, runs

    values = config.to_dict(config.resolve(None, [("env.task", "cartpole_balance"),
                                                  ("ppo.num_envs", 16)]))
    for iteration in (8, 16):
        step = root / name / "checkpoints" / str(iteration)
        for part in (*runs.REQUIRED_FILES, f"{runs.DATA_DIR}/0"):  # what a restore reads
            (step / part).parent.mkdir(parents=True, exist_ok=True)
            (step / part).touch()
        (step / "config" / "metadata").write_text(json.dumps(values))
    (root / name / "metrics.jsonl").write_text(
        "".join(json.dumps({"iteration": i}) + "\n" for i in (4, 8, 12, 16)))
    (root / name / "config.yaml").write_text("# the run's config\n")
    return root / name


def _tree_hash(root: pathlib.Path) -> dict[str, str]:
    """Every path under `root` with a hash of its bytes (directories and links by kind)."""
    return {str(p.relative_to(root)): "dir" if p.is_dir() else
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "other"
            for p in sorted(root.rglob("*"))}


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
    (["--algorithm", "a2cc"], "unknown algorithm 'a2cc' (did you mean 'a2c'?)"),
    (["--steps", "0"], "run.env_steps must be >= 1"),  # an empty env-step budget
    (["--resume", "{tmp}/no-such-run"], "no such file or directory"),  # bad --resume path
    (["--resume", "{tmp}/runs/old-run", "--num-envs", "32"],
     "ppo.num_envs cannot change when resuming"),  # incompatible resume
    (["--resume", "latest"], "latest: no complete checkpoint"),  # nothing to resume
    (["--verify", "--enable-amp", "--set", "amp.motion_files=[{tmp}/missing.npz]"],
     "missing.npz"),  # AMP without motion data
    (["--verify", "--enable-amp", "--task", "cartpole_balance"],
     "unknown config key 'amp' (task 'cartpole_balance' with algorithm 'ppo' has no "
     "section 'amp')"),  # AMP on a task without a floating base
    (["--set", "reward_weights.alive_bonus=1.0"], "did you mean 'alive'"),  # unknown reward term
    (["--set", "env.robot.xml={tmp}/nope.xml"], "nope.xml"),  # robot XML missing
    (["--set", "env.robot.xml={tmp}/broken.xml"], "XML parse error"),  # robot XML unparsable
    (["--set", "env.robot.feet=[left_foot,toe]"], "Invalid name 'toe'"),  # foot not in model
    (["--config", "{tmp}/empty.yaml"], "empty.yaml: the config file is empty"),  # empty YAML
    (["--config", "{tmp}/comments.yaml"], "comments.yaml: the config file is empty"),
    (["--resume", "{tmp}/runs/old-run/checkpoints/8"],
     "is not the run's newest step (later: 16)"),  # an older step would collide with 16
    (["--discard-later-steps"], "only with --resume"),  # nothing to discard in a new run
    (["--checkpoint-dir", "{tmp}/afile"], "afile: is not a directory"),  # a file in the way
    (["--checkpoint-dir", "{tmp}/afile/runs"], "its parent {tmp}/afile is not a directory"),
    (["--set", "run.compilation_cache={tmp}/afile"], "run.compilation_cache"),
    (["--resume", "{tmp}/runs/odd-run"], "metrics.jsonl is not a regular file"),
]


@pytest.mark.parametrize("args, expected", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    (tmp_path / "bad.yaml").write_text("ppo:\n  num_envs: [1,\n")
    (tmp_path / "broken.xml").write_text("<mujoco><worldbody><body></mujoco>")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "comments.yaml").write_text("# ppo:\n#   num_envs: 8\n\n")
    (tmp_path / "afile").write_text("not a directory")
    runs_dir = tmp_path / "runs"
    _saved_run(runs_dir)
    (_saved_run(runs_dir, "odd-run") / "metrics.jsonl").unlink()
    (runs_dir / "odd-run" / "metrics.jsonl").mkdir()  # where the run must append its rows
    before = _tree_hash(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    own_dir = "--checkpoint-dir" in args or ("--resume" in args and "latest" not in args)
    checkpoint_dir = [] if own_dir else ["--checkpoint-dir", str(tmp_path / "ck")]
    proc = _run(args + checkpoint_dir, tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    expected = expected.replace("{tmp}", str(tmp_path))
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], proc.stderr
    assert "Traceback" not in proc.stderr
    # nothing written: no new run, the existing runs and files byte for byte untouched
    assert not (tmp_path / "ck").exists()
    assert _tree_hash(tmp_path) == before


# (arguments, the directory the write probe is denied in, text the one error line must hold)
UNWRITABLE = [
    (["--resume", "{tmp}/runs/old-run"], "{tmp}/runs/old-run", "run directory"),
    (["--resume", "{tmp}/runs/old-run"], "{tmp}/runs/old-run/checkpoints", "checkpoints dir"),
    (["--checkpoint-dir", "{tmp}/runs"], "{tmp}/runs", "run.checkpoint_dir"),
    (["--checkpoint-dir", "{tmp}/runs/new/deeper"], "{tmp}/runs", "its parent"),
    (["--set", "run.compilation_cache={tmp}/runs/cache", "--checkpoint-dir", "{tmp}/ck"],
     "{tmp}/runs", "run.compilation_cache"),
]


@pytest.mark.parametrize("args, denied, expected", UNWRITABLE,
                         ids=[" ".join(a) + " " + d for a, d, _ in UNWRITABLE])
def test_unwritable_outputs_are_one_line_and_exit_2_before_any_work(
        tmp_path, deny_writes, capsys, args, denied, expected):
    # in process, with the write probe denied in one directory (conftest's deny_writes)
    from playground.cli import train

    runs_dir = tmp_path / "runs"
    _saved_run(runs_dir)
    before = _tree_hash(tmp_path)
    denied = pathlib.Path(denied.replace("{tmp}", str(tmp_path)))
    deny_writes(denied)
    code = train.main([a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not writable" in err[0], err
    assert expected in err[0], err
    assert _tree_hash(tmp_path) == before
