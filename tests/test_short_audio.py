"""Any length of at least one sample works in every operation, at the caller's exact length."""

import numpy as np
import pytest

from reverie.models.audio import Audio

# At 48 kHz: 1 sample, 46 ms (under half the default model's FFT), and 0.371 s (under one U-Net patch group).
LENGTHS = [1, 2208, 17808]


@pytest.mark.parametrize("frames", LENGTHS)
def test_short_input_in_every_operation(pipe, frames):
    rng = np.random.default_rng(frames)
    audio = Audio((0.1 * rng.standard_normal((2, frames))).astype(np.float32), 48000)
    cases = {
        "transform": dict(audio=audio, strength=0.3),
        "inpaint": dict(audio=audio, start=0.0, end=audio.seconds),
        "interpolate": dict(a=audio, b=audio, ratio=0.5),
        "continue": dict(audio=audio, seconds=0.05),
    }
    for op, kwargs in cases.items():
        out = pipe.run(op, seed=1, **kwargs)
        expected = frames + (round(0.05 * 48000) if op == "continue" else 0)
        assert out.samples.shape == (2, expected), op
        assert np.isfinite(out.samples).all(), op
    kept = pipe.run("continue", audio=audio, seconds=0.05)
    assert np.array_equal(kept.samples[:, :frames], audio.samples)


@pytest.mark.parametrize("seconds", [1 / 48000, 0.046, 0.348])
def test_short_generate(pipe, seconds):
    out = pipe.generate(seconds, sample_rate=48000, channels=2, seed=3)
    assert out.samples.shape == (2, round(seconds * 48000)) and np.isfinite(out.samples).all()


def test_short_input_with_the_default_model():
    """The shipped model's FFT (2048) and U-Net (3 levels, patch 4) are where short input used to crash."""
    from reverie.models.pipeline import ReveriePipeline

    pipe = ReveriePipeline.from_pretrained()
    audio = Audio(np.full((1, 100), 0.1, np.float32), 48000)
    assert pipe.transform(audio, strength=0.2).samples.shape == (1, 100)
    assert pipe.generate(0.3, sample_rate=48000, channels=1).samples.shape == (1, 14400)


@pytest.mark.parametrize("seconds", [1 / 44100, 0.02, 0.045])
def test_generate_shorter_than_its_finishing_streams_hold_with_the_default_model(seconds):
    """The shipped model's stereo image and air stream in blocks longer than this: under about 46 ms
    nothing came out of them before the end, and the peak limiter took that first empty block as mono."""
    from reverie.models.pipeline import ReveriePipeline

    pipe = ReveriePipeline.from_pretrained()
    out = pipe.generate(seconds, sample_rate=44100, channels=2, seed=0)
    assert out.samples.shape == (2, round(seconds * 44100)) and np.isfinite(out.samples).all()
    chunks = list(pipe.stream_generate(seconds, sample_rate=44100, channels=2, seed=0))
    assert np.array_equal(np.concatenate([c.samples for c in chunks], axis=1), out.samples)


def test_the_peak_limiter_waits_for_samples_to_know_the_channels():
    from reverie.models.audio import PeakLimiter, limit_peaks

    x = (np.random.default_rng(0).standard_normal((2, 500)) * 2).astype(np.float32)
    limiter = PeakLimiter(1.0, 44100)
    assert limiter.push(np.zeros((0, 0), np.float32)).size == 0
    out = np.concatenate([limiter.push(x), limiter.flush()], axis=-1)
    assert np.array_equal(out, limit_peaks(x, 1.0, 44100))
