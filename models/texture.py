"""New audio for music with no period: the session's own sound, drawn in grains that join smoothly.

Where the session has no beat to repeat (groove.period finds none: a pad, a slow orchestral swell, wind),
a fill or a continuation was made from noise, and on held-out orchestral and ambient recordings it was
another texture: bursts broadband to 20 kHz after a slow string decay, fills with sharp-edged bands
(bench/music_fit.py's pictures). Looping the session at the lag where its sound repeats best instead gave
it a pulse it does not have (a swell looped every 3 s: groove 0.78 where the recording's own next 30 s
has 0.08), and grains drawn at random made a collage that jumped between the session's dark and bright
moments every few seconds. So each grain (GRAIN_SECONDS, from anywhere in the sources) is the one of
CANDIDATES drawn whose opening sounds most like where the audio so far ends (band levels over
FADE_SECONDS) and whose balance across the bands is nearest the sources' own, and fades into it at equal
power: the session's timbre, level, image and air, moving as slowly as the session does. The model
makes them new from there, as it does the groove path's loop (touch.retouch, at the caller's variation).
"""

from __future__ import annotations

import math

import numpy as np

from .detail import band_index
from .drift import BAND_EDGES
from .groove import band_levels, magnitudes

GRAIN_SECONDS = (1.5, 3.0)
FADE_SECONDS = 0.3
CANDIDATES = 64
HOP_SECONDS = 0.01
# A grain's balance counts twice its opening: the crossfade smooths a join, but a fill whose bass is
# missing sounds like another take (hold_balance can lift a band only so far).
BALANCE_WEIGHT = 2.0


def grains(
    sources: list[np.ndarray], lead: np.ndarray, frames: int, rate: int, rng: np.random.Generator
) -> np.ndarray | None:
    """(channels, frames) of grains drawn from `sources` (each (channels, n) at `rate`: the session before
    a continuation, or on either side of a gap) that carry on from `lead` (the audio just before them), or
    None where no source holds one whole grain. The first grain starts at full level: the caller joins it
    to the session."""
    shortest = round(GRAIN_SECONDS[0] * rate)
    usable = [s for s in sources if s.shape[-1] >= shortest]
    if not usable or frames <= 0:
        return None
    hop, fade = max(1, round(HOP_SECONDS * rate)), round(FADE_SECONDS * rate)
    levels = [band_levels(s.mean(axis=0), rate, hop) for s in usable]
    powers = [_listener_bands(s.mean(axis=0), rate, hop) for s in usable]
    weights = np.array([s.shape[-1] for s in usable], dtype=np.float64)
    chance = weights / weights.sum()
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade).astype(np.float32)
    out = np.zeros((usable[0].shape[0], frames + round(GRAIN_SECONDS[1] * rate)), np.float32)
    ending = band_levels(lead[..., -fade:].mean(axis=0), rate, hop)[-(fade // hop) :] if lead.shape[-1] else None
    balance = _shape(np.concatenate(powers))
    at = 0
    while at < frames:
        which, start, length = _next_grain(usable, levels, powers, chance, ending, balance, frames - at, rate, hop, rng)
        grain = usable[which][:, start : start + length].astype(np.float32)
        if at:
            grain[:, :fade] *= ramp
            out[:, at - fade : at] *= ramp[::-1]
            at -= fade
        out[:, at : at + length] += grain
        at += length
        tail = (start + length - fade) // hop
        ending = levels[which][tail : tail + fade // hop]
    return out[:, :frames]


def _next_grain(usable, levels, powers, chance, ending, balance, left, rate, hop, rng) -> tuple[int, int, int]:
    """(source, start, length) of the candidate whose first FADE_SECONDS are nearest `ending` (band levels,
    mean |dB|) and whose balance in a listener's bands, over what of it the `left` samples to fill will use,
    is nearest the sources' own (`balance`, RMS dB, BALANCE_WEIGHT); the first candidate where there is no
    ending to match. The ending alone let a chain of grains wander into the darkest seconds of the sources
    and stay there (a continuation 13 dB darker above 11.5 kHz). A source is drawn with the odds in `chance`;
    `levels` and `powers` are the sources' frames every `hop` samples."""
    best, pick = np.inf, None
    for _ in range(CANDIDATES):
        which = int(rng.choice(len(usable), p=chance))
        length = min(usable[which].shape[-1], round(rng.uniform(*GRAIN_SECONDS) * rate))
        start = int(rng.integers(0, usable[which].shape[-1] - length + 1))
        if ending is None or not len(ending):
            return which, start, length
        head = levels[which][start // hop : start // hop + len(ending)]
        n = min(len(head), len(ending))
        whole = powers[which][start // hop : max(start // hop + 1, (start + min(length, left)) // hop)]
        distance = float(np.abs(head[:n] - ending[:n]).mean()) if n else np.inf
        distance += BALANCE_WEIGHT * float(np.sqrt(np.mean((_shape(whole) - balance) ** 2))) if len(whole) else np.inf
        if pick is None or distance < best:
            best, pick = distance, (which, start, length)
    return pick


def _listener_bands(mono: np.ndarray, rate: int, hop: int) -> np.ndarray:
    """(frames, bands) power of `mono` in drift.BAND_EDGES's bands (hold_balance's: a listener's balance,
    the bass below 90 Hz one band of ten), 93 ms windows every `hop`."""
    n_fft = 1 << round(math.log2(0.093 * rate))
    power = magnitudes(mono, n_fft, hop) ** 2
    band = band_index(np.fft.rfftfreq(n_fft, 1 / rate), BAND_EDGES)
    return np.stack([power[:, band == k].sum(axis=1) for k in range(len(BAND_EDGES))], axis=1)


def _shape(power: np.ndarray) -> np.ndarray:
    """The balance of (frames, bands) power: each band's mean in dB, less the bands' mean."""
    db = 10 * np.log10(power.mean(axis=0) + 1e-20)
    return db - db.mean()
