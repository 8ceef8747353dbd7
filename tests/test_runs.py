"""runs.py: where a run writes is checked before any work, and a resume from an older
step never overwrites or deletes what came after it unless asked (and then moves it)."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from playground import runs


def _step(steps_dir: pathlib.Path, step: int) -> pathlib.Path:
    """A complete step as runs.py sees one (orbax's marker file)."""
    path = steps_dir / str(step)
    path.mkdir(parents=True)
    (path / "_CHECKPOINT_METADATA").write_text("{}")
    (path / "payload").write_text(f"step {step}")
    return path


def _run(tmp_path: pathlib.Path, steps=(4, 8, 12), rows=(2, 4, 6, 8, 10, 12, 14)) -> pathlib.Path:
    run_dir = tmp_path / "run"
    for step in steps:
        _step(run_dir / runs.STEPS_DIRNAME, step)
    (run_dir / "metrics.jsonl").write_text(
        "".join(json.dumps({"iteration": i, "x": i * 0.5}) + "\n" for i in rows) + '{"iter')
    (run_dir / "config.yaml").write_text("ppo: {}\n")
    (run_dir / "provenance.json").write_text("{}")
    return run_dir


# (how to lay out the path under tmp, what the error line must hold); None: accepted
WRITABLE_CASES = [
    (lambda t: t, None),  # an existing directory
    (lambda t: t / "new" / "deeper", None),  # created later under a writable ancestor
    (lambda t: _file(t / "f"), "is not a directory"),  # a file in its place
    (lambda t: _file(t / "f") / "sub", f"its parent {{tmp}}{os.sep}f is not a directory"),
    (lambda t: _link(t / "dangling", t / "gone"), "is a broken link"),
]


def _file(path: pathlib.Path) -> pathlib.Path:
    path.write_text("x")
    return path


def _link(path: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    path.symlink_to(target)
    return path


@pytest.mark.parametrize("make, expected", WRITABLE_CASES)
def test_check_output_names_what_is_in_the_way(tmp_path, make, expected):
    path = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    if expected is None:
        runs.check_output(path, "run.checkpoint_dir", directory=True)
    else:
        with pytest.raises(runs.OutputError) as error:
            runs.check_output(path, "run.checkpoint_dir", directory=True)
        message = str(error.value)
        assert "\n" not in message and message.startswith(f"run.checkpoint_dir {path}: ")
        assert expected.replace("{tmp}", str(tmp_path)) in message
    assert sorted(tmp_path.rglob("*")) == before  # nothing created


def test_check_output_refuses_what_this_process_cannot_write(tmp_path, deny_writes):
    denied = tmp_path / "read-only"
    denied.mkdir()
    deny_writes(denied)
    with pytest.raises(runs.OutputError, match="read-only/new: its parent .* is not writable"):
        runs.check_output(denied / "new", "run.checkpoint_dir", directory=True)
    with pytest.raises(runs.OutputError, match="read-only: is not writable"):
        runs.check_output(denied, "x", directory=True)
    runs.check_output(tmp_path, "x", directory=True)
    assert sorted(tmp_path.rglob("*")) == [denied]  # the probe leaves nothing behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a mode-555 directory")
def test_check_output_refuses_a_read_only_directory(tmp_path):
    denied = tmp_path / "ro"
    denied.mkdir(mode=0o555)
    with pytest.raises(runs.OutputError, match="is not writable"):
        runs.check_output(denied / "runs", "run.checkpoint_dir", directory=True)


def test_check_run_outputs_of_a_resume_checks_the_run_not_the_checkpoint_dir(tmp_path):
    run_dir = _run(tmp_path)
    step_dir = str(run_dir / runs.STEPS_DIRNAME / "12")
    runs.check_run_outputs(str(_file(tmp_path / "not-a-dir")), resume=step_dir)
    with pytest.raises(runs.OutputError, match="run.checkpoint_dir"):
        runs.check_run_outputs(str(tmp_path / "not-a-dir"))
    with pytest.raises(runs.OutputError, match="run.compilation_cache"):
        runs.check_run_outputs(str(tmp_path), compilation_cache=str(tmp_path / "not-a-dir"))
    (run_dir / "metrics.jsonl").unlink()
    (run_dir / "metrics.jsonl").mkdir()
    with pytest.raises(runs.OutputError, match="metrics.jsonl is not a regular file"):
        runs.check_run_outputs(str(tmp_path), resume=step_dir)


def test_only_the_newest_step_resumes_without_discarding(tmp_path):
    steps_dir = _run(tmp_path) / runs.STEPS_DIRNAME
    _step(steps_dir, 16).joinpath("_CHECKPOINT_METADATA").unlink()  # an interrupted save
    runs.check_resume_step(steps_dir, 12, discard=False)
    runs.check_resume_step(steps_dir, 4, discard=True)
    with pytest.raises(runs.OutputError) as error:
        runs.check_resume_step(steps_dir, 4, discard=False)
    message = str(error.value)
    assert "\n" not in message and "later: 8, 12" in message
    for option in (f"--resume {steps_dir.parent}", f"--init-from {steps_dir / '4'}",
                   "--discard-later-steps"):
        assert option in message


def test_discarding_moves_later_steps_and_rows_and_deletes_nothing(tmp_path):
    run_dir = _run(tmp_path)
    metrics_before = (run_dir / "metrics.jsonl").read_text()
    assert runs.discard_later_steps(run_dir, 12) is None  # the newest: nothing to move
    message = runs.discard_later_steps(run_dir, 4)
    (dest,) = run_dir.glob("discarded-*")
    assert f"step(s) 8, 12 and 5 metrics row(s) past iteration 4 into {dest}/" in message
    assert runs.complete_steps(run_dir / runs.STEPS_DIRNAME) == [4]
    assert runs.complete_steps(dest / runs.STEPS_DIRNAME) == [8, 12]
    assert (dest / runs.STEPS_DIRNAME / "12" / "payload").read_text() == "step 12"
    moved = [json.loads(line)["iteration"] for line in (dest / "metrics.jsonl").open()]
    assert moved == [6, 8, 10, 12, 14]
    assert (dest / "config.yaml").is_file() and (dest / "provenance.json").is_file()
    # the run's own log is cut by the resume (truncate_metrics), not here
    assert (run_dir / "metrics.jsonl").read_text() == metrics_before
    runs.truncate_metrics(run_dir, 4)
    kept = [json.loads(line)["iteration"] for line in (run_dir / "metrics.jsonl").open()]
    assert sorted(kept + moved) == [2, 4, 6, 8, 10, 12, 14]
    # a second discard the same second gets its own directory
    _step(run_dir / runs.STEPS_DIRNAME, 8)
    runs.discard_later_steps(run_dir, 4)
    assert len(list(run_dir.glob("discarded-*"))) == 2
