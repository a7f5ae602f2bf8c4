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
from .manifest import MIXDOWN as NAME
from .preset import Preset
from .schema import CHANNELS
from .write import BLOCK, Output, duration, file_entry, mastering, tags, write_mastered


def render_mixdown(
    preset: Preset, folder: Path, stem_files: list[tuple[str, Path, float]], total: int, key: str, progress=None
) -> Output:
    """Mix (name, file, gain_db) stems for folder/mixdown.<format> (+ .png), under temp names (see write.Output)."""
    set_spec, mix = preset.set, preset.mix
    t0 = time.perf_counter()

    def title(frames: int, result) -> str:
        return _title(set_spec, frames, result.measured.as_dict()["loudness_lufs"])

    blocks = mixed(stem_files, total, EffectChain(mix.effects, set_spec.sample_rate), progress)
    written = write_mastered(
        blocks,
        folder,
        set_spec.file_stem(NAME),
        set_spec,
        mix.target,
        title,
        tags=tags(set_spec, NAME, f"mixdown of set {set_spec.name}"),
        reference=key[:32],
    )
    times = {
        "mix_s": written.times["render_s"],
        "master_s": written.times["master_s"],
        "spectrogram_s": written.times["spectrogram_s"],
        "total_s": time.perf_counter() - t0,
    }
    return Output(
        file_entry(written, set_spec, total)
        | {
            "key": key,
            "stems": {name: {"file": path.name, "gain_db": g} for name, path, g in stem_files},
            "effects": [e.describe(preset.base_dir) for e in mix.effects],
            **mastering(written, mix.target),
            "timings": {k: round(v, 3) for k, v in times.items()},
        },
        written.renames,
    )


def mix_title(set_spec, entry: dict) -> str:
    """The spectrogram title of the mixdown's manifest entry (to draw a deleted picture again)."""
    return _title(set_spec, int(entry.get("frames") or 0), entry.get("measured", {}).get("loudness_lufs"))


def _title(set_spec, frames: int, lufs) -> str:
    return f"{set_spec.name} / mixdown  ({duration(frames / set_spec.sample_rate)}, {lufs} LUFS)"


def mixed(
    stem_files: list[tuple[str, Path, float]], total: int, chain: EffectChain, progress=None
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
