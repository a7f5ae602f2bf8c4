"""Wire validation: turn a multipart message into a checked Request, or raise ProtocolError.

The bridge checks only what belongs to the wire: JSON shape, which parameters
an op takes and their JSON types (both from reverie.models.operations, by way
of the protocol's tables), frames against the header, finite samples and the
server's limits. Ranges and choices (steps, strength, style names, region
bounds, ...) are the pipeline's to check, with the same spec; its ReverieError
is forwarded as the error reply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from reverie.models.audio import MAX_CHANNELS, Audio, check_sample_rate
from reverie.models.errors import ReverieError
from reverie.models.operations import INT64 as INT64_MAX
from reverie.models.operations import SAMPLE_RATE, operation

from . import protocol as P
from .protocol import ProtocolError


@dataclass(frozen=True)
class Limits:
    max_seconds: float = 600.0  # longest audio a request may send or ask for
    max_message_bytes: int = 256 * 1024 * 1024  # one message, all frames; also ZMQ_MAXMSGSIZE
    max_queue: int = 8  # jobs waiting for a worker

    def as_dict(self) -> dict:
        return {
            "max_seconds": self.max_seconds,
            "max_message_bytes": self.max_message_bytes,
            "max_queue": self.max_queue,
            "max_channels": MAX_CHANNELS,
            "max_header_bytes": P.MAX_HEADER_BYTES,
            "sample_rates": [SAMPLE_RATE.low, SAMPLE_RATE.high],
        }


@dataclass
class Request:
    id: str
    op: str
    params: dict[str, Any]
    audio: dict[str, Audio] = field(default_factory=dict)
    midi: bytes | None = None
    reply_layout: str = P.INTERLEAVED
    seconds: float = 0.0  # longest audio involved, for limits and the log line


def request_id(header: Any) -> Any:
    """The id to answer with: the client's when it is a valid id, else None."""
    if isinstance(header, dict):
        rid = header.get("id")
        if isinstance(rid, str) and 0 < len(rid) <= P.MAX_ID_CHARS:
            return rid
    return None


def parse(frames: Sequence[Any], limits: Limits) -> Request:
    """Check a whole multipart message (frames as bytes, memoryview or zmq.Frame)."""
    buffers = [_buffer(f) for f in frames]
    if not buffers:
        raise ProtocolError(P.BAD_HEADER, "empty message: frame 0 must be the JSON header", "header")
    header = P.loads_header(buffers[0])
    try:
        total = sum(b.nbytes for b in buffers)
        if total > limits.max_message_bytes:
            raise ProtocolError(
                P.TOO_LARGE, f"message is {total} bytes; at most {limits.max_message_bytes} allowed", "payload"
            )
        return _parse_header(header, buffers[1:], limits)
    except ProtocolError as exc:
        exc.request_id = request_id(header)  # answer with the client's id whenever it is usable
        exc.op = header.get("op") if isinstance(header.get("op"), str) else None
        raise


def _parse_header(header: dict, frames: list[memoryview], limits: Limits) -> Request:
    rid = _check_id(header)
    _check_version(header)
    op = header.get("op")
    if "op" not in header:
        raise ProtocolError(P.MISSING_FIELD, "header has no op", "op")
    if not isinstance(op, str) or op not in P.OPS:
        raise ProtocolError(P.UNKNOWN_OP, f"unknown op {op!r}; allowed: {', '.join(P.OPS)}", "op")
    unknown = set(header) - {"v", "id", "op", "params", "payload", "reply_layout"}
    if unknown:
        name = sorted(unknown)[0]
        raise ProtocolError(
            P.UNKNOWN_FIELD,
            f"unknown header field {name!r}; allowed: v, id, op, params, payload, reply_layout",
            name,
        )
    params = _check_params(op, header.get("params", {}))
    req = Request(id=rid, op=op, params=params)
    _check_payload(req, header.get("payload", []), frames, limits)
    layout = header.get("reply_layout")
    if layout is not None:
        if layout not in P.LAYOUTS:
            raise ProtocolError(
                P.INVALID_VALUE,
                f"reply_layout must be one of {', '.join(P.LAYOUTS)}, got {layout!r}",
                "reply_layout",
            )
        req.reply_layout = layout
    _check_seconds(req, limits)
    return req


def _buffer(frame: Any) -> memoryview:
    buf = getattr(frame, "buffer", frame)  # zmq.Frame exposes .buffer
    return memoryview(buf).cast("B") if not isinstance(buf, memoryview) or buf.format != "B" else buf


def _check_id(header: dict) -> str:
    if "id" not in header:
        raise ProtocolError(P.MISSING_FIELD, "header has no id; give a string chosen by the client", "id")
    rid = header["id"]
    if not isinstance(rid, str):
        raise ProtocolError(P.INVALID_TYPE, f"id must be a string, got {_type(rid)}", "id")
    if not 0 < len(rid) <= P.MAX_ID_CHARS:
        raise ProtocolError(P.INVALID_VALUE, f"id must be 1 to {P.MAX_ID_CHARS} characters, got {len(rid)}", "id")
    return rid


