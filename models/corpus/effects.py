"""Per-style post-processing with pedalboard, an optional noise bed, and the final level.

Every plugin is built fresh for each clip (pedalboard resets plugin state on
each call as well), so a clip's sound never depends on the previous clip.
"""

from __future__ import annotations

import numpy as np

from .scores import ScoreUnusable
from .styles import Style

FADE_SECONDS = 0.02  # the clip is cut mid-note; a short fade avoids a click at the end
DISTORTION_MIX = 0.45  # parallel blend: full-wet tanh drive buries the notes


def accompaniment_gain(melody: np.ndarray, accompaniment: np.ndarray, margin_db: float) -> float:
    """The gain (at most 1) that puts the accompaniment at least `margin_db` below the melody (RMS).

    The melody has to be what a listener (and the melody-chroma metric) hears:
    General MIDI velocities alone leave three-note pads and a bass as loud as the tune.
    """
    top = rms(accompaniment) / max(rms(melody), 1e-12) * 10 ** (margin_db / 20)
    return 1.0 / max(top, 1.0)


def balance(melody: np.ndarray, accompaniment: np.ndarray, margin_db: float) -> np.ndarray:
    """Mix with the accompaniment at least `margin_db` below the melody (RMS); it is only ever turned down."""
    return (melody + accompaniment * accompaniment_gain(melody, accompaniment, margin_db)).astype(np.float32)


def pan(mono: np.ndarray, position: float) -> np.ndarray:
    """(2, frames): `mono` placed at `position` (-1 left .. 1 right) with a constant-power law, so a part
    keeps its loudness wherever it sits, and the pair's mean at the centre is the part itself."""
    angle = (position + 1) * np.pi / 4
    return (np.sqrt(2) * np.array([[np.cos(angle)], [np.sin(angle)]]) * mono[None, :]).astype(np.float32)


def process(audio: np.ndarray, style: Style, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """(channels, frames) -> the same, with the style's chain; the reverb is a stereo room."""
    import pedalboard as pb

    x = audio.astype(np.float32)
    if style.noise_bed and rng.random() < style.noise_bed:
        level = rms(x) * float(rng.uniform(0.15, 0.3))
        # One noise per channel: rain and sea are wide, not a point in the middle.
        x = x + np.stack([_noise_bed(x.shape[-1], sample_rate, rng, level) for _ in range(len(x))])
    pre = []
    if style.highpass_hz:
        pre.append(pb.HighpassFilter(float(rng.uniform(*style.highpass_hz))))
    if pre:
        x = pb.Pedalboard(pre)(x, sample_rate)
    if style.drive_db:
        driven = pb.Pedalboard([pb.Distortion(float(rng.uniform(*style.drive_db)))])(x, sample_rate)
        x = (1 - DISTORTION_MIX) * x + DISTORTION_MIX * driven / max(_peak(driven), 1e-9) * _peak(x)
    chain = []
    if style.compress:
        chain.append(
            pb.Compressor(
                threshold_db=-20.0 + 20 * np.log10(max(_peak(x), 1e-9)), ratio=4.0, attack_ms=5.0, release_ms=120.0
            )
        )
    if style.bright_db:
        chain.append(pb.HighShelfFilter(cutoff_frequency_hz=3000.0, gain_db=style.bright_db))
    wet = float(rng.uniform(*style.reverb_wet))
    chain.append(
        pb.Reverb(
            room_size=float(rng.uniform(*style.reverb_room)), damping=0.5, wet_level=wet, dry_level=1.0 - wet, width=1.0
        )
    )
    if style.lowpass_hz:
        cutoff = float(rng.uniform(*style.lowpass_hz))
        # Two one-pole stages (12 dB/octave): one alone leaves pads bright.
        chain += [pb.LowpassFilter(cutoff), pb.LowpassFilter(cutoff)]
    y = pb.Pedalboard(chain)(x, sample_rate)
    y = y + excite(x, sample_rate, rms(y) * 10 ** (float(rng.uniform(*style.air_db)) / 20))
    return normalise(y, float(rng.uniform(*style.peak_db)), sample_rate)


def excite(x: np.ndarray, sample_rate: int, level: float) -> np.ndarray:
    """Air made from the music itself, as an aural exciter makes it: the band above 3 kHz driven into
    saturation makes harmonics of what plays there, of which only those above 8 kHz are kept (24 dB per
    octave), at `level` RMS. Each channel keeps its own, so the air sits where its part does."""
    import pedalboard as pb

    hp = pb.HighpassFilter
    chain = pb.Pedalboard([hp(3000.0), hp(3000.0), pb.Distortion(24.0), hp(8000.0), hp(8000.0), hp(8000.0), hp(8000.0)])
    air = chain(x.astype(np.float32), sample_rate)
    return (air * (level / max(rms(air), 1e-12))).astype(np.float32)


def normalise(y: np.ndarray, peak_db: float, sample_rate: int) -> np.ndarray:
    """Scale to the style's peak (dBFS, at most -1) and fade the last few milliseconds out."""
    peak = _peak(y)
    if peak < 1e-6:
        raise ScoreUnusable("rendered clip is silent")
    y = y * (10 ** (min(peak_db, -1.0) / 20) / peak)
    fade = min(y.shape[-1], int(FADE_SECONDS * sample_rate))
    if fade:
        y[..., -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return y.astype(np.float32)


def _noise_bed(frames: int, sample_rate: int, rng: np.random.Generator, level: float) -> np.ndarray:
    """Pink-ish noise; half the time swelling like waves (ocean), otherwise steady (rain)."""
    spectrum = np.fft.rfft(rng.standard_normal(frames))
    freqs = np.fft.rfftfreq(frames, 1 / sample_rate)
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))  # 1/f power
    noise = np.fft.irfft(spectrum, n=frames)
    if rng.random() < 0.5:
        period = rng.uniform(6.0, 10.0)
        t = np.arange(frames) / sample_rate
        noise *= 0.35 + 0.65 * np.sin(np.pi * t / period + rng.uniform(0, np.pi)) ** 2
    return (noise / max(rms(noise), 1e-12) * level).astype(np.float32)


def _peak(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if x.size else 0.0


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
