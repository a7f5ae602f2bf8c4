"""bench/stereo_image.py: an image measured per frame follows a source that moves; one for the whole clip does not."""

import numpy as np
import pytest

from bench.stereo_image import finish_moving, image_errors, image_over_time, moments
from reverie.models.detail import measure
from reverie.models.spectrum import Spectrum

RATE = 44100


@pytest.fixture(scope="module")
def moving():
    """6 s of a noise source hard left (10 dB over the right) for 3 s, then hard right, over a quiet centre."""
    rng = np.random.default_rng(0)
    source, centre = rng.standard_normal((2, 6 * RATE)) * np.array([[0.2], [0.02]])
    half = 3 * RATE
    loud, soft = source, 10 ** (-10 / 20) * source
    left = np.concatenate([loud[:half], soft[half:]]) + centre
    right = np.concatenate([soft[:half], loud[half:]]) + centre
    return np.stack([left, right]).astype(np.float32)


def test_the_recording_against_itself_is_no_error(moving):
    errors = image_errors(moving, moving, RATE)
    assert errors == {"width_db": 0.0, "balance_db": 0.0}


def test_an_image_per_quarter_second_follows_the_source_and_a_static_one_puts_it_in_the_middle(moving):
    mid = moving.mean(axis=0)
    spectrum = Spectrum.at(RATE)
    static = measure(moving, RATE).detail().finish(mid, RATE, RATE)
    pan, spread = image_over_time(*moments(spectrum.analyse(moving), spectrum), round(0.25 * RATE / spectrum.hop))
    follows = finish_moving(mid, RATE, pan, spread)
    assert follows.shape == moving.shape and static.shape == moving.shape
    # Left then right: the channels' level difference has its sign in each half, 10 dB either way.
    for half, sign in ((slice(RATE // 2, 5 * RATE // 2), 1), (slice(7 * RATE // 2, 11 * RATE // 2), -1)):
        db = 10 * np.log10((follows[0, half] ** 2).mean() / (follows[1, half] ** 2).mean())
        assert 8.5 < sign * db < 11.5, db
        db = 10 * np.log10((static[0, half] ** 2).mean() / (static[1, half] ** 2).mean())
        assert abs(db) < 2.0, db
    moving_errors, static_errors = image_errors(follows, moving, RATE), image_errors(static, moving, RATE)
    assert moving_errors["balance_db"] < 2.0 < 6.0 < static_errors["balance_db"], (moving_errors, static_errors)
    assert moving_errors["width_db"] < static_errors["width_db"]
