"""A light touch keeps the recording: transform's change applied as a gain on the input's own spectrum.

Resynthesising a whole recording from the model's mono mel loses its stereo image, its top octave
and its fine structure, however little the model changed. So transform measures the change
instead, as a gain per mel band and frame (the model's mel over the input's), and applies that gain
to the input's own complex STFT, per channel, at the input's rate: what the model left alone comes
back as it was, phase, image and air included. Above 10 kHz (`CROSSOVER_HZ`) the gain is the change
of the whole band's power: the air keeps its share. A 22.05 kHz model hears nothing there; a 44.1 kHz
one does, but reconstructs real recordings' air worst of all (docs/model.md, "Measurements behind the
design", has the numbers and the commit that measured them).

Strength also bounds how far any band may move: `CHANGE_DB_PER_STRENGTH` dB per unit (3 dB at 0.05,
18 dB at 0.3). A model that does not reconstruct material unlike its corpus (a quiet orchestral clip
far from its training data) then still cannot spoil a light touch.

A gain can only reshape energy that is there. Where the model asks for more than `MAX_BOOST_DB` over
the input (a new note, a filled gap), the shortfall comes from the model's own resynthesis, faded in as
strength grows from `LIGHT` (below it, only the bounded gain touches the recording) to `KEEP_UNTIL`. As
strength grows from `KEEP_UNTIL` to `RESYNTH_FROM`, the result crossfades to that resynthesis entirely:
a strong transform is new audio.

With a full-band model the resynthesis is made per channel (`channel_resynthesis`): each channel's own
mel, moved by the model's change to the mid's, through Griffin-Lim from that channel's phases, so a
strong transform keeps the recording's image as it moves in time, where a mid finished with a static
image does not (ViSQOL in docs/model.md). A band-limited model
resynthesises the mid, finished with the input's image and air (detail.py), which rebuilds the band
it cannot make.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .audio import Audio, fit_length, resample, to_model_rate
from .detail import CROSSOVER_HZ, measure
from .mel import unit_phase
from .spectrum import Spectrum

MAX_BOOST_DB = 6.0
CHANGE_DB_PER_STRENGTH = 60.0
MAX_CUT_DB = 40.0
LIGHT, KEEP_UNTIL, RESYNTH_FROM = 0.1, 0.4, 0.9
SMOOTH = (3, 3)


def kept_share(strength: float) -> float:
    """How much of the result is the gained input (the rest: the finished resynthesis)."""
    return 1.0 - _ramp(strength, KEEP_UNTIL, RESYNTH_FROM)


def _ramp(x: float, start: float, end: float) -> float:
    """0 up to start, 1 from end, a smooth step between."""
    t = min(max((x - start) / (end - start), 0.0), 1.0)
    return t * t * (3 - 2 * t)


def retouch(
    audio: Audio,
    before: torch.Tensor,
    after: torch.Tensor,
    resynth: np.ndarray,
    frontend,
    strength: float,
) -> Audio:
    """`audio` changed as the model changed its mel from `before` to `after` (normalised, (n_mels, T)).

    `resynth` is the model-rate audio decoded from `after`, for what a gain cannot make: a mid (samples,),
    finished with the input's own image and air, or one per channel (channels, samples), taken as it is.
    """
    model_rate = frontend.config.sample_rate
    keep = kept_share(strength)
    log_gain = _smoothed(torch.log(frontend.linear_mel(after)) - torch.log(frontend.linear_mel(before)))
    nepers = math.log(10) / 20
    reach = CHANGE_DB_PER_STRENGTH * strength
    gain = log_gain.clamp(-min(MAX_CUT_DB, reach) * nepers, min(MAX_BOOST_DB, reach) * nepers)
    # Above the model's band: the whole band's power change, smoothed over 3 frames like the gain.
    power = [frontend.linear_mel(m).square().sum(dim=0).clamp(min=1e-24) for m in (after, before)]
    air = _smoothed(0.5 * torch.log(power[0] / power[1])[None])[0].clamp(gain.min(), gain.max())
    bands = _BandMap(frontend, gain.numpy(), air=air.numpy())
    spectrum = Spectrum.at(audio.sample_rate)
    kept = spectrum.process(audio.samples, bands.applier(spectrum, model_rate, keep))
    # The share of the model's magnitude that no gain up to MAX_BOOST_DB can make, per band and frame.
    missing = (1 - torch.exp(log_gain.clamp(max=MAX_BOOST_DB * nepers) - log_gain)).clamp(min=0)
    missing = _ramp(strength, LIGHT, KEEP_UNTIL) * keep * missing + (1 - keep)
    if not missing.any():  # a light touch: the gain alone, no resynthesis to finish
        return Audio(kept, audio.sample_rate)
    if resynth.ndim == 2:  # one per channel: its own image already
        parts = np.stack([_shortfall(r, missing.numpy(), frontend) for r in resynth])
        return Audio(kept + fit_length(resample(parts, model_rate, audio.sample_rate), audio.frames), audio.sample_rate)
    resynth_part = _shortfall(resynth, missing.numpy(), frontend)
    extra = fit_length(resample(resynth_part[None, :], model_rate, audio.sample_rate)[0], audio.frames)
    detail = measure(audio.samples, audio.sample_rate).detail()
    return Audio(kept + detail.finish(extra, audio.sample_rate, model_rate), audio.sample_rate)


def channel_resynthesis(
    frontend, audio: Audio, change: torch.Tensor | None, generator: torch.Generator, keep_phase: bool
) -> np.ndarray:
    """Each channel of `audio` through the model's mel, moved by `change` (normalised, (n_mels, T) on the
    model's frames; None: unchanged), and back through Griffin-Lim, started from the channel's own phases
    if `keep_phase`: (channels, samples) at the model's rate."""
    model_rate = frontend.config.sample_rate
    out = []
    for channel in audio.samples:
        mono = torch.from_numpy(to_model_rate(Audio(channel[None, :], audio.sample_rate), model_rate))
        x = frontend.encode(mono)
        if change is not None:
            x = x + change
        phase = unit_phase(frontend.stft(mono)) if keep_phase else None
        out.append(frontend.decode(x, len(mono), generator, init_phase=phase).numpy())
    return np.stack(out)


