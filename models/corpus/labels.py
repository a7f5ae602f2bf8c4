"""The tempo, metre and key of a stretch of real music, where two independent listeners agree.

A recording comes without a score. Its stretch is labelled only where Reverie's own listener (beat.hear:
a comb over the model's onset envelope, Krumhansl-Kessler on the dominant pitch class per frame) and
librosa's (the tempo its beat tracker reports, read off a tempogram; the same profiles on CQT chroma, a
different reading of the pitches) agree: the tempo within TEMPO_AGREE, the very same key. Where they
differ the stretch trains with its grid or key unknown, as before: a wrong label teaches worse than none.
The bar line is beat.hear's (librosa has none).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import numpy as np

from ..grid import Grid
from ..melody.key import Key

TEMPO_AGREE = 0.04  # within 4%: what bench/controls.py counts as the same tempo
LISTEN_RATE = 22050  # librosa's own rate


@dataclass(frozen=True)
class Labels:
    grid: Grid | None
    key: Key | None


@functools.cache
def _frontend():
    """The embedded default model's mel, the one beat.hear's thresholds were measured on."""
    from ..mel import MelConfig, MelFrontend
    from ..pipeline import DEFAULT_MODEL_DIR

    mel = json.loads((DEFAULT_MODEL_DIR / "reverie.json").read_text())["mel"]
    return MelFrontend(MelConfig(**mel))


def agreed(samples: np.ndarray, rate: int) -> Labels:
    """What both listeners hear in `samples` ((channels, frames) at `rate`)."""
    import librosa

    from ..audio import resample
    from ..beat import hear
    from ..melody.key import estimate_key

    frontend = _frontend()
    mono = samples.mean(axis=0).astype(np.float32)
    model_rate = frontend.config.sample_rate
    grid, key = hear(frontend, mono if rate == model_rate else resample(mono[None], rate, model_rate)[0])
    y = resample(mono[None], rate, LISTEN_RATE)[0] if rate != LISTEN_RATE else mono
    if grid is not None:
        # The tempo librosa.beat.beat_track reports, without the beat tracker behind it: numba 0.68 compiles
        # that tracker's gufunc into a segfault on AVX-512 CPUs, as it does the tuning estimate's below.
        onsets = librosa.onset.onset_strength(y=y, sr=LISTEN_RATE, aggregate=np.median)
        tempo = float(librosa.feature.tempo(onset_envelope=onsets, sr=LISTEN_RATE)[0]) if onsets.any() else 0.0
        if not tempo > 0 or abs(math.log(tempo / grid.steady_bpm)) > math.log1p(TEMPO_AGREE):
            grid = None
    if key is not None:
        # At concert pitch: librosa's tuning estimate runs a numba gufunc that numba 0.68 compiles into a
        # segfault on AVX-512 CPUs (this one and CI's), and a corpus worker that dies fails the build.
        chroma = librosa.feature.chroma_cqt(y=y, sr=LISTEN_RATE, tuning=0.0)
        if estimate_key(np.arange(12), chroma.sum(axis=1)) != key:
            key = None
    return Labels(grid, key)
