"""The mixdown: every stem file read back in blocks, levelled by gain_db, summed, through the master chain.

Stems are already panned and faded (they all span the whole set), so the mix is
a plain weighted sum. It is measured and mastered like a stem: a raw float
temp file, then gain and true-peak limiting into the final format.
"""
from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import soundfile as sf

from .effects import EffectChain
from .loudness import StreamMeasure, normalise_file, read_block, undb
from .preset import CHANNELS, Preset
from .stems import BLOCK, duration, file_entry, sound_format, subtype_for

NAME = "mixdown"


def render_mixdown(preset: Preset, folder: Path, stem_files: list[tuple[str, Path, float]], total: int, key: str,
                   progress=None) -> dict:
    """Mix (name, file, gain_db) stems into folder/mixdown.<format> (+ .png); returns the manifest entry."""
    from .spectrogram import SpectrogramCollector, write_png

    set_spec, mix = preset.set, preset.mix
    final = folder / f"{NAME}.{set_spec.format}"
    raw = folder / f".{NAME}.raw.partial.wav"
    partial = folder / f".{NAME}.partial.{set_spec.format}"
    t0 = time.perf_counter()
    chain = EffectChain(mix.effects, set_spec.sample_rate)
    try:
        measure = StreamMeasure(set_spec.sample_rate, CHANNELS)
        with ExitStack() as stack:
            readers = [stack.enter_context(sf.SoundFile(str(path))) for _, path, _ in stem_files]
            gains = [undb(g) for _, _, g in stem_files]
            out = stack.enter_context(sf.SoundFile(str(raw), "w", set_spec.sample_rate, CHANNELS,
                                                   subtype="FLOAT", format="WAV"))
            for start in range(0, total, BLOCK):
                n = min(BLOCK, total - start)
                block = np.zeros((CHANNELS, n))
                for reader, gain in zip(readers, gains):
                    block += read_block(reader, start, start + n) * gain
                block = chain(block.astype(np.float32))
                out.write(block.T)
                measure.push(block)
                if progress:
                    progress(n)
        first = measure.result()
        render_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        columns = SpectrogramCollector(total, set_spec.sample_rate)
        result = normalise_file(raw, partial, mix.target, measure, subtype=subtype_for(set_spec),
                                fmt=sound_format(set_spec), on_block=columns)
        master_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        png = folder / f"{NAME}.png"
        write_png(columns.result(), png, f"{set_spec.name} / mixdown  ({duration(total / set_spec.sample_rate)}, "
                                         f"{result.measured.as_dict()['loudness_lufs']} LUFS)")
        os.replace(partial, final)
    finally:
        for tmp in (raw, partial):
            if tmp.exists():
                tmp.unlink()
    return file_entry(final, set_spec, total) | {
        "key": key,
        "stems": {name: {"file": path.name, "gain_db": g} for name, path, g in stem_files},
        "effects": [e.describe() for e in mix.effects],
        "spectrogram": png.name,
        "measured_raw": first.as_dict(),
        "target": mix.target.as_dict(),
        "gain_db": round(result.gain_db, 3),
        "limiter_db": round(result.limiter_db, 3),
        "measured": result.measured.as_dict(),
        "timings": {"mix_s": round(render_s, 3), "master_s": round(master_s, 3),
                    "spectrogram_s": round(time.perf_counter() - t2, 3),
                    "total_s": round(time.perf_counter() - t0, 3)},
    }
