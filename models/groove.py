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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PERIOD_SECONDS = (1.0, 8.0)
# Below this normalised autocorrelation the session has no period worth repeating: white noise over one
# 12 s window reaches 0.2-0.25 at some lag by chance.
MIN_MATCH = 0.3


def onsets(mel: torch.Tensor) -> torch.Tensor:
    """The mel's onset envelope: the mean positive change per frame over every bin, (frames - 1,)."""
    return torch.relu(mel[..., 1:] - mel[..., :-1]).reshape(-1, mel.shape[-1] - 1).mean(0)


def period(mel: torch.Tensor, frame_rate: float) -> int | None:
    """The lag (frames) at which the onset envelope of `mel` (..., n_mels, frames) best matches itself,
    within PERIOD_SECONDS and at most half its length; None where no lag matches MIN_MATCH."""
    found = best_match(mel, frame_rate)
    return None if found is None else found[0]


def best_match(mel: torch.Tensor, frame_rate: float) -> tuple[int, float] | None:
    """(lag, its normalised autocorrelation) of period(), or None."""
    if mel.shape[-1] < 3:
        return None
    e = onsets(mel).double()
    e = e - e.mean()
    lo = max(1, round(PERIOD_SECONDS[0] * frame_rate))
    hi = min(round(PERIOD_SECONDS[1] * frame_rate), len(e) // 2)
    best, lag = MIN_MATCH, None
    for k in range(lo, hi + 1):
        a, b = e[:-k], e[k:]
        match = float((a * b).sum() / ((a.square().sum() * b.square().sum()).sqrt() + 1e-12))
        if match > best:
            best, lag = match, k
    return None if lag is None else (lag, best)


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


def gap_repeat(x0: torch.Tensor, unknown: torch.Tensor, frame_rate: float) -> GapRepeat | None:
    """The repeat of the side of a gap (the unknown frames of x0 (1, n_mels, T), one run) whose music
    repeats best; None where neither side has a period. One side, not a blend of both: two repeats that
    meet out of phase would double every hit."""
    where = torch.nonzero(unknown).flatten()
    if not len(where):
        return None
    a, b = int(where[0]), int(where[-1]) + 1
    before = best_match(x0[..., :a], frame_rate) if a else None
    after = best_match(x0[..., b:], frame_rate) if b < x0.shape[-1] else None
    if before is None and after is None:
        return None
    if after is None or (before is not None and before[1] >= after[1]):
        return GapRepeat(a, b, before[0], forward=True)
    return GapRepeat(a, b, after[0], forward=False)
