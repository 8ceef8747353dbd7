"""TensorBoard event files: read back, they hold metrics.jsonl's numbers at its env steps
and the learning curve; a resume cuts them as it cuts the rows; the reader stops at a torn
or corrupt record. The logger is driven directly (no training: a few seconds)."""

import struct

import pytest

from playground import config, runs, tb_events
from playground.logger import RunLogger


def _cfg(*argv: str):
    cfg, _ = config.resolve_config(["--set", "run.progress=false", "--no-wandb", *argv])
    return cfg


def _row(iteration: int, **values) -> dict:
    return {"iteration": iteration, "env_steps": 128 * iteration,
            "wall_time": 1.5 * iteration, **values}


def _images(run_dir) -> list[tuple[int, str, object]]:
    return [(event.step, value.tag, value.image)
            for path in tb_events.event_files(run_dir) for event in tb_events.read_events(path)
            for value in event.summary.value if value.WhichOneof("value") == "image"]


def test_every_logged_number_is_a_scalar_at_its_env_steps_and_the_curve_an_image(
        tmp_path, logged_scalars):
    logger = RunLogger(tmp_path, _cfg(), {}, total_env_steps=384)
    logger.log(_row(1, **{"train/sps": 85.3, "train/episode_reward": 1.25, "reward/alive": 0.5}),
               console=False)
    logger.log(_row(2, **{"train/sps": 90.0, "train/episode_reward": float("nan"),
                          "reward/alive": 0.25, "eval/episode_reward": 20.0}), console=False)
    logger.log(_row(3, **{"train/sps": 91.0, "train/episode_reward": 3.5, "reward/alive": 1.0}),
               console=False)
    logger.finish()
    logger.close()

    tensorboard, jsonl = logged_scalars(tmp_path)
    assert tensorboard == jsonl
    # by hand: steps 128 * iteration; the eval only where it ran (iteration 2); NaN kept;
    # env_steps is the axis, not a tag
    assert tensorboard["train/sps"] == [(128, "85.3"), (256, "90.0"), (384, "91.0")]
    assert tensorboard["eval/episode_reward"] == [(256, "20.0")]
    assert tensorboard["iteration"] == [(128, "1.0"), (256, "2.0"), (384, "3.0")]
    assert tensorboard["train/episode_reward"][1] == (256, "nan") and "env_steps" not in tensorboard

    png = (tmp_path / "learning_curve.png").read_bytes()
    ((step, tag, image),) = _images(tmp_path)
    assert (step, tag) == (384, "learning_curve") and image.encoded_image_string == png
    # figsize (10, 3.8) inches at dpi 100 -> 1000 x 380 pixels, RGBA (4 channels)
    assert (image.width, image.height, image.colorspace) == (1000, 380, 4)


def test_a_resume_cuts_the_later_events_and_the_new_session_purges_past_its_step(
        tmp_path, logged_scalars):
    cfg = _cfg()
    first = RunLogger(tmp_path, cfg, {}, total_env_steps=640)
    for it in (1, 2, 3, 4):
        first.log(_row(it, **{"train/episode_reward": float(it)}), console=False)
    first.close()  # killed after iteration 4; its newest checkpoint is iteration 2
    (first_file,) = tb_events.event_files(tmp_path)
    with open(first_file, "ab") as f:
        f.write(struct.pack("<Q", 50) + b"\x00\x01")  # a record torn by the kill

    # what runner.Run._resume does for a resume from iteration 2 (256 env steps)
    assert runs.truncate_metrics(tmp_path, 2) == 2
    assert tb_events.truncate_events(tmp_path, 256) == 2  # the rows of iterations 3 and 4
    assert tb_events.read_records(first_file)[1]  # the torn tail is gone too
    untouched = first_file.read_bytes()
    assert tb_events.truncate_events(tmp_path, 256) == 0 and first_file.read_bytes() == untouched

    second = RunLogger(tmp_path, cfg, {}, total_env_steps=640, initial_env_steps=256)
    for it in (3, 4, 5):  # recomputed (other numbers here, to tell them apart)
        second.log(_row(it, **{"train/episode_reward": 10.0 * it}), console=False)
    second.finish()
    second.close()

    files = tb_events.event_files(tmp_path)
    assert len(files) == 2 and files[0] == first_file  # one file per session, in order
    tensorboard, jsonl = logged_scalars(tmp_path)
    assert tensorboard == jsonl  # each step once: nothing duplicated, nothing stale
    assert tensorboard["train/episode_reward"] == [
        (128, "1.0"), (256, "2.0"), (384, "30.0"), (512, "40.0"), (640, "50.0")]
    # the purge marker: a TensorBoard that read the first file drops its steps >= 257
    marker = tb_events.read_events(files[1])[1]
    assert marker.session_log.status == marker.session_log.START and marker.step == 257
    assert [(step, tag) for step, tag, _ in _images(tmp_path)] == [(640, "learning_curve")]


def test_the_reader_returns_tensorboardx_records_and_stops_at_damage(tmp_path):
    from tensorboardX.record_writer import RecordWriter

    path = tmp_path / "records"
    writer = RecordWriter(str(path))
    for payload in (b"first", b"", b"third record"):
        writer.write(payload)
    writer.close()
    assert tb_events.read_records(path) == ([b"first", b"", b"third record"], True)

    data = bytearray(path.read_bytes())
    # record 1 is 8 + 4 + 5 + 4 = 21 bytes and record 2 is 16: record 3's payload starts at 49
    data[49] ^= 0xFF
    path.write_bytes(bytes(data))
    assert tb_events.read_records(path) == ([b"first", b""], False)
    path.write_bytes(bytes(data[:30]))  # cut inside record 2
    assert tb_events.read_records(path) == ([b"first"], False)


@pytest.mark.parametrize("argv", [["--no-tensorboard"], ["--set", "run.tensorboard=false"]])
def test_no_tensorboard_writes_no_event_file(tmp_path, argv):
    cfg = _cfg(*argv)
    assert cfg.run.tensorboard is False
    logger = RunLogger(tmp_path, cfg, {}, total_env_steps=128)
    logger.log(_row(1, **{"train/episode_reward": 1.0}), console=False)
    logger.finish()
    logger.close()
    assert tb_events.event_files(tmp_path) == [] and (tmp_path / "learning_curve.png").is_file()
