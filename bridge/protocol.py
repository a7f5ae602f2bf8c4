"""Wire protocol of the bridge, version 1: constants, header shapes, encode and decode.

docs/protocol.md is the normative description; this module is its code. It
imports only the standard library and NumPy, so clients (DAW scripts, the
pedalboard Remote) load it without torch.

A message is a ZeroMQ multipart message. Frame 0 is a UTF-8 JSON header; each
following frame is the raw data of one entry of the header's "payload" list,
in order: little-endian float32 samples for audio, raw bytes for a MIDI file.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Sequence

import numpy as np

VERSION = 1
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"

# Operations. JOB_OPS run on a worker and get accepted/progress/result replies;
# the others are answered at once with one result.
JOB_OPS = ("generate", "transform", "inpaint", "interpolate", "continue")
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
    BAD_HEADER, UNSUPPORTED_VERSION, UNKNOWN_OP, MISSING_FIELD, INVALID_TYPE, INVALID_VALUE,
    UNKNOWN_FIELD, FRAME_MISMATCH, BAD_AUDIO, TOO_LARGE, BUSY, DUPLICATE_ID, NOT_FOUND,
    CANCELLED, SHUTTING_DOWN, INTERNAL,
)

MAX_ID_CHARS = 128
MAX_HEADER_BYTES = 64 * 1024
MAX_PAYLOAD_ENTRIES = 4

# Parameter types per name: the same names as the CLI and ReveriePipeline.
NUMBER, INTEGER, STRING, BOOLEAN = "number", "integer", "string", "boolean"
PARAM_TYPES: dict[str, str] = {
    "seconds": NUMBER,
    "sample_rate": INTEGER,
    "channels": INTEGER,
    "style": STRING,
    "seed": INTEGER,
    "steps": INTEGER,
    "guidance": NUMBER,
    "scheduler": STRING,
    "strength": NUMBER,
    "timestep": INTEGER,
    "inversion": BOOLEAN,
    "start": NUMBER,
    "end": NUMBER,
    "method": STRING,
    "ratio": NUMBER,
    "mix": STRING,
    "track": INTEGER,  # 0-based index of a track of the midi payload
    "job": STRING,  # cancel/status: the id of the job meant
}
COMMON_PARAMS = ("style", "seed", "steps", "guidance", "scheduler", "track")
OP_PARAMS: dict[str, tuple[str, ...]] = {
    "info": (),
    "status": ("job",),
    "cancel": ("job",),
    "generate": ("seconds", "sample_rate", "channels") + COMMON_PARAMS,
    "transform": ("strength", "timestep", "inversion") + COMMON_PARAMS,
    "inpaint": ("start", "end", "method") + COMMON_PARAMS,
    "interpolate": ("ratio", "strength", "timestep", "mix") + COMMON_PARAMS,
    "continue": ("seconds",) + COMMON_PARAMS,
}
# generate's seconds default like the CLI's: the MIDI melody's length, else 10.
DEFAULT_GENERATE_SECONDS = 10.0
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {
    "cancel": ("job",),
    "inpaint": ("start", "end"),
    "continue": ("seconds",),
}
# Payload entries per op: name -> kind. Melody entries (midi or hum) are optional
# on every job op and exclusive of each other.
MELODY_PAYLOAD = {"midi": BYTES, "hum": AUDIO}
OP_PAYLOAD: dict[str, dict[str, str]] = {
    "info": {},
    "status": {},
    "cancel": {},
    "generate": dict(MELODY_PAYLOAD),
    "transform": {"audio": AUDIO, **MELODY_PAYLOAD},
    "inpaint": {"audio": AUDIO, **MELODY_PAYLOAD},
    "interpolate": {"a": AUDIO, "b": AUDIO, **MELODY_PAYLOAD},
    "continue": {"audio": AUDIO, **MELODY_PAYLOAD},
}
REQUIRED_PAYLOAD: dict[str, tuple[str, ...]] = {
    "transform": ("audio",),
    "inpaint": ("audio",),
    "interpolate": ("a", "b"),
    "continue": ("audio",),
}
# The payload entry whose rate, channels and layout the result follows.
PRIMARY_AUDIO = {"transform": "audio", "inpaint": "audio", "interpolate": "a", "continue": "audio"}


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


def loads_header(frame: bytes | memoryview) -> dict:
    """Parse frame 0. Python's json accepts NaN and Infinity; the protocol does not."""
    raw = bytes(frame)
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(
            BAD_HEADER, f"header is {len(raw)} bytes; at most {MAX_HEADER_BYTES} allowed", "header"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(BAD_HEADER, f"header is not UTF-8: {exc}", "header") from None
    try:
        header = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(BAD_HEADER, f"header is not valid JSON: {exc}", "header") from None
    if not isinstance(header, dict):
        raise ProtocolError(
            BAD_HEADER, f"header must be a JSON object, got {type(header).__name__}", "header"
        )
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


def describe_types(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))
