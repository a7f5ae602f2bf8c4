"""How an inpaint region in seconds maps to samples: start <= t < end, never a sample before start."""

import numpy as np
import pytest

from reverie.models.audio import Audio, limit_peaks
from reverie.models.errors import ReverieError
from reverie.models.operations import check_region


@pytest.mark.parametrize(
    "start,end,rate,expected",
    [
        (1.0, 2.0, 48000, (48000, 96000)),
        (1.00001, 2.0, 48000, (48001, 96000)),  # 48000.48: the first sample at or after start
        (1.0, 1.00001, 48000, (48000, 48001)),  # holds sample 48000 (t = 1.0 s)
        (0.1, 0.3, 44100, (4410, 13230)),  # 0.1 * 44100 is 4410.000000000001 in floats
        (0.0, 0.5, 22050, (0, 11025)),
    ],
)
def test_region_maps_to_the_samples_inside_it(start, end, rate, expected):
    assert check_region(start, end, 3.0, rate) == expected


def test_region_without_a_sample_is_refused_by_name():
    with pytest.raises(ReverieError) as caught:
        check_region(1.000001, 1.00001, 3.0, 48000)  # 48000.05 to 48000.48: no sample time inside
    assert caught.value.field == "end" and "holds no sample at 48000 Hz" in caught.value.message


def test_inpaint_leaves_the_sample_before_start_alone(pipe):
    rng = np.random.default_rng(0)
    audio = Audio((0.2 * rng.standard_normal((2, 96000))).astype(np.float32), 48000)
    out = pipe.inpaint(audio, start=1.00001, end=1.5, seed=1)
    same = (out.samples == audio.samples).all(axis=0)
    assert same[:48001].all() and not same[48001:72000].all()


def test_a_fill_does_not_clip_where_its_surroundings_do_not(pipe):
    """A 0.3 sine's fill came back with peaks up to 1.6 before: clipped in any integer file."""
    t = np.arange(3 * 48000) / 48000
    audio = Audio(np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32), 48000)
    for seed in range(3):
        out = pipe.inpaint(audio, start=1.0, end=2.0, seed=seed)
        assert np.abs(out.samples).max() <= 1.0
        assert np.abs(out.samples[:, 48000:96000]).max() > 0.05  # still a fill, not silence


def test_limit_peaks_touches_only_the_peaks():
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((2, 48000))).astype(np.float32)
    x[:, 20000] = 1.7
    y = limit_peaks(x, 1.0, 48000)
    assert np.abs(y).max() <= 1.0 and y.dtype == np.float32
    far = np.r_[0:19000, 21000:48000]
    assert np.array_equal(y[:, far], x[:, far])
    assert limit_peaks(x * 0.5, 1.0, 48000) is not None and np.array_equal(limit_peaks(x * 0.5, 1.0, 48000), x * 0.5)
