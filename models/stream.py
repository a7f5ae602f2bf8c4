"""Constant-memory pieces for long audio: a streaming resampler and crossfades."""
from __future__ import annotations

import math

import numpy as np

from .audio import resample


class StreamResampler:
    """Resample a stream chunk by chunk with the same result as one offline pass, up to float rounding.

    Each call resamples only whole blocks of `orig // gcd` input samples (so every
    block starts on an output sample), with `margin` input samples of look-behind
    and look-ahead so the sinc filter never sees a false edge inside the stream.
    """

    def __init__(self, orig_rate: int, new_rate: int, margin_blocks: int | None = None):
        g = math.gcd(orig_rate, new_rate)
        self.orig, self.new = orig_rate, new_rate
        self.block_in, self.block_out = orig_rate // g, new_rate // g
        blocks = margin_blocks or max(1, math.ceil(512 / self.block_in))
        self.margin = blocks * self.block_in
        self.buffer = np.zeros(0, dtype=np.float32)  # input not yet resampled, plus look-behind
        self.behind = 0  # how many samples at the start of buffer are look-behind only

    def push(self, samples: np.ndarray) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, samples.astype(np.float32)])
        ready = (len(self.buffer) - self.behind - self.margin) // self.block_in * self.block_in
        if ready <= 0 or self.orig == self.new:
            if self.orig == self.new:
                out, self.buffer = self.buffer, np.zeros(0, dtype=np.float32)
                return out
            return np.zeros(0, dtype=np.float32)
        return self._emit(ready)

    def flush(self) -> np.ndarray:
        if self.orig == self.new:
            return self.push(np.zeros(0, dtype=np.float32))
        rest = len(self.buffer) - self.behind
        if rest <= 0:
            return np.zeros(0, dtype=np.float32)
        blocks = math.ceil(rest / self.block_in) * self.block_in
        self.buffer = np.pad(self.buffer, (0, blocks - rest + self.margin))
        out = self._emit(blocks)
        wanted = math.ceil(rest * self.new / self.orig)
        return out[:wanted]

    def _emit(self, count: int) -> np.ndarray:
        end = self.behind + count
        segment = self.buffer[: end + self.margin]
        out = resample(segment[None, :], self.orig, self.new)[0]
        first = self.behind // self.block_in * self.block_out
        out = out[first : first + count // self.block_in * self.block_out]
        keep_from = max(end - self.margin, 0)
        self.buffer = self.buffer[keep_from:]
        self.behind = end - keep_from
        return out


def fade_curve(length: int) -> np.ndarray:
    """Raised-cosine ramp from 0 to 1 (exclusive ends), for crossfades of correlated signals."""
    if length <= 0:
        return np.zeros(0, dtype=np.float32)
    x = (np.arange(length, dtype=np.float64) + 0.5) / length
    return (0.5 - 0.5 * np.cos(np.pi * x)).astype(np.float32)


def crossfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fade from a to b over their (equal) last axis."""
    w = fade_curve(a.shape[-1])
    return a * (1 - w) + b * w
