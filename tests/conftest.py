import sys
from pathlib import Path

import numpy as np
import pytest
from dummy_models import tiny_pipeline

# The benches' measures (bench/listening.py, bench/controls.py) are the tests' listener too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reverie.models.audio import Audio


@pytest.fixture(scope="session")
def pipe():

    return tiny_pipeline()


def tone(seconds: float, sample_rate: int, freqs=(220.0, 330.0), seed: int = 0) -> Audio:
    """A real multichannel test signal: one harmonic tone per channel plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    channels = [0.3 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(2 * np.pi * 2 * f * t) for f in freqs]
    samples = np.stack(channels) + 0.01 * rng.standard_normal((len(freqs), len(t)))
    return Audio(samples.astype(np.float32), sample_rate)


@pytest.fixture
def stereo48k() -> Audio:
    return tone(4.3, 48000)


def held_out_mid(track: int, seconds: float) -> np.ndarray:
    """`seconds` from the middle of held-out real track number `track`, as its mid at 44.1 kHz; skips
    the test where the music packages are not installed."""
    import soundfile as sf

    from reverie.models.audio import to_model_rate
    from reverie.models.corpus import real

    held = real.tracks("held_out")
    if not held:
        pytest.skip("no real recordings installed: run scripts/install-music (wesnoth-1.16-music, warzone2100-music)")
    path = held[track].path
    samples, rate = real.read(path, sf.info(str(path)).duration / 2 - seconds / 2, seconds)
    return to_model_rate(Audio(samples, rate), 44100)
