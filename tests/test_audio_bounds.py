"""Samples far beyond full scale are refused by name, never turned into NaN or infinity."""

import numpy as np
import pytest

from reverie.models.audio import MAX_SAMPLE, Audio
from reverie.models.errors import ReverieError


@pytest.mark.parametrize("value", [3e38, -1e20, MAX_SAMPLE * 1.01])
def test_huge_finite_samples_are_refused_as_bad_audio(pipe, value):
    samples = np.zeros((2, 22050), np.float32)
    samples[1, 100] = value
    with pytest.raises(ReverieError) as caught:
        pipe.transform(Audio(samples, 22050), strength=0.3)
    assert caught.value.code == "bad_audio" and caught.value.field == "audio"
    assert f"allowed at most {MAX_SAMPLE:g} (+60 dBFS)" in caught.value.message


def test_loud_but_bounded_float_audio_gives_finite_output(pipe):
    t = np.arange(22050) / 22050
    samples = (MAX_SAMPLE * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None, :]
    out = pipe.transform(Audio(samples, 22050), strength=0.3)
    assert out.samples.shape == (1, 22050) and np.isfinite(out.samples).all()
