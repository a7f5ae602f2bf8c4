"""The caller-rate STFT that results are finished in: the caller's own channels, rate and full band.

The model hears a mono mid at its own rate (mel.py); what it cannot hear, the stereo image and the
band above its top, is kept or rebuilt here (detail.py, touch.py), on an STFT of the caller's audio
whose frames last about as long as the model's (93 ms, hop 23 ms at every rate), so a
time-frequency gain measured on the model's grid carries over without smearing.

One streaming analysis-modify-synthesis loop serves whole clips and endless streams alike: frames
are centred on k * hop from sample 0 (zero before it), each frame's spectrum goes through a
function of (spectrum, first frame index), and overlap-add emits every sample as soon as no later
frame can change it. Frames are processed one by one in order, so how the input is chunked never
changes a bit of the output; with an identity function the output equals the input to float
rounding (float64 inside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.fft
import torch

FRAME_SECONDS = 0.0929  # the default model's 2048 samples at 22.05 kHz

# (channels, bins, frames) complex spectrum, index of its first frame -> (channels', bins, frames)
SpectralFn = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Spectrum:
    sample_rate: int
    n_fft: int
    hop: int

    @classmethod
    def at(cls, sample_rate: int) -> "Spectrum":
        n_fft = 2 ** max(6, round(math.log2(sample_rate * FRAME_SECONDS)))
        return cls(sample_rate, n_fft, n_fft // 4)

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def freqs(self) -> np.ndarray:
        return np.arange(self.bins) * self.sample_rate / self.n_fft

    def bin(self, hz: float) -> int:
        """The first bin at or above `hz`, clipped to the band."""
        return int(min(max(math.ceil(hz * self.n_fft / self.sample_rate), 0), self.bins))

    def frame_seconds(self, first: int, count: int) -> np.ndarray:
        """Centre times of frames first .. first + count - 1."""
        return (first + np.arange(count)) * self.hop / self.sample_rate

    def whole_frames(self, samples: int) -> slice:
        """The frames of a clip `samples` long whose window lies wholly inside it (every frame if none
        does): a cut is a step that leaks over the whole band, so a clip's balance is measured there."""
        half = self.n_fft // 2  # frame k is centred on sample k * hop
        first, last = -(-half // self.hop), (samples - half) // self.hop
        return slice(first, last + 1) if last >= first else slice(None)

    def window(self) -> np.ndarray:
        return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)  # periodic Hann

    def analyse(self, samples: np.ndarray) -> np.ndarray:
        """(channels, frames) -> the complex spectrum (channels, bins, stft frames) the stream would see."""
        frames: list[np.ndarray] = []
        self.process(samples, lambda spec, first: frames.append(spec) or spec)
        return np.concatenate(frames, axis=-1) if frames else np.zeros((samples.shape[0], self.bins, 0), complex)

    def process(self, samples: np.ndarray, fn: SpectralFn) -> np.ndarray:
        """A whole clip through `fn`: (channels, frames) float -> (channels', frames) float32, same length."""
        stream = self.stream(fn)
        out = [stream.push(samples), stream.flush()]
        return np.concatenate([o for o in out if o.shape[-1]] or [out[0]], axis=-1)

    def stream(self, fn: SpectralFn) -> "SpectralStream":
        return SpectralStream(self, fn)


@dataclass
class SpectralStream:
    spectrum: Spectrum
    fn: SpectralFn
    frame: int = 0  # the next frame to process
    pushed: int = 0  # input samples seen
    emitted: int = 0  # output samples returned
    buffer: np.ndarray | None = None  # input from sample `frame * hop - n_fft // 2` on (zeros before 0)
    acc: np.ndarray | None = None  # overlap-add sums from sample `emitted` on
    env: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the window-square sums beside acc

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.float64)
        if self.buffer is None:
            half = self.spectrum.n_fft // 2
            self.buffer = np.zeros((samples.shape[0], half))
        self.buffer = np.concatenate([self.buffer, samples], axis=-1)
        self.pushed += samples.shape[-1]
        return self._run(final=False)

    def flush(self) -> np.ndarray:
        """The rest of the output, up to exactly as many samples as were pushed."""
        if self.buffer is None:
            return np.zeros((0, 0), np.float32)
        n_fft, hop = self.spectrum.n_fft, self.spectrum.hop
        # Zeros after the end, enough for every frame that overlaps the last sample.
        last = (self.pushed + n_fft // 2 - 1) // hop
        need = last * hop + n_fft // 2 - (self.frame * hop - n_fft // 2)
        missing = max(0, need - self.buffer.shape[-1])
        self.buffer = np.concatenate([self.buffer, np.zeros((self.buffer.shape[0], missing))], axis=-1)
        return self._run(final=True)

    def _run(self, final: bool) -> np.ndarray:
        s = self.spectrum
        n_fft, hop = s.n_fft, s.hop
        count = (self.buffer.shape[-1] - n_fft) // hop + 1 if self.buffer.shape[-1] >= n_fft else 0
        if count > 0:
            window = s.window()
            view = np.lib.stride_tricks.sliding_window_view(self.buffer, n_fft, axis=-1)[:, : count * hop : hop]
            # scipy's pocketfft is numpy's, bit for bit, and runs on the threads torch was given.
            workers = torch.get_num_threads()
            spec = scipy.fft.rfft(view * window, axis=-1, workers=workers).transpose(0, 2, 1)  # (ch, bins, frames)
            changed = np.ascontiguousarray(self.fn(spec, self.frame).transpose(0, 2, 1))
            frames = scipy.fft.irfft(changed, n=n_fft, axis=-1, workers=workers)
            frames *= window
            self._add(frames, window**2)
            self.frame += count
            self.buffer = self.buffer[:, count * hop :]
        # Samples before the next frame's start are final; after a flush, every pushed one is.
        ready = self.pushed if final else max(0, self.frame * hop - n_fft // 2)
        ready = min(ready, self.pushed)
        take = max(0, ready - self.emitted)
        if self.acc is None:
            return np.zeros((0, 0), np.float32)
        out = self.acc[:, :take] / np.maximum(self.env[:take], 1e-12)
        self.acc, self.env = self.acc[:, take:], self.env[take:]
        self.emitted += take
        return out.astype(np.float32)

    def _add(self, frames: np.ndarray, square: np.ndarray) -> None:
        """Overlap-add (channels, count, n_fft) frames starting at frame `self.frame`, in frame order."""
        n_fft, hop = self.spectrum.n_fft, self.spectrum.hop
        channels, count = frames.shape[0], frames.shape[1]
        start = self.frame * hop - n_fft // 2  # absolute sample of the first frame's first sample
        end = start + (count - 1) * hop + n_fft
        if self.acc is None:
            self.acc = np.zeros((channels, 0))
        grow = end - self.emitted - self.acc.shape[-1]
        if grow > 0:
            self.acc = np.concatenate([self.acc, np.zeros((channels, grow))], axis=-1)
            self.env = np.concatenate([self.env, np.zeros(grow)])
        for k in range(count):
            at = start + k * hop - self.emitted
            lo = max(0, -at)  # the part before sample 0 (or before what was emitted) is padding only
            self.acc[:, at + lo : at + n_fft] += frames[:, k, lo:]
            self.env[at + lo : at + n_fft] += square[lo:]
