"""New audio that keeps the session's groove: inpaint and continue start from the session's own bars.

Made afresh from noise, a fill or a continuation of real music had no groove at all (bench/music_fit.py:
the onset envelope's autocorrelation against the surroundings' had a cosine near 0, where a real stretch
of the same recording has 0.5-0.95), and its hits were a wash. Music repeats: `period` finds the lag at
which the session's onset envelope best matches itself (a beat, a bar, a phrase: 1-8 s), the session's
own audio is looped at that lag into the new stretch (`loop_after`; for a gap, from the side that repeats
better: `gap_repeat`), and the model starts from that loop's mel noised to `variation` of the schedule,
as a transform starts from its input. Its change is then applied to the loop itself as a gain
(touch.retouch), so the new audio keeps the pulse, the hits, the image and the air of the bars around
it, and the model makes it new from there. Where the session has no period (its best match is weaker
than MIN_MATCH) the new audio is made from noise as before.

The period is whole bars where the session's tempo is known, refined to the sample on the audio
(`fine_period`; on whole beats of a caller's bpm, `on_beats`), so repeats stay on the session's beat; a
gap is filled from the stretch a whole number of periods away whose surroundings match its own
(`best_copy`), the one in the same place of the phrase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

PERIOD_SECONDS = (1.0, 8.0)
# Below this normalised autocorrelation the session has no period worth repeating: white noise over one
# 12 s window reaches 0.2-0.25 at some lag by chance.
MIN_MATCH = 0.3
FINE_HOP_SECONDS = 0.002
# A heard period within 3% of whole beats at the caller's tempo is those beats (the frame grid alone is
# off by up to 1.2% for a 1 s period); further off, the caller's bpm and the music disagree: keep the music.
BEAT_SNAP = 0.03
COPY_CONTEXT_SECONDS, COPY_REACH_SECONDS = 1.0, 12.0
BAR_FIT = 0.03  # a heard tempo is within 1-2% (beat.py); the frame grid adds up to half a frame


def onsets(mel: torch.Tensor) -> torch.Tensor:
    """The mel's onset envelope: the mean positive change per frame over every bin, (frames - 1,)."""
    return torch.relu(mel[..., 1:] - mel[..., :-1]).reshape(-1, mel.shape[-1] - 1).mean(0)


def period(mel: torch.Tensor, frame_rate: float, bar: float | None = None) -> int | None:
    """The lag (frames) at which `mel` (..., n_mels, frames) best repeats itself, within PERIOD_SECONDS and
    at most half its length; None where no lag matches MIN_MATCH. With the session's `bar` (frames), a
    whole number of bars where one repeats."""
    found = best_match(mel, frame_rate, bar)
    return None if found is None else found[0]


def best_match(mel: torch.Tensor, frame_rate: float, bar: float | None = None) -> tuple[int, float] | None:
    """(lag, how well the mel repeats at it) of period(), or None.

    A lag must repeat the hits (the onset envelope's normalised autocorrelation over MIN_MATCH); of those,
    the one that also repeats the sound, frame by frame (the mean-removed mel's), wins. The hits alone
    could not tell a bar from ten beats (kick and hat repeat every beat, the bass line every bar), and a
    loop of ten beats in 4/4 moves the harmony off the bar line: where the session's bar is known, only
    lags within BAR_FIT of whole bars are taken, unless none of them repeats (a bar heard wrong).
    """
    if bar is not None:
        found = _best_lag(mel, frame_rate, lambda k: k >= 0.5 * bar and abs(k - round(k / bar) * bar) <= BAR_FIT * k)
        if found is not None:
            return found
    return _best_lag(mel, frame_rate, lambda k: True)


def _best_lag(mel: torch.Tensor, frame_rate: float, allowed) -> tuple[int, float] | None:
    if mel.shape[-1] < 3:
        return None
    e = onsets(mel).double()
    e = e - e.mean()
    m = mel.reshape(-1, mel.shape[-1]).double()
    m = m - m.mean(dim=1, keepdim=True)
    lo = max(1, round(PERIOD_SECONDS[0] * frame_rate))
    hi = min(round(PERIOD_SECONDS[1] * frame_rate), len(e) // 2)
    best, lag = -1.0, None
    for k in filter(allowed, range(lo, hi + 1)):
        rhythm = _correlation(e[:-k], e[k:])
        if rhythm <= MIN_MATCH:
            continue
        score = 0.5 * (rhythm + _correlation(m[:, :-k], m[:, k:]))
        if score > best:
            best, lag = score, k
    return None if lag is None else (lag, best)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / ((a.square().sum() * b.square().sum()).sqrt() + 1e-12))


