"""Long pieces keep their spectral balance: each window may drift only so far from how the piece began.

A long generate is a chain of continuations, and small biases compound: a 21-minute sleep drone
from the shipped model gained 13-18 dB in its 40-90 Hz band around minute 11 and kept it. Level
matching (one reference level per call) holds the total; `BandAnchor` does the same per band. The
first window (or, for a continuation, the input's context) sets each band's level; a later window's
band may then differ from it by up to `limit_db` freely (music evolves), and only what goes beyond
is taken back, as an exact gain on that band's mel bins.

The air (bands from `AIR_FROM_HZ` up) is held closer, to `AIR_LIMIT_DB`: how bright a recording is
belongs to its microphones, mix and master, not to the notes, so it should not wander as the music
does. Held at 4 dB like the rest, a calm continuation of a real track came out 6.0 dB darker above
11.5 kHz than the track (the calm corpus is darker than real music).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .detail import SILENT, band_index
from .spectrum import Spectrum

# Band edges (Hz) that the balance is held in; the last runs to the top of the mel.
BAND_EDGES = (0, 90, 250, 500, 1000, 2000, 4000, 8000, 12000, 16000)
AIR_FROM_HZ = 8000
AIR_LIMIT_DB = 1.5
# A generation with nothing around it starts with its style's air: each air band's share of the whole
# (PipelineConfig.style_bands_db, measured on the training data) within this. The model alone let calm's
# air wander 5 to 10 dB between checkpoints trained on the same calm clips.
STYLE_AIR_DB = 1.5
MAX_HOLD_BOOST_DB = 24.0
HOLD_PASSES = 4


def band_levels_db(frontend, band: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    """dB of the mean mel power in each band of BAND_EDGES over all frames of a normalised mel (n_mels, T)
    (or (1, n_mels, T)); `band`: each mel bin's band (detail.band_index of the frontend's centres)."""
    return _band_db(_bin_power(frontend, x), band)


def band_shares_db(frontend, x: torch.Tensor) -> torch.Tensor:
    """Each band's level against the mean over every mel bin (dB): the balance, whatever the loudness."""
    power = _bin_power(frontend, x)
    total = 10 * torch.log10(power.mean().clamp(min=1e-24))
    return _band_db(power, band_index(frontend.centres, BAND_EDGES)) - total


def _bin_power(frontend, x: torch.Tensor) -> torch.Tensor:
    """Each mel bin's mean power over the frames (n_mels,)."""
    return frontend.linear_mel(x).square().reshape(-1, x.shape[-1]).mean(dim=-1)


def _band_db(power: torch.Tensor, band: np.ndarray) -> torch.Tensor:
    sums = torch.zeros(len(BAND_EDGES), dtype=power.dtype).index_add_(0, torch.from_numpy(band), power)
    counts = np.bincount(band, minlength=len(BAND_EDGES))
    return 10 * torch.log10((sums / torch.from_numpy(np.maximum(counts, 1))).clamp(min=1e-24))


def band_limits(limit_db: float) -> torch.Tensor:
    """How far each band of BAND_EDGES may stray: `limit_db`, the air no more than AIR_LIMIT_DB."""
    air = torch.tensor(BAND_EDGES) >= AIR_FROM_HZ
    return torch.where(air, min(limit_db, AIR_LIMIT_DB), limit_db)


