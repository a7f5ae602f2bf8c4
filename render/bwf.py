"""A Broadcast Wave `bext` chunk (EBU Tech 3285, version 2) for rendered WAV files.

DAWs and library tools read what a file is from it: a description, who made it, a reference (the stem's
cache key, so a file can be matched to its manifest entry), and the loudness and true peak it was
mastered to. It carries no date or time: a render that is resumed, or run again, writes the same bytes.
The chunk goes after the audio data, which RIFF allows and readers scan for.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

SIZE = 602  # the fixed fields, before the coding history
UNSET = 0x7FFF  # a loudness field with no value


def bext_chunk(
    description: str, reference: str, loudness_lufs: float, true_peak_dbtp: float, rate: int, bits: int
) -> bytes:
    def text(value: str, length: int) -> bytes:
        return value.encode("ascii", "replace")[:length].ljust(length, b"\0")

    def centi(value: float) -> int:
        return round(value * 100) if math.isfinite(value) else UNSET

    coding = "FLOAT" if bits == 32 else "PCM"
    history = f"A={coding},F={rate},W={bits},M=stereo,T=Reverie render\r\n".encode("ascii")
    body = b"".join(
        [
            text(description, 256),
            text("Reverie render", 32),
            text(reference, 32),
            b"\0" * 10,  # OriginationDate: none (the same bytes on every run)
            b"\0" * 8,  # OriginationTime
            struct.pack("<QH", 0, 2),  # TimeReference, Version
            b"\0" * 64,  # UMID
            struct.pack("<hhhhh", centi(loudness_lufs), UNSET, centi(true_peak_dbtp), UNSET, UNSET),
            b"\0" * 180,  # reserved
            history,
        ]
    )
    pad = b"\0" if len(body) % 2 else b""
    return b"bext" + struct.pack("<I", len(body)) + body + pad


def append_bext(path: Path, chunk: bytes) -> None:
    """Append `chunk` to the RIFF/WAVE file at `path` and grow the RIFF size to match."""
    with open(path, "r+b") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path} is not a RIFF/WAVE file")
        f.seek(0, 2)
        if f.tell() % 2:
            f.write(b"\0")  # chunks start on even offsets
        f.write(chunk)
        size = f.tell() - 8
        f.seek(4)
        f.write(struct.pack("<I", size))


def read_bext(path: Path) -> dict | None:
    """The bext chunk's fields, or None: for tests and tools that check a file."""
    data = Path(path).read_bytes()
    at = 12
    while at + 8 <= len(data):
        kind, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        if kind == b"bext":
            body = data[at + 8 : at + 8 + size]
            loudness, _, peak, _, _ = struct.unpack("<hhhhh", body[412:422])
            return {
                "description": body[:256].rstrip(b"\0").decode("ascii"),
                "originator": body[256:288].rstrip(b"\0").decode("ascii"),
                "reference": body[288:320].rstrip(b"\0").decode("ascii"),
                "version": struct.unpack("<H", body[346:348])[0],
                "loudness_lufs": loudness / 100,
                "true_peak_dbtp": peak / 100,
            }
        at += 8 + size + (size % 2)
    return None