def _smoothed(log_gain: torch.Tensor) -> torch.Tensor:
    """A 3x3 (bands x frames) average: the model's frame-to-frame jitter is noise, not change."""
    kernel = torch.ones(1, 1, SMOOTH[0], SMOOTH[1]) / (SMOOTH[0] * SMOOTH[1])
    pad = (SMOOTH[1] // 2,) * 2 + (SMOOTH[0] // 2,) * 2
    padded = torch.nn.functional.pad(log_gain[None, None], pad, mode="replicate")
    return torch.nn.functional.conv2d(padded, kernel)[0, 0]


def _shortfall(resynth: np.ndarray, missing: np.ndarray, frontend) -> np.ndarray:
    """The part of the model-rate resynthesis that the gain cannot make: its STFT times `missing`."""
    spec = frontend.stft(torch.from_numpy(resynth))
    share = _BandMap(frontend, missing).model_bins()
    return frontend.istft(spec * torch.from_numpy(share).to(spec.real.dtype), len(resynth)).numpy()


class _BandMap:
    """A value per mel band and model frame, read at any STFT's bins: the mel filters' weighted average,
    so it runs linearly between band centres; above the crossover, `air` per frame (default: the mean
    over the octave below it); below the lowest filter, the lowest band's."""

    def __init__(self, frontend, values: np.ndarray, air: np.ndarray | None = None):
        self.frontend = frontend
        self.values = values  # (n_mels, T)
        centres = frontend.centres
        source = (centres >= CROSSOVER_HZ / 2) & (centres < CROSSOVER_HZ)
        if air is None:
            air = values[source].mean(axis=0) if source.any() else values[-1]
        self.air = air

    def at_bins(self, freqs: np.ndarray, sample_rate: int) -> np.ndarray:
        """(bins, T) for the given bin frequencies."""
        import torchaudio.functional as AF

        c = self.frontend.config
        with warnings.catch_warnings():
            # Below the model's rate, the filters above the input's Nyquist are empty by design (`empty` below
            # gives those bins the air); torchaudio warns about it on every call.
            warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")
            weights = AF.melscale_fbanks(len(freqs), c.f_min, c.f_max, c.n_mels, sample_rate, "slaney", "slaney")
        weights = weights.numpy()
        total = weights.sum(axis=1, keepdims=True)
        out = (weights @ self.values) / np.maximum(total, 1e-12)
        empty = total[:, 0] <= 1e-12
        below = empty & (freqs < c.f_min * 2)
        out[below] = self.values[0]
        out[empty & ~below] = self.air
        out[freqs >= CROSSOVER_HZ] = self.air
        return out

    def model_bins(self) -> np.ndarray:
        return self.at_bins(self.frontend.freqs, self.frontend.config.sample_rate)

    def applier(self, spectrum: Spectrum, model_rate: int, keep: float):
        """A spectral function: each frame times exp(the value at its bins and time) times `keep`."""
        log_gain = self.at_bins(spectrum.freqs, spectrum.sample_rate)  # (bins, T) on the model's frames
        model_times = np.arange(log_gain.shape[1]) * self.frontend.config.hop_length / model_rate

        def apply(spec: np.ndarray, first: int) -> np.ndarray:
            times = spectrum.frame_seconds(first, spec.shape[-1])
            at = np.interp(times, model_times, np.arange(len(model_times)))
            lo = np.floor(at).astype(int)
            hi = np.minimum(lo + 1, len(model_times) - 1)
            frac = at - lo
            g = log_gain[:, lo] * (1 - frac) + log_gain[:, hi] * frac
            return spec * (keep * np.exp(g))[None]

        return apply
