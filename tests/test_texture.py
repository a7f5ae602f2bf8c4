"""Music with no period: new audio is grains of the session's own sound (models/texture.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from reverie.models.audio import Audio, to_model_rate
from reverie.models.groove import band_levels, period
from reverie.models.texture import FADE_SECONDS, GRAIN_SECONDS, grains

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.music_fit import fit  # noqa: E402

RATE = 44100


def pad(seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo: an A minor chord of four sines, each swelling at its own slow rate, over a little brown noise.
    Nothing in it repeats at a lag of 1-8 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    out = np.zeros((2, len(t)))
    for f in (220.0, 261.6, 329.6, 440.0):
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / rng.uniform(5, 9) + rng.uniform(0, 6))
        out[0] += 0.05 * swell * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
        out[1] += 0.05 * swell * np.sin(2 * np.pi * f * 1.002 * t + rng.uniform(0, 6))
    out += 0.001 * lfilter([1], [1, -0.97], rng.standard_normal((2, len(t))), axis=1)
    return out.astype(np.float32)


def noise(seconds: float, pole: float, seed: int) -> np.ndarray:
    """Stereo noise through a one-pole low-pass: dark near pole 1, white at 0."""
    rng = np.random.default_rng(seed)
    x = lfilter([1 - pole], [1, -pole], rng.standard_normal((2, round(seconds * RATE))), axis=1)
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


def test_grains_fill_the_length_from_the_sources_and_the_same_seed_gives_the_same_audio():
    source = pad(8.0)
    a = grains([source], source, 5 * RATE, RATE, np.random.default_rng(3))
    b = grains([source], source, 5 * RATE, RATE, np.random.default_rng(3))
    assert a.shape == (2, 5 * RATE) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, grains([source], source, 5 * RATE, RATE, np.random.default_rng(4)))
    # The first grain is a stretch of the source, at full level, sample for sample.
    n = round(GRAIN_SECONDS[0] * RATE) - round(FADE_SECONDS * RATE)
    head = a[:, :n]
    starts = [k for k in range(source.shape[1] - n) if np.array_equal(source[:, k : k + n], head)]
    assert len(starts) == 1
    # Nothing whole to draw from: None (the caller makes the audio from noise).
    assert grains([source[:, :RATE]], source, RATE, RATE, np.random.default_rng(0)) is None


def test_each_grain_carries_on_from_how_the_audio_before_it_ends():
    """Two sources, dark noise and bright (a gap's two sides): after a dark lead the grains stay dark, after
    a bright one bright; grains drawn at random would come from either about as often."""
    dark, bright = noise(6.0, 0.995, 1), noise(6.0, 0.0, 2)
    hop = RATE // 100

    def brightness(x: np.ndarray) -> float:  # dB of the top 12 bands over the bottom 12
        levels = band_levels(x.mean(axis=0), RATE, hop)
        return float((levels[:, 12:] - levels[:, :12]).mean())

    edge = (brightness(dark) + brightness(bright)) / 2
    for seed in range(4):
        rng = np.random.default_rng(seed)
        after_dark = grains([dark, bright], noise(1.0, 0.995, 9), 8 * RATE, RATE, rng)
        after_bright = grains([dark, bright], noise(1.0, 0.0, 9), 8 * RATE, RATE, rng)
        for second in range(8):
            assert brightness(after_dark[:, second * RATE : (second + 1) * RATE]) < edge
            assert brightness(after_bright[:, second * RATE : (second + 1) * RATE]) > edge


@pytest.fixture(scope="module")
def default_pipe():
    from reverie.models.pipeline import ReveriePipeline

    return ReveriePipeline.from_pretrained()


def test_a_pad_with_no_period_is_continued_and_filled_with_its_own_sound(default_pipe):
    """A swelling chord: no lag repeats it, so no loop; the new audio keeps its pitch classes and has no
    hits of its own. From noise (variation 1) the same model made another chord with bursts in it."""
    session = Audio(pad(10.0), RATE)
    mel = default_pipe.frontend.encode(torch.from_numpy(to_model_rate(session, default_pipe.sample_rate)))[None]
    assert period(mel, default_pipe.config.mel.frame_rate) is None
    tail = [session.samples[:, -6 * RATE :]]
    around = [session.samples[:, : 4 * RATE], session.samples[:, 6 * RATE :]]
    figures = {}
    for variation in (0.5, 1.0):
        longer = default_pipe.continue_(session, 6.0, seed=0, variation=variation)
        assert longer.samples.shape == (2, 16 * RATE)
        filled = default_pipe.inpaint(session, 4.0, 6.0, seed=0, variation=variation)
        figures[variation] = (
            fit(longer.samples[:, session.frames :], tail, RATE),
            fit(filled.samples[:, 4 * RATE : 6 * RATE], around, RATE),
        )
    for made in figures[0.5]:
        assert made["chroma"] > 0.95
        assert made["crest"] < 1.1
        assert abs(made["hf_db"]) < 2.0
    for made, from_noise in zip(figures[0.5], figures[1.0]):
        assert made["chroma"] > from_noise["chroma"] + 0.2