def fine_period(mono: np.ndarray, rate: int, lag: int, search: int) -> int:
    """The period (samples) within `search` samples of `lag` at which the onset envelope of `mono` (frames,
    at `rate`) best matches itself, at a 2 ms hop with the peak interpolated between hops.

    period() finds the lag on the model's frames (23 ms at 44.1 kHz); looped at a lag that is off by up to
    half a frame, every repeat lands that much further from the session's beat, so 30 s of a 2 s bar
    drifted 100 ms or more off the grid a DAW plays the session on.
    """
    hop = max(1, round(FINE_HOP_SECONDS * rate))
    n_fft = 1 << max(6, round(math.log2(0.023 * rate)))
    if len(mono) < n_fft + 2 * hop or lag + search >= len(mono) - n_fft:
        return lag
    spec = np.log1p(100.0 * magnitudes(mono, n_fft, hop))
    e = np.maximum(0.0, np.diff(spec, axis=0)).sum(axis=1)
    e = e - e.mean()
    lo, hi = max(1, (lag - search) // hop), min(len(e) - 2, -(-(lag + search) // hop))
    if hi - lo < 2:
        return lag
    lags = np.arange(lo, hi + 1)
    e = torch.from_numpy(e.astype(np.float64))
    match = np.array([_correlation(e[:-k], e[k:]) for k in lags])
    best = int(np.argmax(match))
    shift = 0.0
    if 0 < best < len(lags) - 1:  # the parabola through the peak and its neighbours
        a, b, c = match[best - 1 : best + 2]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    return int(round((lags[best] + shift) * hop))


def on_beats(period: int, rate: int, bpm: float) -> int:
    """`period` (samples) as the whole number of beats at `bpm` nearest it, where it is within
    BEAT_SNAP of one: a caller's tempo (a DAW's) is exact where one heard is not."""
    beat = 60.0 * rate / bpm
    beats = round(period / beat)
    if beats >= 1 and abs(period / (beats * beat) - 1) <= BEAT_SNAP:
        return int(round(beats * beat))
    return period


def best_copy(samples: np.ndarray, first: int, last: int, period: int, rate: int) -> int | None:
    """Where a gap [first, last) of `samples` (channels, frames at `rate`) is best filled from: the offset
    (samples; positive: from before the gap) of the session's own stretch a whole number of `period`s
    away, within COPY_REACH_SECONDS, inside the audio and clear of the gap, whose surroundings
    (COPY_CONTEXT_SECONDS either side) sound most like the gap's own (band levels, 10 ms frames). None
    where no such stretch fits.

    Music repeats at its period, but not every period alike: the bar just before a fill may hold a
    break or a turnaround the bars around the gap do not. The stretch whose neighbours match the gap's
    neighbours is the one in the same place of the phrase.
    """
    n, total = last - first, samples.shape[-1]
    reach = max(1, round(COPY_REACH_SECONDS * rate / period))
    offsets = [sign * k * period for k in range(1, reach + 1) for sign in (1, -1)]
    offsets = [d for d in offsets if abs(d) >= n and first - d >= 0 and last - d <= total]
    if not offsets:
        return None
    hop, context = round(0.01 * rate), round(COPY_CONTEXT_SECONDS * rate)
    lo = max(0, first - max(0, *offsets) - context)
    hi = min(total, last - min(0, *offsets) + context)
    levels = band_levels(samples[:, lo:hi].mean(axis=0), rate, hop)
    around = ((max(0, first - context), first), (last, min(total, last + context)))
    pieces = [((a - lo) // hop, min(len(levels), (b - lo) // hop)) for a, b in around]
    pieces = [(a, b) for a, b in pieces if a < b]  # the gap's surroundings, in frames of `levels`
    best, where = np.inf, None
    for d in offsets:
        step = round(d / hop)
        # each piece of the gap's surroundings against the same place around the candidate, where that is
        # inside what was measured and clear of the gap
        mine = [(a, b) for a, b in pieces if a - step >= 0 and b - step <= len(levels)]
        mine = [(a, b) for a, b in mine if (b - step) * hop + lo <= first or (a - step) * hop + lo >= last]
        if not mine:
            continue
        distance = np.mean(np.concatenate([np.abs(levels[a:b] - levels[a - step : b - step]).ravel() for a, b in mine]))
        if distance < best:
            best, where = distance, d
    return where


def band_levels(mono: np.ndarray, rate: int, hop: int) -> np.ndarray:
    """(frames, 24) dB of `mono` on log-spaced bands of 50 Hz to 16 kHz, 46 ms frames every `hop`,
    floored 80 dB under the loudest."""
    n_fft = 1 << round(math.log2(0.046 * rate))
    power = magnitudes(mono, n_fft, hop) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    edges = np.geomspace(50.0, min(16000.0, rate / 2), 25)
    bands = np.stack([power[:, (freqs >= a) & (freqs < b)].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])], 1)
    db = 10 * np.log10(bands + 1e-12)
    return np.maximum(db, db.max() - 80.0)


def magnitudes(mono: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| (frames, n_fft // 2 + 1) of `mono`: Hann windows of `n_fft` every `hop` (one, zero-padded,
    for audio shorter than a window)."""
    if len(mono) < n_fft:
        mono = np.pad(mono, (0, n_fft - len(mono)))
    count = 1 + (len(mono) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    return np.abs(np.fft.rfft(mono[index] * np.hanning(n_fft).astype(np.float32), axis=-1))


def loop_after(history: np.ndarray, lag: int, frames: int, fade: int) -> np.ndarray:
    """Audio (..., T): its last `lag` samples looped for `frames` samples. Each loop's last `fade` samples
    turn into the `fade` that led into its first sample in `history`, so one loop runs into the next
    without a click."""
    tile = history[..., -lag:].copy()
    fade = min(fade, lag, history.shape[-1] - lag)
    if fade > 0:
        w = np.linspace(0.0, 1.0, fade, dtype=tile.dtype)
        tile[..., -fade:] = tile[..., -fade:] * (1 - w) + history[..., -lag - fade : -lag] * w
    return np.concatenate([tile] * -(-frames // lag), axis=-1)[..., :frames]


def loop_before(future: np.ndarray, lag: int, frames: int, fade: int) -> np.ndarray:
    """loop_after mirrored in time: `frames` samples of `future`'s first `lag` looped back from its start."""
    return loop_after(future[..., ::-1], lag, frames, fade)[..., ::-1].copy()


@dataclass(frozen=True)
class GapRepeat:
    """How a gap of frames [start, end) is filled: the music before it looped on into it every `lag` frames
    (forward), or the music after it looped back into it."""

    start: int
    end: int
    lag: int
    forward: bool

    def laid_audio(self, samples: np.ndarray, first: int, last: int, lag: int, fade: int) -> np.ndarray:
        """Audio (channels, frames) with samples [first, last) looped from the same side at `lag` samples
        (the period at the audio's own rate)."""
        out = samples.copy()
        n = last - first
        if self.forward:
            out[:, first:last] = loop_after(samples[:, :first], min(lag, first), n, fade)
        else:
            out[:, first:last] = loop_before(samples[:, last:], min(lag, samples.shape[-1] - last), n, fade)
        return out


def gap_repeat(
    x0: torch.Tensor, unknown: torch.Tensor, frame_rate: float, bar: float | None = None
) -> GapRepeat | None:
    """The repeat of the side of a gap (the unknown frames of x0 (1, n_mels, T), one run) whose music
    repeats best; None where neither side has a period. One side, not a blend of both: two repeats that
    meet out of phase would double every hit."""
    where = torch.nonzero(unknown).flatten()
    if not len(where):
        return None
    a, b = int(where[0]), int(where[-1]) + 1
    before = best_match(x0[..., :a], frame_rate, bar) if a else None
    after = best_match(x0[..., b:], frame_rate, bar) if b < x0.shape[-1] else None
    if before is None and after is None:
        return None
    if after is None or (before is not None and before[1] >= after[1]):
        return GapRepeat(a, b, before[0], forward=True)
    return GapRepeat(a, b, after[0], forward=False)
