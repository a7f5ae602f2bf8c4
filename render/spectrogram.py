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


class SpectrogramCollector:
    """Spectrogram columns of a stream of (channels, n) blocks, computed as the blocks go by.

    `count` evenly spaced stretches of the stream become columns (the mean power
    of up to FRAMES_PER_COLUMN FFT frames of the mid signal). Only the current
    stretch is buffered, so memory is constant; calling it with None starts over.
    """

    def __init__(self, total_frames: int, rate: int, columns: int = 1200):
        self.rate, self.total = rate, total_frames
        self.count = max(1, min(columns, total_frames // (N_FFT // 4)))
        self.per_column = int(np.clip(total_frames // (self.count * N_FFT), 1, FRAMES_PER_COLUMN))
        self.span = N_FFT * self.per_column
        self.starts = np.linspace(0, max(total_frames - self.span, 0), self.count).astype(np.int64)
        self.window = np.hanning(N_FFT).astype(np.float32)
        self.power = np.zeros((N_FFT // 2 + 1, self.count), dtype=np.float64)
        self(None)

    def __call__(self, block: np.ndarray | None) -> None:
        if block is None:
            self.next, self.buffer, self.buffer_at = 0, np.zeros(0, np.float32), 0
            return
        self.buffer = np.concatenate([self.buffer, block.mean(axis=0).astype(np.float32)])
        end = self.buffer_at + len(self.buffer)
        while self.next < self.count and self.starts[self.next] + self.span <= end:
            self._column(self.next)
            self.next += 1
        keep_from = int(self.starts[self.next]) if self.next < self.count else end
        drop = max(0, min(keep_from, end) - self.buffer_at)
        self.buffer, self.buffer_at = self.buffer[drop:], self.buffer_at + drop

    def _column(self, i: int) -> None:
        a = int(self.starts[i]) - self.buffer_at
        piece = self.buffer[a : a + self.span]
        piece = np.pad(piece, (0, self.span - len(piece)))
        frames = piece.reshape(self.per_column, N_FFT) * self.window
        self.power[:, i] = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(power dB (bins, cols), column times in seconds, bin frequencies in Hz)."""
        while self.next < self.count:  # stretches that run past the end (a stream shorter than promised)
            self._column(self.next)
            self.next += 1
        scale = (self.window.sum() ** 2) / 4.0  # a full-scale sine reads about 0 dB
        db = 10.0 * np.log10(self.power / scale + 1e-20)
        times = (self.starts + self.span / 2) / self.rate
        return db, times, np.fft.rfftfreq(N_FFT, 1.0 / self.rate)


def spectrogram_columns(path: str | Path, columns: int = 1200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The columns of an audio file, read in blocks."""
    with sf.SoundFile(str(path)) as f:
        collector = SpectrogramCollector(f.frames, f.samplerate, columns)
        for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
            collector(block.T)
    return collector.result()


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
    """Write the PNG of an audio file (see `write_png`)."""
    return write_png(spectrogram_columns(audio_path), png_path, title)


def write_png(columns: tuple[np.ndarray, np.ndarray, np.ndarray], png_path: str | Path, title: str) -> Path:
    """Write a spectrogram PNG (log frequency, dB colour) atomically: a temp name, then rename."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    db, times, freqs = columns
    bands, edges = log_bands(db, freqs)
    png_path = Path(png_path)
    top = float(np.max(bands)) if bands.size else 0.0
    minutes = times[-1] >= 180
    scale = 60.0 if minutes else 1.0
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    image = ax.imshow(
        bands,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=top - DYNAMIC_RANGE_DB,
        vmax=top,
        extent=(0.0, (times[-1] + times[0]) / scale, 0, len(edges) - 1),
        interpolation="nearest",
    )
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
