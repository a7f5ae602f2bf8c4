"""Melody chroma from audio (the MusicGen-melody recipe) and the pitch-class accuracy metric.

`audio_chroma` takes the short-time spectrum around each frame time, folds its
spectral peaks (frequency refined by parabolic interpolation) into 12 pitch
classes weighted by power, and keeps only the dominant class, one-hot, as
MusicGen-melody does. Frames that are silent (an energy gate) stay all zero.
Frame i is centred on time i / frame_rate, the same convention as
`Melody.chroma`, so the two line up frame for frame. numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from ..audio import check_sample_rate
from ..errors import ReverieError

WINDOW_SECONDS = 0.093  # Hann window: 2048 samples at 22.05 kHz
FMIN, FMAX = 50.0, 5000.0  # Hz range whose peaks vote
PEAK_FLOOR_DB = 40.0  # peaks this far below a frame's strongest one are ignored
GATE_ABS_DB = -60.0  # frames quieter than this (RMS, dBFS) are silent ...
GATE_REL_DB = 40.0  # ... and so are frames this far below the loudest frame
BLOCK = 256  # frames per vectorised block (bounds memory for long audio)


def check_frames(frame_rate: float, n_frames: int) -> tuple[float, int]:
    frame_rate = float(frame_rate)
    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ReverieError(
            f"frame_rate must be a positive number of frames per second, got {frame_rate}", field="frame_rate"
        )
    if isinstance(n_frames, bool) or int(n_frames) != n_frames or n_frames < 0:
        raise ReverieError(f"n_frames must be a whole number >= 0, got {n_frames!r}", field="n_frames")
    return frame_rate, int(n_frames)


def audio_chroma(samples: np.ndarray, sample_rate: int, frame_rate: float, n_frames: int) -> np.ndarray:
    """Mono float samples -> float32 (12, n_frames): one-hot dominant pitch class per frame, zeros where silent.

    A (channels, frames) array is averaged to mono first.
    """
    frame_rate, n_frames = check_frames(frame_rate, n_frames)
    sample_rate = check_sample_rate(sample_rate)
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ReverieError(f"samples must be mono (frames,) or (channels, frames), got shape {x.shape}", field="audio")
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    out = np.zeros((12, n_frames), dtype=np.float32)
    if n_frames == 0 or x.size == 0:
        return out

    win = max(16, int(round(WINDOW_SECONDS * sample_rate)))
    n_fft = 1 << (2 * win - 1).bit_length()  # zero-padded x2 or more: finer peak positions
    window = np.hanning(win)
    half = win // 2
    padded = np.concatenate([np.zeros(half), x, np.zeros(win)])
    centres = np.round(np.arange(n_frames) * (sample_rate / frame_rate)).astype(np.int64)
    centres = np.minimum(centres, x.size + half)  # frames past the end read zeros
    freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    in_band = (freqs[1:-1] >= FMIN) & (freqs[1:-1] <= min(FMAX, 0.45 * sample_rate))

    energy = np.empty(n_frames)
    chroma = np.zeros((n_frames, 12))
    offsets = np.arange(win)
    for lo in range(0, n_frames, BLOCK):
        idx = centres[lo : lo + BLOCK, None] + offsets[None, :]
        frames = padded[idx] * window
        energy[lo : lo + BLOCK] = (frames**2).sum(axis=1) / (window**2).sum()
        power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2 + 1e-30
        left, mid, right = power[:, :-2], power[:, 1:-1], power[:, 2:]
        floor = power.max(axis=1, keepdims=True) * 10 ** (-PEAK_FLOOR_DB / 10)
        peak = (mid > left) & (mid >= right) & (mid > floor) & in_band[None, :]
        rows, cols = np.nonzero(peak)
        if rows.size == 0:
            continue
        a, b, c = (np.log(p[rows, cols]) for p in (left, mid, right))
        denom = a - 2 * b + c
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
        freq = (cols + 1 + np.clip(shift, -0.5, 0.5)) * (sample_rate / n_fft)
        pitch_class = np.round(69 + 12 * np.log2(freq / 440.0)).astype(np.int64) % 12
        np.add.at(chroma, (rows + lo, pitch_class), mid[rows, cols])

    level_db = 10 * np.log10(energy + 1e-20)
    gate = max(GATE_ABS_DB, level_db.max() - GATE_REL_DB)
    voiced = (level_db >= gate) & (chroma.max(axis=1) > 0)
    frames = np.flatnonzero(voiced)
    out[chroma[frames].argmax(axis=1), frames] = 1.0
    return out


def pitch_class_accuracy(reference: np.ndarray, generated: np.ndarray) -> float:
    """Fraction of frames with a reference note where the generated dominant pitch class agrees.

    Both are (12, n) chroma (one-hot or not). A generated frame with no
    energy counts as a miss. With no reference notes at all the answer is 0.0.
    Chance for a random one-hot generation is 1/12 (0.08).
    """
    ref = np.nan_to_num(np.asarray(reference, dtype=np.float64))
    gen = np.nan_to_num(np.asarray(generated, dtype=np.float64))
    if ref.ndim != 2 or ref.shape[0] != 12 or ref.shape != gen.shape:
        raise ReverieError(
            f"chroma must both have shape (12, n_frames), got {ref.shape} and {gen.shape}", field="chroma"
        )
    has_note = ref.max(axis=0) > 0
    if not has_note.any():
        return 0.0
    agree = (ref.argmax(axis=0) == gen.argmax(axis=0)) & (gen.max(axis=0) > 0)
    return float(agree[has_note].mean())
