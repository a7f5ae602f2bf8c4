"""Wire protocol of the bridge, version 1: constants, header shapes, encode and decode.

docs/protocol.md is the normative description; this module is its code. It
imports only the standard library, NumPy and the torch-free operation spec
(reverie.models.operations), so clients (DAW scripts, the pedalboard Remote)
load it without torch.

The job ops and their parameters are the spec's, derived here, never restated:
this module adds only what belongs to the wire (the immediate ops, `job`,
payloads, reply types and error codes).

A message is a ZeroMQ multipart message. Frame 0 is a UTF-8 JSON header; each
following frame is the raw data of one entry of the header's "payload" list,
in order: little-endian float32 samples for audio, raw bytes for a MIDI file.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

import numpy as np

from reverie.models import operations as spec

VERSION = 1
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"

# Operations. JOB_OPS (the pipeline's operations) run on a worker and get
# accepted/progress/result replies; the others are answered at once with one result.
JOB_OPS = spec.NAMES
IMMEDIATE_OPS = ("info", "status", "cancel")
OPS = IMMEDIATE_OPS + JOB_OPS

# Reply types (the header's "type").
ACCEPTED, PROGRESS, RESULT, ERROR = "accepted", "progress", "result", "error"

# Payload kinds and audio layouts.
AUDIO, BYTES = "audio", "bytes"
INTERLEAVED, PLANAR = "interleaved", "planar"
LAYOUTS = (INTERLEAVED, PLANAR)
SAMPLE_DTYPE = np.dtype("<f4")

# Stable error codes. Codes that come from the pipeline (ReverieError.code,
# e.g. invalid_value, bad_audio, cancelled) are forwarded unchanged.
BAD_HEADER = "bad_header"  # frame 0 is not a UTF-8 JSON object
UNSUPPORTED_VERSION = "unsupported_version"
UNKNOWN_OP = "unknown_op"
MISSING_FIELD = "missing_field"
INVALID_TYPE = "invalid_type"
INVALID_VALUE = "invalid_value"
UNKNOWN_FIELD = "unknown_field"
FRAME_MISMATCH = "frame_mismatch"  # payload frames disagree with the header
BAD_AUDIO = "bad_audio"  # empty, NaN or infinite samples
TOO_LARGE = "too_large"  # over a seconds or bytes limit
BUSY = "busy"  # the job queue is full
DUPLICATE_ID = "duplicate_id"  # this client already has a live job with that id
NOT_FOUND = "not_found"  # cancel/status of a job this client does not have
CANCELLED = "cancelled"
SHUTTING_DOWN = "shutting_down"
INTERNAL = "internal"
# Raised by the client only (never sent by the server).
TIMEOUT = "timeout"
UNREACHABLE = "unreachable"

ERROR_CODES = (
    BAD_HEADER,
    UNSUPPORTED_VERSION,
    UNKNOWN_OP,
    MISSING_FIELD,
    INVALID_TYPE,
    INVALID_VALUE,
    UNKNOWN_FIELD,
    FRAME_MISMATCH,
    BAD_AUDIO,
    TOO_LARGE,
    BUSY,
    DUPLICATE_ID,
    NOT_FOUND,
    CANCELLED,
    SHUTTING_DOWN,
    INTERNAL,
)

MAX_ID_CHARS = 128
MAX_HEADER_BYTES = 64 * 1024
MAX_PAYLOAD_ENTRIES = 4

# Parameters: a job op takes the spec's parameters plus `track` (with a midi payload);
# status and cancel take `job`, the id of the job meant.
NUMBER, INTEGER, STRING, BOOLEAN, TEMPO = spec.NUMBER, spec.INTEGER, spec.STRING, spec.BOOLEAN, spec.TEMPO
JOB_PARAMS: dict[str, tuple[spec.Param, ...]] = {name: (*op.params, spec.TRACK) for name, op in spec.OPERATIONS.items()}
OP_PARAMS: dict[str, tuple[str, ...]] = {
    "info": (),
    "status": ("job",),
    "cancel": ("job",),
    **{name: tuple(p.name for p in params) for name, params in JOB_PARAMS.items()},
}
# One wire type per name (tests/test_operations.py checks no two ops disagree).
PARAM_TYPES: dict[str, str] = {"job": STRING, **{p.name: p.type for ps in JOB_PARAMS.values() for p in ps}}
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {
    "cancel": ("job",),
    **{name: op.required for name, op in spec.OPERATIONS.items() if op.required},
}
# Payload entries per op: name -> kind. Melody entries (midi or hum) are optional
# on every job op and exclusive of each other; the spec's inputs are audio.
MELODY_PAYLOAD = {"midi": BYTES, "hum": AUDIO}
OP_PAYLOAD: dict[str, dict[str, str]] = {
    "info": {},
    "status": {},
    "cancel": {},
    **{name: {**dict.fromkeys(op.inputs, AUDIO), **MELODY_PAYLOAD} for name, op in spec.OPERATIONS.items()},
}
REQUIRED_PAYLOAD: dict[str, tuple[str, ...]] = {name: op.inputs for name, op in spec.OPERATIONS.items() if op.inputs}
# The payload entry whose rate, channels and layout the result follows: the op's first input.
PRIMARY_AUDIO = {name: op.inputs[0] for name, op in spec.OPERATIONS.items() if op.inputs}


class ProtocolError(Exception):
    """A request the bridge rejects before it reaches the pipeline; becomes an error reply."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.request_id: str | None = None  # filled in by validate.parse when the header has a usable id
        self.op: str | None = None


