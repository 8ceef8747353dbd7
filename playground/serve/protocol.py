"""The wire protocol: msgpack maps over ZMQ, checked field by field (docs/serving.md).

Never pickle: a message is a msgpack map of plain values (ints, strings, floats,
bytes, lists, maps), decoded with size limits, and every field is checked before use.

Request (client -> server), one msgpack map as the last ZMQ frame:
    v     int   protocol version (PROTOCOL_VERSION)
    type  str   "act" | "info" | "stats" | "reload" | "ping"
    seq   int   client sequence number, echoed in the reply (0 <= seq < 2**63)
    spec  str   the spec hash the client was built for (required for act and reload)
    act:    obs     bytes: obs_size float32 little-endian; or a list of numbers
            dtype   optional, "float32" (the only accepted value)
            fields  instead of obs (not both): {name: list of numbers, float32 bytes or
                    a bare number}, one frame per the spec (history 1 only)
    reload: bundle  str   path of a bundle directory on the server's machine
    ping:   nothing more: a warm-up a client sends shortly before a request (the reply
            carries only the common fields)
Reply (server -> client): v, type, seq, ok (bool), and
    ok:     act: action (bytes, action_size float32 little-endian),
                 timing {policy_us, server_us}; info / stats / reload: their fields
    error:  error (code string, ERROR_CODES), message (one line)
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
#: Largest request the server reads (bytes over all frames); larger gets "too_large".
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
REQUEST_TYPES = ("act", "info", "stats", "reload", "ping")
ERROR_CODES = (
    "too_large",      # request bigger than the server's max_message_bytes
    "bad_msgpack",    # not decodable msgpack (or trailing bytes)
    "bad_request",    # not a map, missing/mistyped fields, bad frame layout
    "bad_version",    # v is not PROTOCOL_VERSION
    "unknown_type",   # type not in REQUEST_TYPES
    "spec_mismatch",  # the client's spec hash is not the served one
    "bad_dtype",      # obs not float32 bytes / numbers
    "bad_size",       # obs or a field of the wrong length
    "not_finite",     # NaN or inf in the observation
    "replay_end",     # a replay server ran out of recorded actions
    "reload_refused",  # reload disabled, bundle unreadable, or a different spec
    "busy",           # a reload is already running
    "internal",       # the policy raised (a bug; the server keeps serving)
)
SEQ_LIMIT = 2**63
F32 = np.dtype("<f4")


class ProtocolError(ValueError):
    """A request that gets an error reply: `code` from ERROR_CODES, one-line message."""

    def __init__(self, code: str, message: str, seq: int | None = None, type_: str | None = None):
        super().__init__(message)
        self.code, self.seq, self.type = code, seq, type_


def pack(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def unpack(payload: bytes, max_bytes: int) -> Any:
    """msgpack -> Python values, with container and string sizes bounded by `max_bytes`.

    A map key that is not a string gets bad_request (with the request's seq when the
    map has a valid one), anything undecodable bad_msgpack.
    """
    try:
        return _unpack(payload, max_bytes, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        error = ProtocolError("bad_msgpack", f"not a msgpack message ({type(exc).__name__})")
    # the refused payloads only: decode again keeping the maps with string keys only
    foreign: list[Any] = []

    def string_keys(pairs: list[tuple[Any, Any]]) -> dict:
        foreign.extend(k for k, _ in pairs if not isinstance(k, (str, bytes)))
        return {k: v for k, v in pairs if isinstance(k, (str, bytes))}

    try:
        message = _unpack(payload, max_bytes, strict_map_key=False, object_pairs_hook=string_keys)
    except Exception:
        raise error from None
    if not foreign:
        raise error
    raise ProtocolError("bad_request", f"map keys must be strings (got {type(foreign[0]).__name__})",
                        request_seq(message))


def _unpack(payload: bytes, max_bytes: int, **options: Any) -> Any:
    return msgpack.unpackb(
        payload, raw=False, use_list=True, max_str_len=max_bytes, max_bin_len=max_bytes,
        max_array_len=max_bytes, max_map_len=max_bytes, max_ext_len=0, **options)


def request_seq(message: Any) -> int | None:
    """The request's seq if it has a valid one (echoed in every reply), else None."""
    seq = message.get("seq") if isinstance(message, dict) else None
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < SEQ_LIMIT:
        return None
    return seq


