"""Loudness and true peak in constant memory, and a true-peak limiter that works through a file.

- `LoudnessMeter` is ITU-R BS.1770-4 integrated loudness, measured block by
  block as audio streams past. It uses pyloudnorm's K-weighting coefficients
  and its block boundaries and gating, so the result equals
  `pyloudnorm.Meter(rate).integrated_loudness(whole_signal)` (to float
  rounding) without ever holding the whole signal.
- `TruePeakMeter` (models/true_peak.py) tracks the highest inter-sample peak
  of a stream, 8x oversampled by an interpolator flat to 0.9 of Nyquist.
- `normalise_file` is the second pass: it reads a raw float file in blocks,
  applies the normalising gain and a look-ahead true-peak limiter, writes the
  final file and measures what it wrote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import scipy.ndimage
import scipy.signal
import soundfile as sf

from reverie.models.true_peak import PAD, TruePeakMeter, sparse_peaks

from .dither import dither_for

BLOCK_SECONDS = 0.4  # BS.1770 gating block
OVERLAP = 0.75
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)


def db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def undb(value: float) -> float:
    return 10.0 ** (value / 20.0)


class LoudnessMeter:
    """Streaming BS.1770-4 integrated loudness of (channels, frames) blocks."""

    def __init__(self, rate: int, channels: int):
        if channels > len(CHANNEL_GAINS):
            raise ValueError(f"loudness is defined for at most {len(CHANNEL_GAINS)} channels")
        self.rate, self.channels = rate, channels
        # The same filters pyloudnorm applies (high shelf, then high pass), as one cascade with state.
        filters = pyloudnorm.Meter(rate)._filters
        self._sos = np.array([np.concatenate([f.b, f.a]) for f in (filters["high_shelf"], filters["high_pass"])])
        self._zi = np.zeros((len(self._sos), channels, 2))
        self.frames = 0
        self._segments: list[np.ndarray] = []  # per-channel sums of squares between block boundaries
        self._open = np.zeros(channels)  # running sum since the last boundary

    def _boundary(self, k: int) -> int:
        # Written exactly as pyloudnorm computes block edges, so the blocks are the same samples.
        return int(BLOCK_SECONDS * (k * (1.0 - OVERLAP)) * self.rate)

    def push(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float64)
        if block.shape[1] == 0:
            return
        weighted, self._zi = scipy.signal.sosfilt(self._sos, block, axis=-1, zi=self._zi)
        energy = np.cumsum(weighted * weighted, axis=-1)
        start, end = self.frames, self.frames + block.shape[1]
        taken = 0.0
        k = len(self._segments) + 1
        while (edge := self._boundary(k)) <= end:
            upto = energy[:, edge - start - 1] if edge > start else np.zeros(self.channels)
            self._segments.append(self._open + upto - taken)
            self._open = np.zeros(self.channels)
            taken = upto
            k += 1
        self._open = self._open + energy[:, -1] - taken
        self.frames = end

    def integrated(self, gain_db: float = 0.0) -> float:
        """Integrated loudness in LUFS; -inf for silence or audio shorter than one 400 ms block.

        With `gain_db`, the loudness the same audio would have after that gain: the
        block energies are scaled before gating, so both gates apply to the scaled
        signal exactly as a second measurement would.
        """
        block = BLOCK_SECONDS * self.rate
        seconds = self.frames / self.rate
        if self.frames < block:
            return -math.inf
        count = int(np.round((seconds - BLOCK_SECONDS) / (BLOCK_SECONDS * (1.0 - OVERLAP)))) + 1
        per_block = round(1 / (1.0 - OVERLAP))
        segments = np.array(self._segments + [self._open]).reshape(-1, self.channels)
        needed = count + per_block - 1
        if len(segments) < needed:
            segments = np.vstack([segments, np.zeros((needed - len(segments), self.channels))])
        sums = np.cumsum(np.vstack([np.zeros((1, self.channels)), segments]), axis=0)
        z = (sums[per_block : count + per_block] - sums[:count]) / block  # (blocks, channels) mean squares
        z = z * 10.0 ** (gain_db / 10.0)
        weights = np.array(CHANNEL_GAINS[: self.channels])
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10.0 * np.log10(z @ weights)
        gated = loudness >= ABSOLUTE_GATE
        if not gated.any():
            return -math.inf
        relative = -0.691 + 10.0 * np.log10(z[gated].mean(axis=0) @ weights) + RELATIVE_GATE
        gated = (loudness > relative) & (loudness > ABSOLUTE_GATE)
        if not gated.any():
            return -math.inf
        return float(-0.691 + 10.0 * np.log10(z[gated].mean(axis=0) @ weights))


@dataclass
class Measurement:
    loudness_lufs: float
    true_peak_dbtp: float

    def as_dict(self) -> dict:
        def clean(v: float):
            return None if not math.isfinite(v) else round(v, 3)

        return {"loudness_lufs": clean(self.loudness_lufs), "true_peak_dbtp": clean(self.true_peak_dbtp)}


class StreamMeasure:
    """Loudness and true peak together, for the first pass."""

    def __init__(self, rate: int, channels: int):
        self.loudness = LoudnessMeter(rate, channels)
        self.peak = TruePeakMeter(channels)

    def push(self, block: np.ndarray) -> None:
        self.loudness.push(block)
        self.peak.push(block)

    def result(self) -> Measurement:
        return Measurement(self.loudness.integrated(), db(self.peak.finish()))

    def scaled(self, gain_db: float) -> Measurement:
        """The measurement of this audio after a constant gain (exact: both meters are linear before the log)."""
        return Measurement(self.loudness.integrated(gain_db), db(self.peak.finish()) + gain_db)


@dataclass(frozen=True)
class Target:
    """What a file is normalised to: integrated loudness (LUFS) or true peak (dBFS), under a true-peak ceiling."""

    mode: str  # "lufs" or "peak"
    value: float
    ceiling_dbtp: float = -1.0

    def as_dict(self) -> dict:
        key = "loudness_lufs" if self.mode == "lufs" else "peak_dbfs"
        return {key: self.value, "true_peak_dbtp": self.ceiling_dbtp}


class TruePeakLimiter:
    """Look-ahead, linked, true-peak limiter over a file read in blocks.

    The needed attenuation (dB) per sample comes from 8x-oversampled peaks. It is
    spread over the look-ahead by a forward maximum, held and released linearly
    in dB, then smoothed by a moving average as long as the look-ahead. Every
    value the average takes in is at least the attenuation a peak needs, so no
    peak passes the ceiling. The only state between blocks is the release level
    and the last look-ahead of attenuation values.
    """

    def __init__(
        self,
        rate: int,
        ceiling_db: float,
        lookahead_s: float = 0.003,
        release_db_per_s: float = 40.0,
        margin_db: float = 0.1,
    ):
        self.lookahead = max(2, round(lookahead_s * rate))
        self.release = release_db_per_s / rate
        self.threshold = ceiling_db - margin_db
        self._level = 0.0  # held attenuation at the previous sample
        self._history = np.zeros(self.lookahead - 1)  # the last lookahead - 1 held values
        self._started = False  # before the first sample: no audio to ramp down over
        self.max_attenuation_db = 0.0

    @property
    def context(self) -> int:
        """Samples of input needed before and after a block."""
        return self.lookahead + PAD

    def attenuation(self, extended: np.ndarray, n: int) -> np.ndarray:
        """dB of attenuation for the n middle samples of `extended` (context samples each side)."""
        L = self.lookahead
        # Needed attenuation for samples [start - L, end + L); interval_peaks drops PAD each side.
        floor = undb(self.threshold)
        peaks = sparse_peaks(extended, floor)
        if self._level == 0.0 and not (peaks > floor).any():
            self._history[:] = 0.0
            self._started = True
            return np.zeros(n)
        with np.errstate(divide="ignore"):
            need = np.maximum(0.0, 20.0 * np.log10(np.maximum(peaks, 1e-12)) - self.threshold)
        # Forward maximum over L samples: forward[i] = max(need[i .. i + L - 1]).
        centred = scipy.ndimage.maximum_filter1d(need, size=L, mode="constant", cval=0.0)
        forward = np.empty_like(need)
        shift = L // 2
        forward[: len(need) - shift] = centred[shift:]
        forward[len(need) - shift :] = 0.0
        forward = forward[L : L + n]  # the block's own samples (offset L inside `need`)
        # Hold and release: held[i] = max(forward[i], held[i - 1] - release).
        ramp = self.release * np.arange(1, n + 1)
        held = np.maximum.accumulate(np.maximum(forward + ramp, self._level)) - ramp
        held = np.maximum(held, forward)
        self._level = float(held[-1])
        if not self._started and n:
            # A file that starts loud has no samples before its first to ramp the gain down over: the
            # average starts from the first value, which covers every peak of the first L samples.
            self._history[:] = held[0]
        self._started = True
        # Moving average over L samples, continuing from the previous block.
        joined = np.concatenate([self._history, held])
        sums = np.cumsum(np.concatenate([[0.0], joined]))
        smooth = (sums[L:] - sums[:-L]) / L
        self._history = joined[len(joined) - (L - 1) :]
        if n:
            self.max_attenuation_db = max(self.max_attenuation_db, float(smooth.max()))
        return smooth


@dataclass
class NormaliseResult:
    gain_db: float
    limiter_db: float  # the deepest limiter attenuation
    measured: Measurement


def read_block(f: sf.SoundFile, start: int, stop: int) -> np.ndarray:
    """Frames [start, stop) as (channels, n) float64, zeros outside the file."""
    total = f.frames
    lo, hi = max(start, 0), min(stop, total)
    out = np.zeros((f.channels, stop - start))
    if hi > lo:
        f.seek(lo)
        out[:, lo - start : hi - start] = f.read(hi - lo, dtype="float64", always_2d=True).T
    return out


def plan_gain(target: Target, first: Measurement) -> float:
    """The normalising gain (dB) for a raw measurement; 0 for silence."""
    if target.mode == "lufs":
        return 0.0 if not math.isfinite(first.loudness_lufs) else target.value - first.loudness_lufs
    return 0.0 if not math.isfinite(first.true_peak_dbtp) else target.value - first.true_peak_dbtp


def normalise_file(
    raw_path,
    out_path,
    target: Target,
    first: StreamMeasure,
    *,
    subtype: str,
    fmt: str,
    block: int = 1 << 16,
    on_block=None,
    metadata: dict | None = None,
) -> NormaliseResult:
    """Second pass: gain + true-peak limit raw_path into out_path (a temp name; the caller renames it).

    `first` is the first pass's measurement of the raw file. When no limiting is
    needed the result's measurement is the first one scaled by the gain (exact);
    when the limiter acts, what is written is measured again, and if limiting
    lowered the loudness by more than 0.3 LU below a LUFS target the pass is
    repeated with the difference added (up to three passes). `on_block(block)`
    sees every block written (the spectrogram is drawn from them). `metadata` (title, album, ...) is written
    as the file's tags; 16-bit files get TPDF dither.
    """
    gain = plan_gain(target, first.result())
    result = None
    for _ in range(3):
        result = _gain_pass(raw_path, out_path, target, first, gain, subtype, fmt, block, on_block, metadata)
        miss = target.value - result.measured.loudness_lufs
        if target.mode != "lufs" or not math.isfinite(miss) or abs(miss) <= 0.3 or result.limiter_db == 0.0:
            break
        gain += miss
    return result


def _gain_pass(raw_path, out_path, target, first: StreamMeasure, gain_db, subtype, fmt, block, on_block, metadata):
    raw = first.result()
    with sf.SoundFile(str(raw_path)) as src:
        rate, channels, total = src.samplerate, src.channels, src.frames
        limit = math.isfinite(raw.true_peak_dbtp) and raw.true_peak_dbtp + gain_db > target.ceiling_dbtp - 0.1
        limiter = TruePeakLimiter(rate, target.ceiling_dbtp) if limit else None
        measure = StreamMeasure(rate, channels) if limit else None
        scale = undb(gain_db)
        if on_block is not None:
            on_block(None)  # a new pass: forget what an earlier one showed
        dither = dither_for(subtype)  # a new one per pass: every pass writes the same noise
        with sf.SoundFile(str(out_path), "w", rate, channels, subtype=subtype, format=fmt) as dst:
            for name, value in (metadata or {}).items():
                setattr(dst, name, value)  # before the audio: some formats write tags up front
            for start in range(0, total, block):
                n = min(block, total - start)
                if limiter is None:
                    out = read_block(src, start, start + n) * scale
                else:
                    c = limiter.context
                    extended = read_block(src, start - c, start + n + c) * scale
                    att = limiter.attenuation(extended, n)
                    out = extended[:, c : c + n] * (10.0 ** (-att / 20.0))
                out = out.astype(np.float32)
                dst.write((dither(out) if dither else out).T)
                if measure is not None:
                    measure.push(out)
                if on_block is not None:
                    on_block(out)
    measured = measure.result() if measure is not None else first.scaled(gain_db)
    return NormaliseResult(gain_db, limiter.max_attenuation_db if limiter else 0.0, measured)
