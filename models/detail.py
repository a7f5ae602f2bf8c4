"""What the mono, band-limited model cannot hear, measured from a session and rebuilt around its output.

The model makes a mid signal up to the top of its band. A producer's session is stereo and full band,
so new audio is finished with two parametric layers, the way HE-AAC v2 codes them (SBR plus
parametric stereo), with parameters measured from the audio around the new part (or, for generate,
from real stereo recordings: the model's `detail` prior):

- air: the band above `crossover` is rebuilt by copying the octave below it upwards, frame by frame
  (so it keeps that octave's transients), at the level each air band had relative to that octave;
- image: every channel is the mid plus a side made of a panned part (`pan`: the side's correlation
  with the mid, per band) and a decorrelated part (`spread`: the rest of the side's energy). The
  decorrelator is a fixed all-pass, with the opposite sign in the second of two channels, so a
  stereo pair's mean is the mid again, bit for bit in the model's band.

The decorrelator is an all-pass whose group delay wanders at random between 0.5 and 10 ms from bin to
bin: uncorrelated with the mid (zero-lag correlation -0.01 on white noise) yet short enough for the
frames' overlap-add to keep its energy (-0.2 dB; a fully random phase per bin lost 3.2 dB).

Measurements are sums (`Moments`), so the two sides of an inpainted region simply add.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mel import MEL_TOP
from .spectrum import Spectrum

# Stereo parameter bands (Hz); the last runs to Nyquist. About 2/3 octave, like HE-AAC's 20-band set.
IMAGE_EDGES = (0, 150, 300, 500, 750, 1000, 1400, 2000, 2800, 4000, 5600, 8000, 11000, 16000)
# Air bands above the crossover; the last runs to Nyquist.
AIR_EDGES = (10000, 12000, 14000, 16000, 18000, 20000)
CROSSOVER_HZ = AIR_EDGES[0]  # the top of what a 22.05 kHz model's band carries cleanly
AIR_NOT_NEEDED_HZ = 16000.0  # a model whose band reaches this needs no air rebuilt over its output
QUIET = 1e-6  # -60 dB of the whole mid
MAX_RATIO = 4.0  # a side at most 12 dB over its mid
_DECORRELATOR_SEED = 20261126
_GROUP_DELAY_S = (0.0005, 0.010)


def air_crossover(model_rate: int) -> float | None:
    """Where rebuilt air starts over the output of a model at `model_rate`; None for a full-band model."""
    top = MEL_TOP * model_rate  # the top of its mel (MelConfig.for_rate)
    return None if top >= AIR_NOT_NEEDED_HZ else min(CROSSOVER_HZ, top)


def band_index(freqs: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Each frequency's band (0 .. len(edges) - 1; below the first edge counts as band 0)."""
    return np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, len(edges) - 1)


@dataclass
class Moments:
    """Sums over a stretch of audio, per band: mid power, side-mid correlation and side power per
    channel (the side being channel minus mid), and mid power per air band and in the octave under it."""

    mid: np.ndarray  # (image bands,)
    cross: np.ndarray  # (channels, image bands)
    side: np.ndarray  # (channels, image bands)
    air: np.ndarray  # (air bands,)
    source: float

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(
            self.mid + other.mid,
            self.cross + other.cross,
            self.side + other.side,
            self.air + other.air,
            self.source + other.source,
        )

    def detail(self) -> "Detail":
        # A band (or the octave under the air) far below the whole is rounding noise, not a measurement:
        # its ratios would be anything. It gets no side, and no air is rebuilt from it.
        floor = QUIET * max(float(self.mid.sum()), 1e-30)
        pan, spread = pan_and_spread(np.maximum(self.mid, floor), self.cross, self.side)
        if self.source <= floor:
            return Detail(pan, spread, None)
        return Detail(pan, spread, np.minimum(self.air / self.source, 1.0))


