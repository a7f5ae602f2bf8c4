"""Spectrogram pictures of audio files of any length, read in pieces (constant memory).

For a long file only `columns` short stretches are read, evenly spaced, and
each becomes one column (the mean power of a few FFT frames): an hour-long
stem costs the same as a minute.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

N_FFT = 4096
FRAMES_PER_COLUMN = 4
DYNAMIC_RANGE_DB = 90.0


def spectrogram_columns(path: str | Path, columns: int = 1200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(power dB (bins, cols), column times in seconds, bin frequencies in Hz) of a file's mid signal."""
    window = np.hanning(N_FFT).astype(np.float32)
    with sf.SoundFile(str(path)) as f:
        rate, total = f.samplerate, f.frames
        count = max(1, min(columns, total // (N_FFT // 4)))
        per_column = int(np.clip(total // (count * N_FFT), 1, FRAMES_PER_COLUMN))
        span = N_FFT * per_column
        starts = np.linspace(0, max(total - span, 0), count).astype(np.int64)
        power = np.zeros((N_FFT // 2 + 1, count), dtype=np.float64)
        for i, start in enumerate(starts):
            f.seek(int(start))
            piece = f.read(span, dtype="float32", always_2d=True).mean(axis=1)
            piece = np.pad(piece, (0, span - len(piece)))
            frames = piece.reshape(per_column, N_FFT) * window
            power[:, i] = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    scale = (window.sum() ** 2) / 4.0  # a full-scale sine reads about 0 dB
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power / scale + 1e-20)
    times = (starts + span / 2) / rate
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate)
    return db, times, freqs


def write_spectrogram(audio_path: str | Path, png_path: str | Path, title: str) -> Path:
    """Write a PNG (log frequency, dB colour) atomically: a temp name, then rename."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    db, times, freqs = spectrogram_columns(audio_path)
    png_path = Path(png_path)
    top = float(np.max(db)) if db.size else 0.0
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    keep = freqs >= 20.0
    minutes = times[-1] >= 180
    x = times / 60.0 if minutes else times
    mesh = ax.pcolormesh(x, freqs[keep], db[keep], shading="nearest", cmap="magma",
                         vmin=top - DYNAMIC_RANGE_DB, vmax=top, rasterized=True)
    ax.set_yscale("log")
    ax.set_ylim(20.0, freqs[-1])
    ax.set_xlabel("time (min)" if minutes else "time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(mesh, ax=ax, label="dB", pad=0.01)
    fig.tight_layout()
    tmp = png_path.with_name(f".{png_path.stem}.partial.png")
    fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    os.replace(tmp, png_path)
    return png_path
