"""The session's grid and key, heard from its audio: what inpaint, continue, transform and interpolate
keep when the caller does not say (a DAW that knows its tempo passes `bpm`).

The tempo is the beat period whose comb (the onset envelope's autocorrelation at one to four beats)
matches best, weighed by a broad prior over tempo (log-normal around 110 bpm, as beat trackers do, so
a 2:1 ambiguity leans to the tempo listeners most often tap). The beat's phase is where a comb at that
period collects the most onset energy, and the bar line the beat of four whose low band (below
BASS_HZ: the kick, the bass, the chord's root) collects the most: a backbeat's snare on two and four is
often the loudest hit of a bar, its kick and bass change on the one. Where the best comb is weaker
than MIN_MATCH there is no steady pulse to keep and the grid is unknown. The key is the
Krumhansl-Kessler profile that best fits the session's dominant pitch classes (melody.key.estimate_key).
"""

from __future__ import annotations

import numpy as np
import torch

from .grid import BPM_RANGE, Grid
from .groove import onsets as onset_envelope
from .mel import MelFrontend, hz_to_mel
from .melody.chroma import audio_chroma
from .melody.key import MAJOR_PROFILE, MINOR_PROFILE, Key, estimate_key

HEARD_BPM = (60.0, 180.0)  # the tempi a session is heard at; a caller's bpm may be anything in BPM_RANGE
PRIOR_BPM, PRIOR_OCTAVES = 110.0, 1.0  # the prior's centre and its standard deviation in octaves
# Below this best comb there is no pulse to keep. Measured over 16 s: white noise 0.05-0.07; held-out
# Wesnoth tracks without a steady pulse (orchestral, ambient) 0.02-0.13; tracks with drums 0.29-0.81.
MIN_MATCH = 0.2
BEATS_PER_BAR = 4.0  # heard bars are 4/4 unless the caller says otherwise
BASS_HZ = 250.0
# The best key profile's correlation below which a session has no key to keep. Measured over 16 s of
# dominant pitch classes: white noise 0.42; held-out corpus clips and real tracks 0.44-0.94 (2 of 24
# below 0.5, their key then unknown).
MIN_KEY_FIT = 0.5


def hear(frontend: MelFrontend, mono: np.ndarray, bpm: float | None = None, beats_per_bar=None, hear_key=True):
    """(grid, key) of a session's mid at the model's rate, as the model's mel frames count time; either
    None where it is not heard. `bpm`: the tempo, known; `hear_key` False: the key is known, not heard."""
    c = frontend.config
    with torch.inference_mode():
        mel = frontend.encode(torch.from_numpy(mono))[None]
    if mel.shape[-1] < 4:  # too short for a pulse or a key: a few frames
        return None, None
    span = hz_to_mel(c.f_max) - hz_to_mel(c.f_min)
    low = max(1, round(c.n_mels * (hz_to_mel(BASS_HZ) - hz_to_mel(c.f_min)) / span))
    envelopes = (onset_envelope(mel).numpy(), onset_envelope(mel[:, :low]).numpy())
    grid = session_grid(*envelopes, c.frame_rate, bpm, beats_per_bar)
    if not hear_key:
        return grid, None
    return grid, session_key(audio_chroma(mono, c.sample_rate, c.frame_rate, mel.shape[-1]))


def session_grid(
    onsets: np.ndarray, low: np.ndarray, frame_rate: float, bpm: float | None = None, beats_per_bar=None
) -> Grid | None:
    """The grid of a session whose onset envelope (groove.onsets: the change into frame i + 1 at index i)
    is `onsets`, and `low` its bins below BASS_HZ's, its first frame at 0 s. `bpm`: the tempo, known;
    only where its beats and bars fall is heard. None where no tempo is heard."""
    e, low = (np.asarray(x, np.float64) for x in (onsets, low))
    e = e - e.mean()
    if len(e) < 4 or not np.any(e):
        return None
    beats = BEATS_PER_BAR if beats_per_bar is None else float(beats_per_bar)
    if bpm is None:
        candidates = np.arange(HEARD_BPM[0], HEARD_BPM[1] + 0.25, 0.25)
        lags = frame_rate * 60.0 / candidates
        match = np.array([_comb_match(e, lag) for lag in lags])
        prior = np.exp(-0.5 * (np.log2(candidates / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
        best = int(np.argmax(np.maximum(match, 0) * prior))
        if match[best] < MIN_MATCH:
            return None
        bpm = float(candidates[best])
    lo, hi = BPM_RANGE
    if not lo <= bpm <= hi:
        return None
    lag = frame_rate * 60.0 / bpm
    phases = np.arange(0.0, lag, 0.25)
    beat0 = phases[int(np.argmax([_comb_sum(e, p, lag) for p in phases]))]
    one = max(range(int(round(beats))), key=lambda b: _comb_sum(low, beat0 + b * lag, beats * lag))
    # Index i of the envelope is the rise into frame i + 1, and a frame's window rises as soon as it
    # reaches a hit, ahead of it: on click tracks the rise into frame i + 1 came 0.75 frames (9 ms) early.
    downbeat = (beat0 + one * lag + 1.75) / frame_rate
    return Grid.steady(bpm, beats, downbeat)


def session_key(pitch_classes: np.ndarray) -> Key | None:
    """The key of a session from its dominant pitch class per frame ((12, frames) one-hot; zeros where
    silent), or None where nothing sounds or no key fits better than MIN_KEY_FIT."""
    histogram = np.asarray(pitch_classes, np.float64).sum(axis=1)
    if histogram.sum() <= 0 or histogram.std() == 0:
        return None
    key = estimate_key(np.arange(12), histogram)
    profile = np.roll(MINOR_PROFILE if key.minor else MAJOR_PROFILE, key.tonic)
    return key if np.corrcoef(histogram, profile)[0, 1] >= MIN_KEY_FIT else None


def _comb_match(e: np.ndarray, lag: float) -> float:
    """Mean normalised autocorrelation of `e` at 1-4 times `lag` (fractional frames, interpolated)."""
    found = []
    for k in (1, 2, 3, 4):
        shift = k * lag
        if shift > len(e) / 2:
            break
        t = np.arange(len(e) - int(np.ceil(shift)))
        a, b = e[t], np.interp(t + shift, np.arange(len(e)), e)
        found.append((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-12))
    return float(np.mean(found)) if found else -1.0


def _comb_sum(e: np.ndarray, start: float, period: float) -> float:
    """The envelope's mean at start, start + period, ... (interpolated)."""
    at = np.arange(start % period, len(e) - 1, period)
    return float(np.interp(at, np.arange(len(e)), e).mean()) if len(at) else 0.0
