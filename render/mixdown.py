"""The mixdown: every stem file read back in blocks, levelled by gain_db, summed, through the master chain.

Stems are already panned and faded (they all span the whole set), so the mix is
a plain weighted sum. It is measured and mastered like a stem (`write.write_mastered`).
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from .effects import EffectChain
from .loudness import read_block, undb
from .preset import Preset
from .schema import CHANNELS
from .write import BLOCK, duration, file_entry, mastering, write_mastered

NAME = "mixdown"


def render_mixdown(preset: Preset, folder: Path, stem_files: list[tuple[str, Path, float]], total: int, key: str,
                   progress=None) -> dict:
    """Mix (name, file, gain_db) stems into folder/mixdown.<format> (+ .png); returns the manifest entry."""
    set_spec, mix = preset.set, preset.mix
    t0 = time.perf_counter()

    def title(frames: int, result) -> str:
        return (f"{set_spec.name} / mixdown  ({duration(frames / set_spec.sample_rate)}, "
                f"{result.measured.as_dict()['loudness_lufs']} LUFS)")

    blocks = mixed(stem_files, total, EffectChain(mix.effects, set_spec.sample_rate), progress)
    written = write_mastered(blocks, folder, NAME, set_spec, mix.target, title)
    times = {"mix_s": written.times["render_s"], "master_s": written.times["master_s"],
             "spectrogram_s": written.times["spectrogram_s"], "total_s": time.perf_counter() - t0}
    return file_entry(written.path, set_spec, total) | {
        "key": key,
        "stems": {name: {"file": path.name, "gain_db": g} for name, path, g in stem_files},
        "effects": [e.describe() for e in mix.effects],
        **mastering(written, mix.target),
        "timings": {k: round(v, 3) for k, v in times.items()},
    }


def mixed(stem_files: list[tuple[str, Path, float]], total: int, chain: EffectChain, progress=None
          ) -> Iterator[np.ndarray]:
    """The levelled sum of the stem files through the master chain, block by block."""
    with ExitStack() as stack:
        readers = [stack.enter_context(sf.SoundFile(str(path))) for _, path, _ in stem_files]
        gains = [undb(g) for _, _, g in stem_files]
        for start in range(0, total, BLOCK):
            n = min(BLOCK, total - start)
            block = np.zeros((CHANNELS, n))
            for reader, gain in zip(readers, gains):
                block += read_block(reader, start, start + n) * gain
            yield chain(block.astype(np.float32))
            if progress:
                progress(n)
