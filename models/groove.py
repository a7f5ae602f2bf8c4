"""New audio that keeps the session's groove: inpaint and continue start from the session's own bars.

Made afresh from noise, a fill or a continuation of real music had no groove at all (bench/music_fit.py:
the onset envelope's autocorrelation against the surroundings' had a cosine near 0, where a real stretch
of the same recording has 0.5-0.95), and its hits were a wash. Music repeats: the period at which the
session's onset envelope best matches itself (a beat, a bar, a phrase: 1-8 s) is found in the known mel,
the new frames are first laid out as the session repeated at that period (from the left of a gap and from
its right, blended across it), and the model starts from that layout noised to `variation` of the
schedule instead of from pure noise, as a transform would. So the new audio keeps the pulse, the hits'
places and the harmony of the bars around it, and the model makes it new from there. Where the session
has no period (its best match is weaker than MIN_MATCH) the new audio is made from noise as before.
"""

from __future__ import annotations

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


def repeat_after(history: torch.Tensor, lag: int, frames: int) -> torch.Tensor:
    """`frames` new frames of (..., n_mels, T) `history` repeated at `lag`: frame j is history[T - lag + j % lag]."""
    index = history.shape[-1] - lag + torch.arange(frames) % lag
    return history[..., index]


def repeat_before(future: torch.Tensor, lag: int, frames: int) -> torch.Tensor:
    """`frames` frames that lead into `future` repeated at `lag` (repeat_after, mirrored in time)."""
    return repeat_after(future.flip(-1), lag, frames).flip(-1)


def fill_gap(x0: torch.Tensor, unknown: torch.Tensor, frame_rate: float) -> torch.Tensor | None:
    """x0 (1, n_mels, T) with its unknown frames (one run, a bool (T,)) laid out as the known music of the
    side that repeats best, repeated at its period into the gap; None where neither side has a period.
    One side, not a blend of both: two repeats that meet out of phase would double every hit."""
    where = torch.nonzero(unknown).flatten()
    if not len(where):
        return None
    a, b = int(where[0]), int(where[-1]) + 1
    left, right = x0[..., :a], x0[..., b:]
    before = best_match(left, frame_rate) if a else None
    after = best_match(right, frame_rate) if b < x0.shape[-1] else None
    if before is None and after is None:
        return None
    out = x0.clone()
    if after is None or (before is not None and before[1] >= after[1]):
        out[..., a:b] = repeat_after(left, before[0], b - a)
    else:
        out[..., a:b] = repeat_before(right, after[0], b - a)
    return out
