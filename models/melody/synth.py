"""A synthetic hummed take of a melody, for tests and the quality report.

Not a vocoder, but it has what makes real hums hard to transcribe: a harmonic
source with a spectral tilt and formant-like resonances, per-note detune,
vibrato (5-6 Hz, fading in after the onset), pitch drift across a note,
glides (with overshoot) between legato notes and scoops into notes after a rest,
timing jitter on onsets, amplitude dips where notes re-articulate, and breath
noise (an aspiration floor, noise riding on the voice and breaths taken in the
rests). Deterministic for a seed. numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from ..audio import Audio, check_sample_rate
from .notes import Melody

TAIL_SECONDS = 0.4  # silence (breath floor) after the last note
LEGATO_GAP = 0.15  # a note starting within this of the previous end glides from it
PEAK = 0.5  # output peak level


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def formant_gain(freq: np.ndarray) -> np.ndarray:
    """A hummed 'mm/oo' colour: resonances near 250 Hz, 900 Hz and 2.6 kHz over a falling tilt."""
    logf = np.log2(np.maximum(freq, 1.0))
    bumps = (
        1.0 * np.exp(-0.5 * ((logf - math.log2(250)) / 0.6) ** 2)
        + 0.35 * np.exp(-0.5 * ((logf - math.log2(900)) / 0.35) ** 2)
        + 0.08 * np.exp(-0.5 * ((logf - math.log2(2600)) / 0.25) ** 2)
    )
    return 0.15 + bumps


def shaped_noise(rng: np.random.Generator, n: int, sample_rate: int, lo: float, hi: float) -> np.ndarray:
    """White noise band-limited to [lo, hi] Hz with soft edges, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    shape = 1 / (1 + (lo / np.maximum(f, 1.0)) ** 4) / (1 + (f / hi) ** 4)
    noise = np.fft.irfft(spectrum * shape, n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def synthesize_hum(melody: Melody, sample_rate: int = 22050, seed: int = 0) -> Audio:
    sr = check_sample_rate(sample_rate)
    rng = np.random.default_rng(seed)
    notes = list(melody.notes)
    n = int(math.ceil((melody.seconds + TAIL_SECONDS) * sr))
    t = np.arange(n) / sr
    floor = 10 ** (-50 / 20) * shaped_noise(rng, n, sr, 800, 6000)
    if not notes:
        return Audio((floor * PEAK).astype(np.float32)[None, :], sr)

    k = len(notes)
    detune = np.clip(rng.normal(0.0, 0.08, k), -0.2, 0.2)  # semitones
    onset = np.array([max(0.0, nt.start + rng.uniform(-0.012, 0.012)) for nt in notes])
    target = np.array([nt.pitch for nt in notes], dtype=np.float64) + detune
    vib_rate = rng.uniform(5.0, 6.0, k)
    vib_depth = rng.uniform(0.25, 0.45, k)  # semitones
    vib_delay = rng.uniform(0.12, 0.25, k)
    vib_phase = rng.uniform(0, 2 * np.pi, k)
    glide = rng.uniform(0.03, 0.07, k)
    overshoot = rng.uniform(0.0, 0.6, k)  # semitones a glide overshoots by (at most 30% of the interval)
    drift = rng.normal(0.0, 0.1, k)  # semitones of drift across a note
    scoop = rng.uniform(0.3, 0.8, k)
    attack = rng.uniform(0.02, 0.05, k)
    release = rng.uniform(0.04, 0.08, k)
    gain = np.array([nt.velocity / 127 for nt in notes]) * rng.uniform(0.85, 1.0, k)

    # Pitch (semitones): each note's target from its onset on, then its gestures.
    current = np.clip(np.searchsorted(onset, t, side="right") - 1, 0, k - 1)
    pitch = target[current].copy()
    envelope = np.zeros(n)
    for i, note in enumerate(notes):
        a = int(onset[i] * sr)
        b = int(onset[i + 1] * sr) if i + 1 < k else n
        seg = slice(a, b)
        local = t[seg] - onset[i]
        legato = i > 0 and 0 <= note.start - notes[i - 1].end < LEGATO_GAP
        if legato:  # glide from the previous note, starting a little before the onset
            g0 = max(0, a - int(0.3 * glide[i] * sr))
            span = t[g0:b] - t[g0]
            jump = target[i] - target[i - 1]
            settle = smoothstep((span - glide[i]) / 0.08)  # overshoot, then settle in 80 ms
            over = min(overshoot[i], 0.3 * abs(jump)) * np.sign(jump)
            pitch[g0:b] = (
                target[i - 1] + jump * smoothstep(span / glide[i]) + over * smoothstep(span / glide[i]) * (1 - settle)
            )
        else:  # scoop up into the note
            pitch[seg] -= scoop[i] * (1 - smoothstep(local / 0.06))
        pitch[seg] += drift[i] * np.clip(local / max(note.end - note.start, 1e-3), 0, 1)
        ramp = smoothstep((local - vib_delay[i]) / 0.15)
        pitch[seg] += vib_depth[i] * ramp * np.sin(2 * np.pi * vib_rate[i] * local + vib_phase[i])

        # Loudness: raised-cosine attack and release; the louder note wins, so
        # legato notes dip where they meet (the re-articulation a singer makes).
        stop = onset[i] + (note.end - note.start)
        rise = smoothstep((t - onset[i]) / attack[i])
        fall = 1 - smoothstep((t - stop + 0.7 * release[i]) / release[i])
        envelope = np.maximum(envelope, gain[i] * rise * fall)

    wander = np.cumsum(rng.normal(0, 1, n))
    wander = np.convolve(wander - wander.mean(), np.ones(2048) / 2048, mode="same")
    pitch += 0.05 * wander / (np.abs(wander).max() + 1e-9)  # slow intonation wander, 5 cents
    envelope *= 1 + 0.06 * np.sin(2 * np.pi * 5.5 * t)  # a little shimmer

    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = np.zeros(n)
    for h in range(1, 41):
        fh = h * f0
        if fh.min() >= 0.45 * sr:
            break
        amp = formant_gain(fh) * h**-1.1 * (fh < 0.45 * sr)
        voice += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    voice *= envelope / (np.sqrt(np.mean(voice**2)) + 1e-12)

    # Breath: aspiration riding on the voice, and audible intakes in the longer rests.
    breath = 10 ** (-28 / 20) * envelope * shaped_noise(rng, n, sr, 1200, 5000)
    intake = np.zeros(n)
    for i in range(1, k):
        gap = onset[i] - notes[i - 1].end
        if gap > 0.25:
            length = min(0.3, 0.6 * gap)
            start = onset[i] - length - 0.03
            x = (t - start) / length
            intake += np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)) ** 2, 0.0)
    breath += 10 ** (-24 / 20) * intake * shaped_noise(rng, n, sr, 600, 4000)

    y = voice + breath + floor
    y *= PEAK / (np.abs(y).max() + 1e-12)
    return Audio(y.astype(np.float32)[None, :], sr)