# --- JSON -----------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; numbers must be finite")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """An object from its pairs; a key given twice is an error (JSON would let the last one win silently)."""
    header = dict(pairs)
    if len(header) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {twice!r} is given twice in one object")
    return header


def loads_header(frame: bytes | memoryview) -> dict:
    """Parse frame 0. Python's json accepts NaN and Infinity; the protocol does not."""
    raw = bytes(frame)
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(BAD_HEADER, f"header is {len(raw)} bytes; at most {MAX_HEADER_BYTES} allowed", "header")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(BAD_HEADER, f"header is not UTF-8: {exc}", "header") from None
    try:
        header = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(BAD_HEADER, f"header is not valid JSON: {exc}", "header") from None
    if not isinstance(header, dict):
        raise ProtocolError(BAD_HEADER, f"header must be a JSON object, got {type(header).__name__}", "header")
    return header


def dumps_header(header: dict) -> bytes:
    return json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")


def json_number(value: Any) -> Any:
    """A value safe for dumps_header: non-finite floats become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- audio payloads --------------------------------------------------------


def audio_entry(name: str, samples: np.ndarray, sample_rate: int, layout: str = PLANAR) -> tuple[dict, memoryview]:
    """Header entry and frame for (channels, frames) samples, without copying when already float32 LE."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[None, :]
    if samples.ndim != 2:
        raise ValueError(f"{name} must have shape (channels, frames), got {samples.shape}")
    channels, frames = samples.shape
    data = samples.T if layout == INTERLEAVED else samples
    data = np.ascontiguousarray(data, dtype=SAMPLE_DTYPE)
    entry = {
        "name": name,
        "kind": AUDIO,
        "sample_rate": int(sample_rate),
        "channels": int(channels),
        "frames": int(frames),
        "layout": layout,
    }
    return entry, memoryview(data).cast("B")


def bytes_entry(name: str, data: bytes) -> tuple[dict, bytes]:
    return {"name": name, "kind": BYTES, "bytes": len(data)}, bytes(data)


def decode_audio(entry: dict, frame: bytes | memoryview) -> np.ndarray:
    """(channels, frames) float32 view of a frame described by a checked entry."""
    data = np.frombuffer(frame, dtype=SAMPLE_DTYPE)
    if entry["layout"] == INTERLEAVED:
        return data.reshape(entry["frames"], entry["channels"]).T
    return data.reshape(entry["channels"], entry["frames"])


def encode(header: dict, frames: Sequence[Any] = ()) -> list:
    return [dumps_header(header), *frames]


# --- replies ----------------------------------------------------------------


def reply(kind: str, request_id: Any, **fields: Any) -> dict:
    return {"v": VERSION, "id": request_id, "type": kind, **fields}


def error_reply(request_id: Any, code: str, message: str, field: str | None = None) -> dict:
    return reply(ERROR, request_id, code=code, message=message, field=field)
