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


def _windows(f: sf.SoundFile, starts: np.ndarray, span: int, block: int = 1 << 16):
    """Yield the mid signal of [start, start + span) for sorted starts: sequential reads, seeking only over gaps."""
    buffer, buffer_at = np.zeros(0, np.float32), 0
    for start in starts:
        start = int(start)
        if start > buffer_at + len(buffer) + 4 * block:  # far ahead: jump there instead of decoding the gap
            f.seek(start)
            buffer, buffer_at = np.zeros(0, np.float32), start
        while buffer_at + len(buffer) < start + span:
            piece = f.read(block, dtype="float32", always_2d=True)
            if len(piece) == 0:
                break
            buffer = np.concatenate([buffer, piece.mean(axis=1)])
        window = buffer[start - buffer_at: start - buffer_at + span]
        yield np.pad(window, (0, span - len(window)))
        drop = max(0, start - buffer_at)
        buffer, buffer_at = buffer[drop:], buffer_at + drop


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
        for i, piece in enumerate(_windows(f, starts, span)):
            frames = piece.reshape(per_column, N_FFT) * window
            power[:, i] = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    scale = (window.sum() ** 2) / 4.0  # a full-scale sine reads about 0 dB
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power / scale + 1e-20)
    times = (starts + span / 2) / rate
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate)
    return db, times, freqs


def log_bands(db: np.ndarray, freqs: np.ndarray, rows: int = 320, low: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Resample the frequency axis onto `rows` log-spaced bands (mean power per band; nearest bin when narrow)."""
    edges = np.geomspace(low, freqs[-1], rows + 1)
    power = 10.0 ** (db / 10.0)
    out = np.empty((rows, db.shape[1]))
    for r in range(rows):
        inside = (freqs >= edges[r]) & (freqs < edges[r + 1])
        if inside.any():
            out[r] = power[inside].mean(axis=0)
        else:
            out[r] = power[int(np.argmin(np.abs(freqs - np.sqrt(edges[r] * edges[r + 1]))))]
    return 10.0 * np.log10(out + 1e-20), edges


def write_spectrogram(audio_path: str | Path, png_path: str | Path, title: str) -> Path:
    """Write a PNG (log frequency, dB colour) atomically: a temp name, then rename."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    db, times, freqs = spectrogram_columns(audio_path)
    bands, edges = log_bands(db, freqs)
    png_path = Path(png_path)
    top = float(np.max(bands)) if bands.size else 0.0
    minutes = times[-1] >= 180
    scale = 60.0 if minutes else 1.0
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    image = ax.imshow(bands, origin="lower", aspect="auto", cmap="magma", vmin=top - DYNAMIC_RANGE_DB, vmax=top,
                      extent=(0.0, (times[-1] + times[0]) / scale, 0, len(edges) - 1), interpolation="nearest")
    ticks = [f for f in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if f <= edges[-1]]
    ax.set_yticks(np.interp(np.log(ticks), np.log(edges), np.arange(len(edges))))
    ax.set_yticklabels([f"{t // 1000}k" if t >= 1000 else str(t) for t in ticks])
    ax.set_xlabel("time (min)" if minutes else "time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="dB", pad=0.01)
    fig.tight_layout()
    tmp = png_path.with_name(f".{png_path.stem}.partial.png")
    fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    os.replace(tmp, png_path)
    return png_path
