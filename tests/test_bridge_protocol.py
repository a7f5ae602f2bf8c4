"""Wire validation without sockets: each malformed request gives its stable code, field and message."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from reverie.bridge import protocol as P
from reverie.bridge.keys import is_local_endpoint
from reverie.bridge.validate import Limits, parse

LIMITS = Limits(max_seconds=60.0, max_message_bytes=4 * 1024 * 1024, max_queue=2)


def header(op="inpaint", params=None, payload=None, **extra):
    h = {"v": 1, "id": "r1", "op": op, "params": params if params is not None else {"start": 0.1, "end": 0.2}}
    if payload is not None:
        h["payload"] = payload
    h.update(extra)
    return h


def stereo(frames=4800, rate=48000, layout="interleaved"):
    samples = np.random.default_rng(1).standard_normal((2, frames)).astype(np.float32)
    entry, frame = P.audio_entry("audio", samples, rate, layout)
    return samples, entry, bytes(frame)


def message(h, *frames):
    return [json.dumps(h).encode(), *frames]


def rejects(frames, code, field=None, words=()):
    with pytest.raises(P.ProtocolError) as caught:
        parse(frames, LIMITS)
    err = caught.value
    assert err.code == code, err.message
    assert err.field == field, err.message
    for word in words:
        assert word in err.message
    return err


@pytest.mark.parametrize("layout", ["interleaved", "planar"])
def test_audio_round_trip_is_exact_in_both_layouts(layout):
    samples, entry, frame = stereo(layout=layout)
    req = parse(message(header(payload=[entry]), frame), LIMITS)
    audio = req.audio["audio"]
    assert audio.sample_rate == 48000 and audio.samples.shape == (2, 4800)
    assert np.array_equal(audio.samples, samples)
    assert req.reply_layout == layout
    assert req.params == {"start": 0.1, "end": 0.2}
    assert req.seconds == pytest.approx(0.1)


def test_interleaved_frame_is_frames_by_channels_little_endian():
    samples = np.array([[1, 2, 3], [-1, -2, -3]], np.float32)
    entry, frame = P.audio_entry("audio", samples, 8000, P.INTERLEAVED)
    assert np.frombuffer(bytes(frame), "<f4").tolist() == [1, -1, 2, -2, 3, -3]
    assert entry == {
        "name": "audio",
        "kind": "audio",
        "sample_rate": 8000,
        "channels": 2,
        "frames": 3,
        "layout": "interleaved",
    }


def test_header_errors():
    rejects([b"\xff\xfe"], P.BAD_HEADER, "header", ["UTF-8"])
    rejects([b"{not json"], P.BAD_HEADER, "header", ["JSON"])
    rejects([b"[1, 2]"], P.BAD_HEADER, "header", ["object", "list"])
    rejects([b'{"v": 1, "id": "x", "op": "info", "params": {"a": NaN}}'], P.BAD_HEADER, "header", ["finite"])
    rejects([b"[" * 5000 + b"]" * 5000], P.BAD_HEADER, "header")
    # With the last key winning, {"op": "info", "op": "generate"} would run generate.
    rejects([b'{"v": 1, "id": "x", "op": "info", "op": "generate"}'], P.BAD_HEADER, "header", ["'op' is given twice"])
    rejects([b'{"v": 1, "id": "x", "op": "status", "params": {"job": "a", "job": "b"}}'], P.BAD_HEADER, "header")
    rejects([b" " * (P.MAX_HEADER_BYTES + 1)], P.BAD_HEADER, "header", ["65536"])
    rejects([], P.BAD_HEADER, "header")
    rejects(message({"id": "x", "op": "info"}), P.MISSING_FIELD, "v")
    rejects(message({"v": 2, "id": "x", "op": "info"}), P.UNSUPPORTED_VERSION, "v", ["v=1"])
    rejects(message({"v": True, "id": "x", "op": "info"}), P.UNSUPPORTED_VERSION, "v")
    rejects(message({"v": 1, "op": "info"}), P.MISSING_FIELD, "id")
    rejects(message({"v": 1, "id": 5, "op": "info"}), P.INVALID_TYPE, "id")
    rejects(message({"v": 1, "id": "", "op": "info"}), P.INVALID_VALUE, "id")
    rejects(message({"v": 1, "id": "x" * 129, "op": "info"}), P.INVALID_VALUE, "id")
    rejects(message({"v": 1, "id": "x"}), P.MISSING_FIELD, "op")
    rejects(message({"v": 1, "id": "x", "op": "explode"}), P.UNKNOWN_OP, "op", ["explode", "inpaint"])
    rejects(message({"v": 1, "id": "x", "op": ["info"]}), P.UNKNOWN_OP, "op")
    rejects(message({"v": 1, "id": "x", "op": "info", "extra": 1}), P.UNKNOWN_FIELD, "extra")
    err = rejects(message({"v": 1, "id": "x", "op": "explode"}), P.UNKNOWN_OP, "op")
    assert err.request_id == "x"  # the reply still carries the client's id


def test_param_errors():
    _, entry, frame = stereo()

    def p(params):
        return message(header(params=params, payload=[entry]), frame)

    rejects(message(header(params=[1])), P.INVALID_TYPE, "params")
    rejects(p({"start": "0.1", "end": 0.2}), P.INVALID_TYPE, "start", ["number", "string"])
    rejects(p({"start": True, "end": 0.2}), P.INVALID_TYPE, "start", ["boolean"])
    overflow = [p({"start": "HUGE", "end": 0.2})[0].replace(b'"HUGE"', b"1e400"), frame]  # parses as inf
    rejects(overflow, P.INVALID_VALUE, "start", ["finite"])
    rejects(p({"start": 10**400, "end": 0.2}), P.INVALID_VALUE, "start")
    rejects(p({"start": 0.1, "end": 0.2, "seed": 10**30}), P.INVALID_VALUE, "seed", ["64 bits"])
    rejects(p({"start": 0.1, "end": 0.2, "seed": 1.5}), P.INVALID_TYPE, "seed", ["integer"])
    rejects(p({"start": 0.1, "end": 0.2, "style": 3}), P.INVALID_TYPE, "style")
    rejects(p({"start": 0.1, "end": 0.2, "strength": 0.5}), P.UNKNOWN_FIELD, "strength", ["inpaint", "start"])
    rejects(p({"end": 0.2}), P.MISSING_FIELD, "start")
    rejects(message({"v": 1, "id": "x", "op": "cancel"}), P.MISSING_FIELD, "job")
    rejects(
        message(header(op="transform", params={"inversion": 1}, payload=[entry]), frame), P.INVALID_TYPE, "inversion"
    )
    # Whole floats are integers; null means "the default".
    req = parse(p({"start": 0.1, "end": 0.2, "seed": 7.0, "style": None}), LIMITS)
    assert req.params == {"start": 0.1, "end": 0.2, "seed": 7}


def test_payload_errors():
    samples, entry, frame = stereo()

    def m(payload, *frames):
        return message(header(payload=payload), *frames)

    rejects(m([entry]), P.FRAME_MISMATCH, "payload", ["1 payload frames", "has 0"])
    rejects(m([entry], frame, frame), P.FRAME_MISMATCH, "payload")
    rejects(m([entry], frame[:-4]), P.FRAME_MISMATCH, "audio", ["38396 bytes", "need 38400"])
    rejects(m([entry], frame[:-1]), P.FRAME_MISMATCH, "audio")
    rejects(m({"a": 1}, frame), P.INVALID_TYPE, "payload")
    rejects(m(["audio"], frame), P.INVALID_TYPE, "payload[0]")
    rejects(m([dict(entry, name="b")], frame), P.UNKNOWN_FIELD, "payload[0]", ["inpaint", "audio"])
    rejects(m([]), P.MISSING_FIELD, "audio")
    rejects(m([dict(entry, kind="bytes")], frame), P.INVALID_VALUE, "audio")
    rejects(m([dict(entry, layout="zigzag")], frame), P.INVALID_VALUE, "audio.layout")
    rejects(m([dict(entry, channels=0)], frame), P.INVALID_VALUE, "audio.channels")
    rejects(m([dict(entry, channels=65)], frame), P.INVALID_VALUE, "audio.channels")
    rejects(m([dict(entry, channels="2")], frame), P.INVALID_TYPE, "audio.channels")
    rejects(m([dict(entry, frames=10**20)], frame), P.INVALID_VALUE, "audio.frames")
    rejects(m([dict(entry, frames=10**9)], frame), P.FRAME_MISMATCH, "audio", ["8000000000"])
    rejects(m([dict(entry, frames=-1)], frame), P.INVALID_VALUE, "audio.frames")
    rejects(m([dict(entry, sample_rate=10)], frame), P.INVALID_VALUE, "audio.sample_rate", ["1000"])
    rejects(m([dict(entry, sample_rate=44100.5)], frame), P.INVALID_TYPE, "audio.sample_rate")
    rejects(m([{k: v for k, v in entry.items() if k != "sample_rate"}], frame), P.MISSING_FIELD, "audio.sample_rate")
    rejects(m([dict(entry, gain=2)], frame), P.UNKNOWN_FIELD, "audio")
    rejects(m([dict(entry, frames=0)], b""), P.BAD_AUDIO, "audio", ["empty"])
    rejects(m([entry, entry], frame, frame), P.INVALID_VALUE, "audio", ["twice"])
    bad = samples.copy()
    bad[1, 7], bad[0, 9] = np.nan, np.inf
    entry2, frame2 = P.audio_entry("audio", bad, 48000, "planar")
    rejects(m([entry2], bytes(frame2)), P.BAD_AUDIO, "audio", ["2 NaN or infinite"])


def test_huge_but_finite_samples_are_accepted():
    loud = np.full((2, 100), 3e38, np.float32)  # overflows a sum of squares, still finite
    entry, frame = P.audio_entry("audio", loud, 48000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        req = parse(message(header(params={"start": 0.0, "end": 0.001}, payload=[entry]), bytes(frame)), LIMITS)
    assert np.array_equal(req.audio["audio"].samples, loud)


def test_melody_payload():
    midi_entry, midi = P.bytes_entry("midi", b"MThd" + b"\0" * 10)
    req = parse(message(header(op="generate", params={"seconds": 1}, payload=[midi_entry]), midi), LIMITS)
    assert req.midi == midi and req.audio == {}
    rejects(
        message(header(op="generate", params={}, payload=[dict(midi_entry, bytes=3)]), midi), P.FRAME_MISMATCH, "midi"
    )
    hum_entry, hum = P.audio_entry("hum", np.zeros(800, np.float32), 8000)
    rejects(
        message(header(op="generate", params={}, payload=[midi_entry, hum_entry]), midi, bytes(hum)),
        P.INVALID_VALUE,
        "hum",
        ["not both"],
    )


def test_limits():
    rejects(message(header(op="generate", params={"seconds": 61})), P.TOO_LARGE, "seconds", ["60"])
    long = np.zeros((1, 8000 * 61), np.float32)
    entry, frame = P.audio_entry("audio", long, 8000)
    rejects(message(header(op="continue", params={"seconds": 1}, payload=[entry]), bytes(frame)), P.TOO_LARGE, "audio")
    short = np.zeros((1, 8000 * 59), np.float32)
    entry, frame = P.audio_entry("audio", short, 8000)
    rejects(
        message(header(op="continue", params={"seconds": 2}, payload=[entry]), bytes(frame)),
        P.TOO_LARGE,
        "seconds",
        ["61.00 s", "at most 60 s"],
    )
    err = rejects([b'{"id": "big"}', b"\0" * LIMITS.max_message_bytes], P.TOO_LARGE, "payload", ["bytes"])
    assert err.request_id == "big"


@pytest.mark.parametrize(
    "endpoint,local",
    [
        ("tcp://127.0.0.1:5555", True),
        ("tcp://127.3.2.1:*", True),
        ("tcp://localhost:1", True),
        ("tcp://[::1]:5555", True),
        ("ipc:///tmp/reverie.sock", True),
        ("inproc://x", True),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://*:5555", False),
        ("tcp://eth0:5555", False),
        ("tcp://192.168.1.4:5555", False),
        ("tcp://127.0.0.1;192.168.1.4:5555", False),
        ("udp://127.0.0.1:1", False),
    ],
)
def test_loopback_detection(endpoint, local):
    assert is_local_endpoint(endpoint) is local
