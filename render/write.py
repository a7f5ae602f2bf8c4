"""Writing one output file, stem or mixdown: raw float file, mastered file and spectrogram, all under temp names.

Blocks stream into a float32 temp file while loudness and true peak are
measured; a second pass applies the normalising gain and the true-peak
limiter into the final format under a temp name, drawing the spectrogram as
it goes. Nothing here touches a final name: `write_mastered` returns the
renames that publish the output (audio first, then its picture), and only the
process holding the set's lock carries them out (`publish`), so a worker that
outlives its parent can never put a file under a final name. Temp names are
hidden, contain `.partial` and the writer's pid, so the next run removes what
a killed one left and two processes never share one.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import soundfile as sf

from reverie.models.audio import SUBTYPES
from reverie.models.errors import ReverieError

from .bwf import append_bext, bext_chunk
from .loudness import Measurement, NormaliseResult, StreamMeasure, Target, normalise_file
from .manifest import sha256_file
from .preset import SetSpec
from .schema import CHANNELS

BLOCK = 1 << 16  # frames per block through effects and files
HELD_LU = 0.5  # a shortfall below its loudness target worth a warning (normalise_file settles within 0.3 LU)


@dataclass
class Written:
    """What `write_mastered` made: final names, the temp files that become them, measurements, the phases' times."""

    path: Path  # final name of the audio
    png: Path  # final name of its spectrogram
    renames: list[tuple[str, str]]  # (temp, final), audio first: see `publish`
    frames: int
    measured_raw: Measurement
    result: NormaliseResult
    times: dict  # render_s (making and writing the raw blocks), master_s, spectrogram_s


@dataclass
class Output:
    """A finished output not yet under its final names: its manifest entry and the renames that publish it."""

    entry: dict
    renames: list[tuple[str, str]]


def write_mastered(
    blocks: Iterable[np.ndarray],
    folder: Path,
    name: str,
    set_spec: SetSpec,
    target: Target,
    title: Callable[[int, NormaliseResult], str],
    on_mastering: Callable[[], None] | None = None,
    tags: dict | None = None,
    reference: str = "",
) -> Written:
    """Write (channels, n) float32 `blocks` to folder/<name>.<format>, mastered to `target`, and <name>.png.

    `title(frames, result)` is the spectrogram's title; `on_mastering` is called when the second pass begins;
    `tags` (soundfile's metadata fields: title, album, ...) are written into the file; a WAV file also gets a
    Broadcast Wave `bext` chunk (bwf.py) with the comment, `reference` and the loudness it was mastered to.
    """
    from .spectrogram import SpectrogramCollector, write_png

    final, png = folder / f"{name}.{set_spec.format}", folder / f"{name}.png"
    raw, partial, png_partial = temp_names(folder, name, set_spec.format)
    times = {}
    finished = False
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
        result = normalise_file(
            raw,
            partial,
            target,
            measure,
            subtype=SUBTYPES[set_spec.bit_depth],
            fmt=sound_format(set_spec),
            on_block=columns,
            metadata=tags,
        )
        if set_spec.format == "wav":
            measured = result.measured
            append_bext(
                partial,
                bext_chunk(
                    (tags or {}).get("comment", name),
                    reference,
                    measured.loudness_lufs,
                    measured.true_peak_dbtp,
                    set_spec.sample_rate,
                    set_spec.bit_depth,
                ),
            )
        times["master_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        write_png(columns.result(), png_partial, title(frames, result))
        times["spectrogram_s"] = time.perf_counter() - t2
        finished = True
    except (OSError, sf.SoundFileError) as exc:  # a full disk, a folder gone: one line, not a traceback
        raise write_failed(exc, final) from None
    finally:
        for tmp in (raw,) if finished else (raw, partial, png_partial):
            tmp.unlink(missing_ok=True)
    renames = [(str(partial), str(final)), (str(png_partial), str(png))]
    return Written(final, png, renames, frames, measured_raw, result, times)


def write_failed(exc: Exception, path: Path) -> ReverieError:
    """A write that failed, in one line: which file, why, and how much space is left there."""
    from .space import size

    reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[-1].rstrip(".") or type(exc).__name__
    try:
        free = f" ({size(shutil.disk_usage(path.parent).free)} free there)"
    except OSError:
        free = ""
    return ReverieError(f"cannot write {path}: {reason}{free}", field="output")


def temp_names(folder: Path, name: str, fmt: str) -> tuple[Path, Path, Path]:
    """(raw float file, mastered file, spectrogram) of output `name` before publishing, unique to this process."""
    tag = f".{name}.{os.getpid()}"
    return (folder / f"{tag}.raw.partial.wav", folder / f"{tag}.partial.{fmt}", folder / f"{tag}.partial.png")


def publish(renames: list[tuple[str, str]]) -> None:
    """Move finished temp files to their final names, audio before its picture. Only the lock holder calls this."""
    for temp, final in renames:
        os.replace(temp, final)


def discard(renames: list[tuple[str, str]]) -> None:
    for temp, _ in renames:
        Path(temp).unlink(missing_ok=True)


def tags(set_spec: SetSpec, name: str, what: str) -> dict:
    """The file's tags (FLAC: Vorbis comments; WAV: a LIST/INFO chunk): which set and which output it is."""
    return {"title": f"{set_spec.name} - {name}", "album": set_spec.name, "comment": what, "software": "Reverie render"}


def sound_format(set_spec: SetSpec) -> str:
    return {"wav": "WAV", "flac": "FLAC"}[set_spec.format]


def file_entry(written: Written, set_spec: SetSpec, frames: int) -> dict:
    """The manifest's description of an output file, read from its temp file (it is published after)."""
    source = Path(written.renames[0][0])
    return {
        "file": written.path.name,
        "sha256": sha256_file(source),
        "bytes": source.stat().st_size,
        "frames": frames,
        "seconds": round(frames / set_spec.sample_rate, 6),
        "sample_rate": set_spec.sample_rate,
        "channels": CHANNELS,
        "format": set_spec.format,
        "bit_depth": set_spec.bit_depth,
        # 16-bit files are dithered (seeded TPDF: reruns stay bit-identical); 24-bit and float need none.
        "dither": "tpdf" if set_spec.bit_depth == 16 else "none",
    }


def mastering(written: Written, target: Target) -> dict:
    """The manifest's account of the measuring and mastering, the same for stems and the mixdown; with
    `warning` where the ceiling kept the file short of its loudness (the line `render` prints)."""
    entry = {
        "file": written.path.name,
        "spectrogram": written.png.name,
        "measured_raw": written.measured_raw.as_dict(),
        "target": target.as_dict(),
        "gain_db": round(written.result.gain_db, 3),
        "limiter_db": round(written.result.limiter_db, 3),
        "measured": written.result.measured.as_dict(),
    }
    held = held_below_target(entry)
    return {**entry, "warning": held} if held else entry


def held_below_target(entry: dict) -> str | None:
    """A warning when the true-peak limiter kept an output short of its loudness target, else None."""
    target, measured = entry.get("target", {}), entry.get("measured", {})
    wanted, got = target.get("loudness_lufs"), measured.get("loudness_lufs")
    if wanted is None or got is None or not entry.get("limiter_db") or wanted - got <= HELD_LU:
        return None
    return (
        f"{entry['file']}: the true-peak limiter holds it at {got:.1f} LUFS, {wanted - got:.1f} LU below its "
        f"target {wanted:g}; lower loudness_lufs or raise true_peak_dbtp ({target['true_peak_dbtp']:g})"
    )


def duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 180 else f"{seconds:.1f} s"


def lufs_text(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "-inf"