def pan_and_spread(mid: np.ndarray, cross: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pan and spread from summed moments (`mid` held above its floor), of any shapes that broadcast."""
    pan = np.clip(cross / mid, -MAX_RATIO, MAX_RATIO)
    spread = np.minimum(np.sqrt(np.maximum(side - cross**2 / mid, 0) / mid), MAX_RATIO)
    return pan, spread


def decorrelator(channels: int, spectrum: Spectrum) -> np.ndarray:
    """(channels, bins, 1) unit phasors: the fixed all-pass that makes the spread part of each side."""
    freqs = spectrum.freqs
    delays = np.random.default_rng(_DECORRELATOR_SEED).uniform(*_GROUP_DELAY_S, (max(channels, 1), len(freqs)))
    phases = 2 * np.pi * np.cumsum(delays, axis=-1) * (freqs[1] - freqs[0])
    if channels == 2:
        phases[1] = phases[0] + np.pi  # L = M + S, R = M - S
    return np.exp(1j * phases[:channels])[..., None]


def measure(samples: np.ndarray, sample_rate: int) -> Moments:
    """The moments of (channels, frames) audio at its own rate."""
    spectrum = Spectrum.at(sample_rate)
    spec = spectrum.analyse(samples)
    mid = spec.mean(axis=0)
    side = spec - mid
    power = (np.abs(mid) ** 2).sum(axis=-1)  # per bin
    cross = (side * mid.conj()).real.sum(axis=-1)
    side_power = (np.abs(side) ** 2).sum(axis=-1)
    image = band_index(spectrum.freqs, IMAGE_EDGES)
    bands = len(IMAGE_EDGES)
    per_band = lambda v: np.stack([np.bincount(image, row, bands) for row in np.atleast_2d(v)])  # noqa: E731
    air = np.zeros(len(AIR_EDGES))
    nyquist = sample_rate / 2
    for b, lo in enumerate(AIR_EDGES):
        hi = AIR_EDGES[b + 1] if b + 1 < len(AIR_EDGES) else nyquist
        if hi > lo:
            air[b] = power[spectrum.bin(lo) : spectrum.bin(hi)].sum()
    source = float(power[spectrum.bin(CROSSOVER_HZ / 2) : spectrum.bin(CROSSOVER_HZ)].sum())
    if nyquist <= CROSSOVER_HZ:
        source = 0.0  # nothing above the crossover to learn from
    return Moments(per_band(power)[0], per_band(cross), per_band(side_power), air, source)


@dataclass
class Detail:
    """The layers to rebuild: pan and spread per channel and image band, and power per air band relative
    to the octave under the crossover (None: leave the band above the crossover as it is)."""

    pan: np.ndarray  # (channels, image bands)
    spread: np.ndarray  # (channels, image bands)
    air: np.ndarray | None  # (air bands,)

    @classmethod
    def centred(cls, channels: int) -> "Detail":
        zeros = np.zeros((channels, len(IMAGE_EDGES)))
        return cls(zeros, zeros.copy(), None)

    @classmethod
    def from_dict(cls, d: dict) -> "Detail":
        air = None if d.get("air") is None else np.asarray(d["air"], float)
        return cls(np.asarray(d["pan"], float), np.asarray(d["spread"], float), air)

    def to_dict(self) -> dict:
        return {
            "pan": np.round(self.pan, 5).tolist(),
            "spread": np.round(self.spread, 5).tolist(),
            "air": None if self.air is None else np.round(self.air, 7).tolist(),
        }

    def for_channels(self, channels: int) -> "Detail":
        """This image on `channels` channels: one channel is the mid; more reuse the measured ones in turn."""
        if channels == 1:
            return Detail(np.zeros((1, len(IMAGE_EDGES))), np.zeros((1, len(IMAGE_EDGES))), self.air)
        pick = np.arange(channels) % len(self.pan)
        return Detail(self.pan[pick], self.spread[pick], self.air)

    def mix(self, other: "Detail", ratio: float) -> "Detail":
        """`ratio` of the way from this detail to `other`, on this detail's channels. No air counts as none."""
        other = other.for_channels(len(self.pan))
        lerp = lambda a, b: (1 - ratio) * a + ratio * b  # noqa: E731
        silent = np.zeros(len(AIR_EDGES))
        air = None
        if self.air is not None or other.air is not None:
            air = lerp(silent if self.air is None else self.air, silent if other.air is None else other.air)
        return Detail(lerp(self.pan, other.pan), lerp(self.spread, other.spread), air)

    @property
    def neutral(self) -> bool:
        return self.air is None and not self.pan.any() and not self.spread.any()

    def stream(self, sample_rate: int, model_rate: int):
        """A stream (`push` (1, n) mono mid chunks, then `flush`) of (channels, n) chunks with this image and
        air; `model_rate` is the rate the mid was made at (it sets the crossover)."""
        if self.neutral:
            return _Repeat(len(self.pan))
        spectrum = Spectrum.at(sample_rate)
        return spectrum.stream(_Finisher(self, spectrum, air_crossover(model_rate)))

    def finish(self, mid: np.ndarray, sample_rate: int, model_rate: int) -> np.ndarray:
        """A mono mid (frames,) at `sample_rate` -> (channels, frames) with this image and air."""
        stream = self.stream(sample_rate, model_rate)
        parts = [p for p in (stream.push(mid[None, :]), stream.flush()) if p.shape[-1]]
        return np.concatenate(parts, axis=-1) if parts else np.zeros((len(self.pan), 0), np.float32)


class _Repeat:
    """The stream of a centred, band-limited detail: the mid in every channel, as it is."""

    def __init__(self, channels: int):
        self.channels = channels

    def push(self, mid: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(mid, np.float32), self.channels, 0)

    def flush(self) -> np.ndarray:
        return np.zeros((self.channels, 0), np.float32)


class _Finisher:
    def __init__(self, detail: Detail, spectrum: Spectrum, crossover: float | None):
        freqs = spectrum.freqs
        image = band_index(freqs, IMAGE_EDGES)
        self.pan = detail.pan[:, image][..., None]  # (channels, bins, 1)
        self.spread = detail.spread[:, image][..., None]
        self.rotate = decorrelator(len(detail.pan), spectrum)
        self.air = None
        nyquist = spectrum.sample_rate / 2
        if detail.air is not None and crossover is not None and nyquist > crossover:
            hi = spectrum.bin(crossover)
            # A shift by a multiple of n_fft / hop bins turns each frame's phase by whole turns per hop, so
            # the copied frames overlap-add in phase (any other shift lost 3.5 to 9 dB in the air bands).
            step = spectrum.n_fft // spectrum.hop
            lo = hi - (hi - spectrum.bin(crossover / 2)) // step * step
            targets = np.arange(hi, spectrum.bins)
            self.source = (lo, hi)
            self.copy_from = lo + (targets - hi) % (hi - lo)
            self.air_band = band_index(freqs[hi:], AIR_EDGES)
            self.air = detail.air
            self.hi = hi

    def __call__(self, spec: np.ndarray, first: int) -> np.ndarray:
        mid = spec[0].copy()  # (bins, frames)
        if self.air is not None:
            lo, hi = self.source
            source_power = (np.abs(mid[lo:hi]) ** 2).sum(axis=0)  # per frame
            patch = mid[self.copy_from]
            patch_power = np.abs(patch) ** 2
            bands = len(self.air)
            gains = np.zeros((bands, mid.shape[1]))
            for b in range(bands):
                rows = self.air_band == b
                if rows.any():
                    # The band's share of the octave below it, frame by frame (sqrt: power to amplitude).
                    have = patch_power[rows].sum(axis=0)
                    gains[b] = np.sqrt(self.air[b] * source_power / np.maximum(have, 1e-30))
            mid[hi:] = patch * gains[self.air_band]
        side = mid[None] * (self.pan + self.spread * self.rotate)
        return mid[None] + side


SILENT = 1e-20  # summed STFT power of digital silence and dither-free fades
