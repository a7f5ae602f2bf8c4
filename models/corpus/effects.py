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


def balance(melody: np.ndarray, accompaniment: np.ndarray, margin_db: float) -> np.ndarray:
    """Mix with the accompaniment at least `margin_db` below the melody (RMS); it is only ever turned down.

    The melody has to be what a listener (and the melody-chroma metric) hears:
    General MIDI velocities alone leave three-note pads and a bass as loud as the tune.
    """
    top = _rms(accompaniment) / max(_rms(melody), 1e-12) * 10 ** (margin_db / 20)
    return (melody + accompaniment / max(top, 1.0)).astype(np.float32)


def process(audio: np.ndarray, style: Style, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    import pedalboard as pb

    x = audio.astype(np.float32)
    if style.noise_bed and rng.random() < style.noise_bed:
        x = x + _noise_bed(len(x), sample_rate, rng, level=_rms(x) * float(rng.uniform(0.15, 0.3)))
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
    return normalise(y, float(rng.uniform(*style.peak_db)), sample_rate)


def normalise(y: np.ndarray, peak_db: float, sample_rate: int) -> np.ndarray:
    """Scale to the style's peak (dBFS, at most -1) and fade the last few milliseconds out."""
    peak = _peak(y)
    if peak < 1e-6:
        raise ScoreUnusable("rendered clip is silent")
    y = y * (10 ** (min(peak_db, -1.0) / 20) / peak)
    fade = min(len(y), int(FADE_SECONDS * sample_rate))
    if fade:
        y[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
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
    return (noise / max(_rms(noise), 1e-12) * level).astype(np.float32)


def _peak(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if len(x) else 0.0


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
