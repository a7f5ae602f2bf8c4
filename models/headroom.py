"""New audio is never louder than the session around it: its loudest 50 ms stays within 1 dB of theirs.

A producer who fills two bars or extends a take hears a jump in level before anything else: on real
recordings a continuation came out 4-7 dB louder than the bar before it, and a fill of a plucked loop
put a 0 dBFS burst 10 dB over the loop. Level matching in the mel holds the average; this holds the
loudest moments, in the finished audio at the caller's rate. The level of a stretch is its RMS over
every channel; the loudest 50 ms is the largest such level over every 50 ms stretch (every start
sample, not a hop grid). Where new audio would go above the ceiling, a smooth gain takes back exactly
the excess, as the peak limiter does for samples (audio.PeakLimiter): the gain is the ceiling over a
hold wide enough that every 50 ms stretch a sample belongs to is already counted when it is averaged.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d

WINDOW_SECONDS = 0.05
HEADROOM_DB = 1.0
# The gain aims this far under the ceiling, so float rounding and the seams' crossfade stay inside it.
_MARGIN_DB = 0.1


def stretch_levels_db(samples: np.ndarray, sample_rate: int, seconds: float = WINDOW_SECONDS) -> np.ndarray:
    """dB RMS (over every channel) of each `seconds`-long stretch of (channels, frames), by start sample.
    Audio shorter than one stretch is one stretch."""
    power = np.square(np.asarray(samples, dtype=np.float64)).mean(axis=0)
    width = max(1, min(len(power), round(seconds * sample_rate)))
    if len(power) == 0:
        return np.full(1, -np.inf)
    sums = np.concatenate([[0.0], np.cumsum(power)])
    mean = (sums[width:] - sums[:-width]) / width
    return 10 * np.log10(np.maximum(mean, 1e-20))


def loudest_db(samples: np.ndarray, sample_rate: int, seconds: float = WINDOW_SECONDS) -> float:
    """The level of the loudest `seconds` of (channels, frames), dB RMS over every channel."""
    return float(stretch_levels_db(samples, sample_rate, seconds).max())


def hold_under(samples: np.ndarray, sample_rate: int, ceiling_db: float) -> np.ndarray:
    """(channels, frames) whose every 50 ms stretch is at most `ceiling_db`; untouched where none is over."""
    levels = stretch_levels_db(samples, sample_rate)
    target = ceiling_db - _MARGIN_DB
    if levels.max() <= target:
        return samples
    width = max(1, min(samples.shape[-1], round(WINDOW_SECONDS * sample_rate)))
    # need[k]: the gain stretch k (samples k .. k+width-1) needs. Sample n lies in stretches n-width+1 .. n.
    # Its gain is a box average (width//2 each side) of holds, each the least need within a width either
    # side; centred half a width before n, every hold it averages has seen all of n's stretches (centred on
    # n, the later holds missed the stretches starting a width before n: up to 0.15 dB over on real music).
    need = np.minimum(1.0, 10 ** ((target - levels) / 20))
    frames = samples.shape[-1]
    padded = np.concatenate([np.ones(width + width // 2), need, np.ones(frames - len(need) + width // 2 + 1)])
    hold = minimum_filter1d(padded, 2 * width + 1, mode="nearest")
    kernel = width | 1
    smooth = np.convolve(hold, np.ones(kernel) / kernel, mode="same")
    gain = smooth[width : width + frames]
    # A box average can only be at most the largest of what it averages; the minimum keeps it exact.
    return (samples * np.minimum(gain, 1.0)).astype(np.float32)


def ceiling_of(*around: np.ndarray, sample_rate: int) -> float | None:
    """The loudest new audio may be next to `around` (each (channels, frames)): their loudest 50 ms plus
    HEADROOM_DB; None when there is no audio around (nothing to be louder than)."""
    levels = [loudest_db(a, sample_rate) for a in around if a.shape[-1]]
    return max(levels) + HEADROOM_DB if levels else None
