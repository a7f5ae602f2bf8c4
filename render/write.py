"""Writing one output file, stem or mixdown: raw float file, mastered file, spectrogram, then the final name.

Blocks stream into a float32 temp file while loudness and true peak are
measured; a second pass applies the normalising gain and the true-peak
limiter into the final format under a temp name, drawing the spectrogram as
it goes, and that file is renamed to `<name>.<format>` only when complete.
Temp names are hidden and contain `.partial`, so the next run removes what a
killed one left.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import soundfile as sf
from reverie.models.audio import SUBTYPES

from .loudness import Measurement, NormaliseResult, StreamMeasure, Target, normalise_file
from .manifest import sha256_file
from .preset import SetSpec
from .schema import CHANNELS

BLOCK = 1 << 16  # frames per block through effects and files


@dataclass
class Written:
    """What `write_mastered` made: the final file and its spectrogram, the measurements, the phases' times."""

    path: Path
    png: Path
    frames: int
    measured_raw: Measurement
    result: NormaliseResult
    times: dict  # render_s (making and writing the raw blocks), master_s, spectrogram_s


def write_mastered(blocks: Iterable[np.ndarray], folder: Path, name: str, set_spec: SetSpec, target: Target,
                   title: Callable[[int, NormaliseResult], str],
                   on_mastering: Callable[[], None] | None = None) -> Written:
    """Write (channels, n) float32 `blocks` to folder/<name>.<format>, mastered to `target`, and <name>.png.

    `title(frames, result)` is the spectrogram's title; `on_mastering` is called when the second pass begins.
    """
    from .spectrogram import SpectrogramCollector, write_png

    final = folder / f"{name}.{set_spec.format}"
    raw, partial = temp_names(folder, name, set_spec.format)
    times = {}
    t0 = time.perf_counter()
    try:
        measure = StreamMeasure(set_spec.sample_rate, CHANNELS)
        with sf.SoundFile(str(raw), "w", set_spec.sample_rate, CHANNELS, subtype="FLOAT", format="WAV") as f:
            frames = 0
            for block in blocks:
                f.write(block.T)
                measure.push(block)
                frames += block.shape[1]
        measured_raw = measure.result()
        times["render_s"] = time.perf_counter() - t0
        if on_mastering:
            on_mastering()
        t1 = time.perf_counter()
        columns = SpectrogramCollector(frames, set_spec.sample_rate)
        result = normalise_file(raw, partial, target, measure, subtype=SUBTYPES[set_spec.bit_depth],
                                fmt=sound_format(set_spec), on_block=columns)
        times["master_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        png = folder / f"{name}.png"
        write_png(columns.result(), png, title(frames, result))
        times["spectrogram_s"] = time.perf_counter() - t2
        os.replace(partial, final)  # last: a file under its final name is always complete
    finally:
        for tmp in (raw, partial):
            if tmp.exists():
                tmp.unlink()
    return Written(final, png, frames, measured_raw, result, times)


def temp_names(folder: Path, name: str, fmt: str) -> tuple[Path, Path]:
    """(raw float file, mastered file before its rename) of output `name`."""
    return folder / f".{name}.raw.partial.wav", folder / f".{name}.partial.{fmt}"


def sound_format(set_spec: SetSpec) -> str:
    return {"wav": "WAV", "flac": "FLAC"}[set_spec.format]


def file_entry(path: Path, set_spec: SetSpec, frames: int) -> dict:
    """The manifest's description of an output file."""
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "frames": frames,
        "seconds": round(frames / set_spec.sample_rate, 6),
        "sample_rate": set_spec.sample_rate,
        "channels": CHANNELS,
        "format": set_spec.format,
        "bit_depth": set_spec.bit_depth,
    }


def mastering(written: Written, target: Target) -> dict:
    """The manifest's account of the measuring and mastering, the same for stems and the mixdown."""
    return {
        "spectrogram": written.png.name,
        "measured_raw": written.measured_raw.as_dict(),
        "target": target.as_dict(),
        "gain_db": round(written.result.gain_db, 3),
        "limiter_db": round(written.result.limiter_db, 3),
        "measured": written.result.measured.as_dict(),
    }


def duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 180 else f"{seconds:.1f} s"


def lufs_text(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "-inf"
