"""TensorBoard event files of a run, beside its metrics.jsonl (tensorboardX, no TensorFlow).

    <run dir>/events.out.tfevents.<time>.<host>.<ns>   one file per session of the run

Scalars: every number of every logged row, tagged with its metrics.jsonl key, at step =
the row's `env_steps` (the x axis of learning_curve.png and of wandb). Image: the
learning-curve PNG, byte for byte, at the run's last step.

Resume keeps the files consistent with metrics.jsonl: `truncate_events` cuts the earlier
sessions' files at the resumed step (as `runs.truncate_metrics` cuts the rows), and the new
session's file opens with TensorBoard's purge marker (SessionLog START) at the step after
it, so a TensorBoard already watching the run drops what it showed past that step too.
"""

from __future__ import annotations

import os
import pathlib
import struct
import time
from typing import Any

#: what TensorBoard reads as an event file (and what `truncate_events` cuts)
EVENT_FILE_GLOB = "events.out.tfevents.*"
#: the row key that is the step axis of every event
STEP_KEY = "env_steps"
#: PNG colour type (IHDR byte 25) -> channels, as the image summary states them
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


class EventWriter:
    """One session's event file in `run_dir`: a row or an image per call, on disk at return.

    `resumed_at`: the env steps the session starts from (None: a new run); events past
    it, left by earlier sessions, are purged for TensorBoard (see the module docstring).
    Synchronous (tensorboardX's EventsWriter, not its queue thread): a row logged before a
    checkpoint is on disk before that checkpoint, as its metrics.jsonl line is.
    """

    def __init__(self, run_dir: pathlib.Path, resumed_at: int | None = None):
        from tensorboardX.event_file_writer import EventsWriter  # lazy: only when enabled
        from tensorboardX.proto.event_pb2 import Event, SessionLog
        from tensorboardX.proto.summary_pb2 import Summary

        self._event, self._summary = Event, Summary
        # the nanoseconds keep two sessions started in one second apart (and in order)
        suffix = f".{time.time_ns()}"
        self._writer = EventsWriter(str(pathlib.Path(run_dir) / "events"), filename_suffix=suffix)
        (self.path,) = pathlib.Path(run_dir).glob(f"{EVENT_FILE_GLOB}{suffix}")
        if resumed_at is not None:
            self._write(Event(wall_time=time.time(), step=int(resumed_at) + 1,
                              session_log=SessionLog(status=SessionLog.START)))

    def _write(self, event) -> None:
        self._writer.write_event(event)
        self._writer.flush()

    def add_row(self, row: dict[str, Any]) -> None:
        """One event: every int or float of `row` but the step (NaN and inf kept as such)."""
        values = [self._summary.Value(tag=key, simple_value=float(value))
                  for key, value in row.items()
                  if key != STEP_KEY and isinstance(value, (int, float))]
        self._write(self._event(wall_time=time.time(), step=int(row[STEP_KEY]),
                                summary=self._summary(value=values)))

    def add_png(self, tag: str, png_path: pathlib.Path, step: int) -> None:
        """The PNG file as an image (its bytes as they are: nothing decoded or re-encoded)."""
        data = pathlib.Path(png_path).read_bytes()
        width, height = struct.unpack(">II", data[16:24])  # IHDR, the first chunk
        image = self._summary.Image(height=height, width=width,
                                    colorspace=_PNG_CHANNELS.get(data[25], 4),
                                    encoded_image_string=data)
        self._write(self._event(wall_time=time.time(), step=int(step), summary=self._summary(
            value=[self._summary.Value(tag=tag, image=image)])))

    def close(self) -> None:
        self._writer.close()


def event_files(run_dir: pathlib.Path) -> list[pathlib.Path]:
    """The run's event files in the order TensorBoard reads them (by name: by start time)."""
    return sorted(p for p in pathlib.Path(run_dir).glob(EVENT_FILE_GLOB) if p.is_file())


def read_records(path: pathlib.Path) -> tuple[list[bytes], bool]:
    """The TFRecord payloads of `path` in order, and whether the file ended cleanly.

    A record is: length (uint64 LE), masked CRC32C of the length, payload, masked CRC32C
    of the payload. A torn record (a kill mid-write) or a bad checksum ends the reading
    there (False), as TensorBoard stops at it.
    """
    from tensorboardX.record_writer import masked_crc32c

    data = pathlib.Path(path).read_bytes()
    records, at = [], 0
    while at < len(data):
        if at + 12 > len(data):
            return records, False
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        end = at + 12 + length + 4
        if struct.unpack("<I", data[at + 8:at + 12])[0] != masked_crc32c(header) or end > len(data):
            return records, False
        payload = data[at + 12:end - 4]
        if struct.unpack("<I", data[end - 4:end])[0] != masked_crc32c(payload):
            return records, False
        records.append(payload)
        at = end
    return records, True


def read_events(path: pathlib.Path) -> list:
    """The Event protos of one event file, up to its first torn or corrupt record."""
    from tensorboardX.proto.event_pb2 import Event

    return [Event.FromString(record) for record in read_records(path)[0]]


def truncate_events(run_dir: pathlib.Path, last_step: int) -> int:
    """Cut the run's event files after env step `last_step` (and at a torn record); events
    dropped. Each file that changes is replaced atomically; the others are left untouched.

    What `runs.truncate_metrics` does to metrics.jsonl, for the same resume: the steps
    past it are recomputed by the resumed session, into its own file.
    """
    files = event_files(run_dir)
    if not files:
        return 0
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import RecordWriter

    dropped = 0
    for path in files:
        records, clean = read_records(path)
        kept = []
        for record in records:
            event = Event.FromString(record)
            if event.step <= last_step or event.file_version:  # the file's header stays
                kept.append(record)
        if clean and len(kept) == len(records):
            continue
        dropped += len(records) - len(kept)
        tmp = path.with_name(".events-cut.tmp")  # no "tfevents" in it: TensorBoard skips it
        writer = RecordWriter(str(tmp))
        for record in kept:
            writer.write(record)
        writer.flush()
        writer.close()
        os.replace(tmp, path)
    return dropped