def parse_request(payload: bytes, max_bytes: int) -> dict[str, Any]:
    """Decode and check the common fields; returns the request map."""
    message = unpack(payload, max_bytes)
    if not isinstance(message, dict):
        raise ProtocolError("bad_request", "a request is a msgpack map")
    seq = request_seq(message)
    if seq is None:
        raise ProtocolError("bad_request", "seq: an integer in [0, 2**63) is required")
    type_ = message.get("type")
    if message.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("bad_version", f"v must be {PROTOCOL_VERSION}", seq,
                            type_ if isinstance(type_, str) else None)
    if type_ not in REQUEST_TYPES:
        raise ProtocolError("unknown_type", f"type must be one of {', '.join(REQUEST_TYPES)}", seq)
    return message


def check_spec(message: dict[str, Any], served_hash: str) -> None:
    client_hash = message.get("spec")
    if not isinstance(client_hash, str):
        raise ProtocolError("bad_request", "spec: the spec hash (string) is required",
                            message["seq"], message["type"])
    if client_hash != served_hash:
        raise ProtocolError(
            "spec_mismatch",
            f"client built for spec {client_hash[:12]}, server serves {served_hash[:12]}: "
            "re-export or rebuild the client from the served policy_spec.json",
            message["seq"], message["type"])


def vector(value: Any, size: int | None, name: str, seq: int) -> np.ndarray:
    """float32 [size] from float32 LE bytes or a list of numbers; checks size and finiteness.

    `size` None: any length (the caller checks it).
    """
    if isinstance(value, bytes):
        if len(value) % 4:
            raise ProtocolError("bad_dtype", f"{name}: {len(value)} bytes is not whole float32s", seq, "act")
        array = np.frombuffer(value, F32)
    elif isinstance(value, list):
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
            raise ProtocolError("bad_dtype", f"{name}: a list of numbers is expected", seq, "act")
        try:
            array = np.asarray(value, np.float64)
        except OverflowError:
            raise ProtocolError("not_finite", f"{name}: a number beyond float range", seq, "act") from None
        if np.any(np.abs(array[np.isfinite(array)]) > np.finfo(np.float32).max):
            raise ProtocolError("not_finite", f"{name}: a value beyond float32 range", seq, "act")
        array = array.astype(np.float32)
    else:
        raise ProtocolError("bad_dtype", f"{name}: float32 bytes or a list of numbers expected", seq, "act")
    if size is not None and array.size != size:
        raise ProtocolError("bad_size", f"{name}: {array.size} values, expected {size}", seq, "act")
    if not np.isfinite(array).all():  # the method: np.all's wrapper costs more than the test
        raise ProtocolError("not_finite", f"{name}: NaN or inf", seq, "act")
    return array


def error_reply(code: str, message: str, seq: int | None = None, type_: str | None = None) -> bytes:
    return pack({"v": PROTOCOL_VERSION, "type": type_ or "error", "seq": seq, "ok": False,
                 "error": code, "message": message})


def act_request(seq: int, spec_hash: str, obs: np.ndarray) -> bytes:
    """The client's act request (observation as float32 little-endian bytes)."""
    return pack({"v": PROTOCOL_VERSION, "type": "act", "seq": seq, "spec": spec_hash,
                 "obs": np.ascontiguousarray(obs, F32).tobytes()})


def percentiles(values: np.ndarray) -> dict[str, float]:
    """p50/p90/p99/max of a sample (NaN when empty), rounded to 0.1."""
    if values.size == 0:
        return {"p50": math.nan, "p90": math.nan, "p99": math.nan, "max": math.nan}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": round(float(p50), 1), "p90": round(float(p90), 1),
            "p99": round(float(p99), 1), "max": round(float(values.max()), 1)}