def excess_db(deviation: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """How far each band's deviation goes beyond its limit, signed; zero within it."""
    return torch.sign(deviation) * (deviation.abs() - limits).clamp(min=0)


class BandAnchor:
    """`reference`: the frames the new ones are held to (a continuation's context); without it, the first
    new frames, after their air is brought to within STYLE_AIR_DB of `style_shares` (band_shares_db of
    the style's training data) where given."""

    def __init__(
        self, frontend, limit_db: float | None, reference: torch.Tensor | None = None, style_shares=None
    ) -> None:
        self.frontend = frontend
        self.limit_db = limit_db
        self.band = band_index(frontend.centres, BAND_EDGES)
        if limit_db is not None:
            self.limits = band_limits(limit_db)
        self.reference = None if reference is None or reference.shape[-1] == 0 else self._levels(reference)
        self.style_shares = None if style_shares is None else torch.as_tensor(style_shares, dtype=torch.float32)
        # How far (dB per band) the balance held to has moved since the reference: a mood that moves.
        self.moved: torch.Tensor | None = None

    def _levels(self, x: torch.Tensor) -> torch.Tensor:
        return band_levels_db(self.frontend, self.band, x)

    def _shifted(self, x: torch.Tensor, excess: torch.Tensor) -> torch.Tensor:
        nepers = -excess[torch.from_numpy(self.band)] * (math.log(10) / 20)
        return x + (nepers / self.frontend.std)[None, :, None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """New frames (1, n_mels, T), with any band beyond the limit brought back to it."""
        if self.limit_db is None or x.shape[-1] == 0:
            return x
        if self.reference is None:
            if self.style_shares is not None:
                air = torch.tensor(BAND_EDGES) >= AIR_FROM_HZ
                deviation = torch.where(air, band_shares_db(self.frontend, x) - self.style_shares, 0.0)
                x = self._shifted(x, excess_db(deviation, torch.full_like(deviation, STYLE_AIR_DB)))
            self.reference = self._levels(x)
            return x
        reference = self.reference if self.moved is None else self.reference + self.moved
        return self._shifted(x, excess_db(self._levels(x) - reference, self.limits))


def band_centres(top: float) -> np.ndarray:
    """The geometric centre (Hz) of each band of BAND_EDGES, the last running to `top`."""
    edges = np.array([*BAND_EDGES, top], float)
    return np.sqrt(np.maximum(edges[:-1], 20.0) * edges[1:])


def gain_curve_db(freqs: np.ndarray, centres: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Per frequency, the gain (dB) that takes back each band's `excess`: interpolated between the band
    centres over log frequency, so no step at a band edge."""
    return np.interp(np.log(np.maximum(freqs, 1.0)), np.log(centres), -np.asarray(excess, float))


def balance_db(pieces: list[np.ndarray], sample_rate: int) -> np.ndarray | None:
    """dB of the mean power in each band of BAND_EDGES over every channel and the frames wholly inside
    each piece (channels, samples): a balance as a listener measures it. None where no piece holds a frame."""
    powers = [_whole_frame_power(p, sample_rate) for p in pieces if p.shape[-1]]
    frames = sum(count for _, count in powers)
    if not frames:
        return None
    return _bands_db(sum(power for power, _ in powers), frames, sample_rate)


def shares_db(balance: np.ndarray | None) -> np.ndarray | None:
    """A balance (balance_db) as each band's share of the whole (dB); None for silence, which has none."""
    if balance is None:
        return None
    total = 10 * np.log10(np.sum(10 ** (balance / 10)))
    return None if total <= 10 * np.log10(SILENT) else balance - total


def _whole_frame_power(piece: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """Per bin, the power of (channels, samples) summed over the channels and the frames wholly inside it,
    and how many (channel, frame) pairs that is."""
    spectrum = Spectrum.at(sample_rate)
    spec = spectrum.analyse(piece)[..., spectrum.whole_frames(piece.shape[-1])]
    return (np.abs(spec) ** 2).sum(axis=(0, 2)), spec.shape[0] * spec.shape[-1]


def _bands_db(power: np.ndarray, frames: int, sample_rate: int) -> np.ndarray:
    """dB of each band's mean power, from per-bin power summed over `frames` (channel, frame) pairs."""
    band = band_index(Spectrum.at(sample_rate).freqs, BAND_EDGES)
    return 10 * np.log10(np.maximum(np.bincount(band, power, minlength=len(BAND_EDGES)) / frames, 1e-24))


def hold_balance(region: np.ndarray, reference: np.ndarray | None, sample_rate: int, limit_db: float) -> np.ndarray:
    """`region` (channels, samples) with each band of BAND_EDGES within `limit_db` (the air within
    AIR_LIMIT_DB) of `reference` (balance_db of the session around it; None: as it is). What strays beyond
    is taken back by one gain curve (gain_curve_db); a region within the limits comes back as it is. On a
    fill the model's mel held within 1 dB still decoded 8-17 dB darker above 8 kHz than the music around
    it: its edge frames, which overlap the session, carried the air."""
    return _held(region, reference, sample_rate, limit_db, shares=False)


def hold_shares(region: np.ndarray, shares: np.ndarray | None, sample_rate: int, limit_db: float) -> np.ndarray:
    """hold_balance for each band's share of the whole (`shares`, as shares_db gives it): the region keeps
    its own level, and a silent region comes back as it is."""
    return _held(region, shares, sample_rate, limit_db, shares=True)


def _held(region: np.ndarray, reference: np.ndarray | None, sample_rate: int, limit_db: float, shares: bool):
    if reference is None or not region.shape[-1]:
        return region
    spectrum = Spectrum.at(sample_rate)
    power, frames = _whole_frame_power(region, sample_rate)
    if not frames:  # shorter than one whole frame: nothing a listener could measure
        return region
    if shares:
        own = _bands_db(power, frames, sample_rate)
        own_shares = shares_db(own)
        if own_shares is None:
            return region
        reference = reference + (own - own_shares)  # the region's own level
    centres, limits, total = band_centres(sample_rate / 2), band_limits(limit_db), np.zeros(len(BAND_EDGES))
    curve = np.zeros(spectrum.bins)
    # The gain is one curve on the region's own spectrum, so its balance under a candidate curve is known
    # without resynthesis: a band's gain reaches into its neighbours', hence the passes.
    for _ in range(HOLD_PASSES):
        deviation = torch.from_numpy(_bands_db(power * 10 ** (curve / 10), frames, sample_rate) - reference)
        excess = excess_db(deviation, limits).numpy()
        if not (np.abs(excess) > 0.05).any():
            break
        # A band beyond its limit is brought halfway inside it, so its neighbours' gains do not push it out.
        step = np.where(excess != 0, excess + np.sign(excess) * limits.numpy() / 2, 0.0)
        # A band the region all but lacks is not raised out of its noise floor without end.
        step = np.maximum(step, -MAX_HOLD_BOOST_DB - total)
        total += step
        curve += gain_curve_db(spectrum.freqs, centres, step)
    if not curve.any():
        return region
    gain = 10 ** (curve / 20)
    return spectrum.process(region, lambda spec, first: spec * gain[None, :, None])


class AudioAnchor:
    """The same hold on decoded audio's own STFT power, the balance a listener hears and a session is
    matched by. `BandAnchor` holds the model's mel, but a generated mel's bands do not decode to the
    power a recording's bands of the same mel level have: continuations of held-out tracks whose
    mel air was held within 1.5 dB came out 3 to 5 dB brighter there. This takes back what the audio
    still strays beyond the limits, with gains interpolated between band centres over log frequency
    (no steps at band edges), faded in over `RAMP_FRAMES` from the frames it is measured against.
    """

    RAMP_FRAMES = 4

    def __init__(self, frontend, limit_db: float | None):
        self.frontend = frontend
        self.limits = None if limit_db is None else band_limits(limit_db)
        top = frontend.config.f_max
        self.band = band_index(frontend.freqs, BAND_EDGES)
        self.heard = frontend.freqs <= top  # above the mel's top the model made nothing to hold
        self.centres = band_centres(top)
        self.reference = None
        self.moved: np.ndarray | None = None  # as BandAnchor.moved, level included

    def _levels(self, power: np.ndarray) -> np.ndarray:
        """dB of the mean power in each band over the frames of `power` (bins, T)."""
        sums = np.bincount(self.band, power.mean(axis=1) * self.heard, minlength=len(BAND_EDGES))
        return 10 * np.log10(np.maximum(sums, 1e-24))

    def __call__(self, audio: np.ndarray, before: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Model-rate audio whose frames where `new` (bool, (T,)) is true are held to the frames where
        `before` is true (or, the first time with none before, to themselves from then on)."""
        if self.limits is None or not new.any():
            return audio
        spec = self.frontend.stft(torch.from_numpy(np.ascontiguousarray(audio, np.float32)))
        power = spec.abs().square().numpy()
        if self.reference is None:
            self.reference = self._levels(power[:, before] if before.any() else power[:, new])
        deviation = self._levels(power[:, new]) - self.reference - (0 if self.moved is None else self.moved)
        excess = excess_db(torch.from_numpy(deviation), self.limits).numpy()
        if not excess.any():
            return audio
        gain_db = gain_curve_db(self.frontend.freqs, self.centres, excess)
        first = int(np.argmax(new))
        ramp = np.clip((np.arange(spec.shape[-1]) - first + 1) / self.RAMP_FRAMES, 0, 1) * new
        gain = 10 ** (gain_db[:, None] * ramp[None, :] / 20)
        return self.frontend.istft(spec * torch.from_numpy(gain).to(spec.real.dtype), len(audio)).numpy()