def _check_version(header: dict) -> None:
    if "v" not in header:
        raise ProtocolError(P.MISSING_FIELD, f"header has no v; this server speaks v={P.VERSION}", "v")
    v = header["v"]
    if isinstance(v, bool) or not isinstance(v, int) or v != P.VERSION:
        raise ProtocolError(
            P.UNSUPPORTED_VERSION, f"protocol version {v!r} is not supported; this server speaks v={P.VERSION}", "v"
        )


def _type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _check_params(op: str, params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise ProtocolError(P.INVALID_TYPE, f"params must be an object, got {_type(params)}", "params")
    allowed = P.OP_PARAMS[op]
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in allowed:
            raise ProtocolError(
                P.UNKNOWN_FIELD,
                f"{op} takes no parameter {name!r}; allowed: {', '.join(allowed) or 'none'}",
                name,
            )
        if value is None:  # explicit null means "the default", like leaving it out
            continue
        out[name] = _check_value(name, P.PARAM_TYPES[name], value)
    for name in P.REQUIRED_PARAMS.get(op, ()):
        if name not in out:
            raise ProtocolError(P.MISSING_FIELD, f"{op} needs the parameter {name!r}", name)
    return out


def _check_value(name: str, kind: str, value: Any) -> Any:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == P.NUMBER:
        if not (is_int or isinstance(value, float)):
            raise ProtocolError(P.INVALID_TYPE, f"{name} must be a number, got {_type(value)}", name)
        if is_int and abs(value) > INT64_MAX or not math.isfinite(float(value)):
            raise ProtocolError(P.INVALID_VALUE, f"{name} must be a finite number, got {value!r:.40}", name)
        return float(value)
    if kind == P.INTEGER:
        if isinstance(value, float) and value.is_integer() and abs(value) <= INT64_MAX:
            value, is_int = int(value), True
        if not is_int:
            raise ProtocolError(P.INVALID_TYPE, f"{name} must be an integer, got {_type(value)}", name)
        if abs(value) > INT64_MAX:
            raise ProtocolError(P.INVALID_VALUE, f"{name} must fit in 64 bits, got {str(value)[:40]}", name)
        return value
    if kind == P.STRING:
        if not isinstance(value, str):
            raise ProtocolError(P.INVALID_TYPE, f"{name} must be a string, got {_type(value)}", name)
        if len(value) > 256:
            raise ProtocolError(P.INVALID_VALUE, f"{name} is {len(value)} characters; at most 256", name)
        return value
    if kind == P.TEMPO:  # a bpm as a number, or text; the pipeline checks what it says
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ProtocolError(P.INVALID_TYPE, f"{name} must be a number or a string, got {_type(value)}", name)
        return _check_value(name, P.STRING if isinstance(value, str) else P.NUMBER, value)
    if kind == P.BOOLEAN:
        if not isinstance(value, bool):
            raise ProtocolError(P.INVALID_TYPE, f"{name} must be true or false, got {_type(value)}", name)
        return value
    raise AssertionError(f"no wire type {kind!r}")  # PARAM_TYPES names only the types above


def _check_payload(req: Request, entries: Any, frames: list[memoryview], limits: Limits) -> None:
    if not isinstance(entries, list):
        raise ProtocolError(P.INVALID_TYPE, f"payload must be an array, got {_type(entries)}", "payload")
    if len(entries) > P.MAX_PAYLOAD_ENTRIES:
        raise ProtocolError(
            P.INVALID_VALUE, f"payload has {len(entries)} entries; at most {P.MAX_PAYLOAD_ENTRIES}", "payload"
        )
    if len(entries) != len(frames):
        raise ProtocolError(
            P.FRAME_MISMATCH,
            f"header describes {len(entries)} payload frames but the message has {len(frames)}",
            "payload",
        )
    allowed = P.OP_PAYLOAD[req.op]
    seen: set[str] = set()
    for index, (entry, frame) in enumerate(zip(entries, frames)):
        where = f"payload[{index}]"
        if not isinstance(entry, dict):
            raise ProtocolError(P.INVALID_TYPE, f"{where} must be an object, got {_type(entry)}", where)
        name = entry.get("name")
        if not isinstance(name, str) or name not in allowed:
            raise ProtocolError(
                P.UNKNOWN_FIELD,
                f"{req.op} takes no payload named {name!r}; allowed: {', '.join(allowed) or 'none'}",
                where,
            )
        if name in seen:
            raise ProtocolError(P.INVALID_VALUE, f"payload {name!r} is given twice", name)
        seen.add(name)
        kind = entry.get("kind")
        if kind != allowed[name]:
            raise ProtocolError(
                P.INVALID_VALUE, f"payload {name!r} must have kind {allowed[name]!r}, got {kind!r}", name
            )
        if kind == P.BYTES:
            _check_bytes(name, entry, frame)
            req.midi = bytes(frame)
        else:
            req.audio[name] = _check_audio(name, entry, frame)
    if "midi" in seen and "hum" in seen:
        raise ProtocolError(P.INVALID_VALUE, "give a melody as midi or as hum, not both", "hum")
    for name in P.REQUIRED_PAYLOAD.get(req.op, ()):
        if name not in seen:
            raise ProtocolError(P.MISSING_FIELD, f"{req.op} needs the audio payload {name!r}", name)
    primary = P.PRIMARY_AUDIO.get(req.op)
    if primary:
        req.reply_layout = entries[[e["name"] for e in entries].index(primary)]["layout"]


def _dimension(name: str, entry: dict, key: str, low: int, high: int) -> int:
    if key not in entry:
        raise ProtocolError(P.MISSING_FIELD, f"payload {name!r} has no {key}", f"{name}.{key}")
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(P.INVALID_TYPE, f"{name}.{key} must be an integer, got {_type(value)}", f"{name}.{key}")
    if not low <= value <= high:
        raise ProtocolError(
            P.INVALID_VALUE, f"{name}.{key} must be between {low} and {high}, got {str(value)[:40]}", f"{name}.{key}"
        )
    return value


def _check_bytes(name: str, entry: dict, frame: memoryview) -> None:
    size = _dimension(name, entry, "bytes", 1, INT64_MAX)
    if size != frame.nbytes:
        raise ProtocolError(P.FRAME_MISMATCH, f"{name} frame has {frame.nbytes} bytes but the header says {size}", name)


def _check_audio(name: str, entry: dict, frame: memoryview) -> Audio:
    extra = set(entry) - {"name", "kind", "sample_rate", "channels", "frames", "layout"}
    if extra:
        raise ProtocolError(P.UNKNOWN_FIELD, f"payload {name!r} has unknown field {sorted(extra)[0]!r}", name)
    rate = entry.get("sample_rate")
    if rate is None:
        raise ProtocolError(P.MISSING_FIELD, f"payload {name!r} has no sample_rate", f"{name}.sample_rate")
    try:
        check_sample_rate(rate, f"{name}.sample_rate")
    except ReverieError as exc:
        code = P.INVALID_TYPE if isinstance(rate, bool) or not isinstance(rate, int) else P.INVALID_VALUE
        raise ProtocolError(code, exc.message, exc.field) from None
    channels = _dimension(name, entry, "channels", 1, MAX_CHANNELS)
    frames = _dimension(name, entry, "frames", 0, INT64_MAX)
    layout = entry.get("layout", None)
    if layout not in P.LAYOUTS:
        raise ProtocolError(
            P.INVALID_VALUE, f"{name}.layout must be one of {', '.join(P.LAYOUTS)}, got {layout!r}", f"{name}.layout"
        )
    if frames == 0:
        raise ProtocolError(P.BAD_AUDIO, f"{name} is empty (0 frames); give at least one sample", name)
    expected = channels * frames * P.SAMPLE_DTYPE.itemsize
    if frame.nbytes != expected:
        raise ProtocolError(
            P.FRAME_MISMATCH,
            f"{name} frame has {frame.nbytes} bytes but {channels} channels x {frames} frames of float32 "
            f"need {expected}",
            name,
        )
    samples = P.decode_audio({"channels": channels, "frames": frames, "layout": layout}, frame)
    # NaN and inf propagate through a sum of squares, so a finite one means finite samples: one
    # BLAS pass, about half the time of isfinite().all(). A non-finite one may also be overflow
    # (|x| > 1e19), so only then is each sample checked.
    raw = np.frombuffer(frame, dtype=P.SAMPLE_DTYPE)
    with np.errstate(over="ignore", invalid="ignore"):
        energy = np.dot(raw, raw)
    if not np.isfinite(energy) and not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise ProtocolError(
            P.BAD_AUDIO, f"{name} contains {bad} NaN or infinite samples; all samples must be finite", name
        )
    return Audio(samples, int(rate))


def _check_seconds(req: Request, limits: Limits) -> None:
    """The longest audio a request sends, and the audio it asks for, must be within max_seconds."""
    spans = [(audio.seconds, name) for name, audio in req.audio.items()]
    if "seconds" in req.params:  # inputs first: an input over the limit is named before the output
        spec = operation(req.op)
        main = req.audio[spec.main_input].seconds if spec.main_input else None
        spans.append((spec.result_seconds(main, req.params["seconds"]), "seconds"))
    req.seconds = max((seconds for seconds, _ in spans), default=0.0)
    for seconds, name in spans:
        if seconds > limits.max_seconds:
            raise ProtocolError(
                P.TOO_LARGE,
                f"{name} is {seconds:.2f} s of audio; this server allows at most {limits.max_seconds:g} s per request",
                name,
            )
