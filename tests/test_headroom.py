"""Headroom: new audio's loudest 50 ms stays within 1 dB of the session around it (models/headroom.py)."""

from __future__ import annotations

import numpy as np
import pytest

from reverie.models.audio import Audio
from reverie.models.headroom import HEADROOM_DB, ceiling_of, hold_under, loudest_db, stretch_levels_db

RATE = 44100


def plucks(seconds: float, every: float, level: float, seed: int = 0) -> np.ndarray:
    """Stereo plucked strings: a decaying two-partial note every `every` seconds, a little noise between."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    out = 0.002 * rng.standard_normal((2, len(t)))
    for i, start in enumerate(np.arange(0, seconds, every)):
        k = t >= start
        u = t[k] - start
        f = 196.0 * 2 ** ((i * 5 % 12) / 12)
        note = np.exp(-u * 9) * (np.sin(2 * np.pi * f * u) + 0.4 * np.sin(2 * np.pi * 2 * f * u))
        out[0, k] += level * note
        out[1, k] += 0.8 * level * note
    return out.astype(np.float32)


def test_stretch_levels_are_the_rms_of_every_50_ms_by_start_sample():
    x = np.zeros((2, RATE), dtype=np.float32)
    x[:, 10000:12205] = 0.5  # exactly one 50 ms stretch (2205 samples) of a 0.5 square
    levels = stretch_levels_db(x, RATE)
    assert len(levels) == RATE - 2205 + 1
    assert levels.argmax() == 10000
    assert levels.max() == pytest.approx(20 * np.log10(0.5), abs=1e-6)
    assert loudest_db(x[:, :100], RATE) < -100  # shorter than a stretch: one stretch, silent here


def test_hold_under_takes_back_the_excess_and_nothing_else():
    x = plucks(4.0, 0.5, 0.2)
    x[:, RATE : RATE + 3000] += 0.9  # a burst far over the plucks
    loud = loudest_db(x, RATE)
    ceiling = loudest_db(plucks(4.0, 0.5, 0.2), RATE) + HEADROOM_DB
    assert loud > ceiling + 6  # what there is to fix
    held = hold_under(x, RATE, ceiling)
    assert held.shape == x.shape and held.dtype == np.float32
    assert loudest_db(held, RATE) <= ceiling
    assert np.all(np.abs(held) <= np.abs(x) + 1e-7)  # a gain, never a boost
    # Away from the burst (more than a hold and a half either side) every sample is the input's.
    far = np.r_[0 : RATE - 4 * 2205, RATE + 3000 + 4 * 2205 : x.shape[1]]
    assert np.array_equal(held[:, far], x[:, far])
    # Under the ceiling already: the very same array back.
    assert hold_under(held, RATE, ceiling + 1.0) is held


def test_no_stretch_is_left_over_the_ceiling_whatever_the_bursts():
    """Bursts of 1 ms to 140 ms, 3-20 dB over plucks, one to five at a time: every 50 ms stretch of what
    comes back is under the ceiling (the gain aims 0.1 dB under it). A gain centred on each sample missed
    the stretches that begin a whole 50 ms before it, and let 30 such trials out up to 0.05 dB over."""
    rng = np.random.default_rng(0)
    base = plucks(3.0, 0.5, 0.2)
    ceiling = loudest_db(base, RATE) + HEADROOM_DB
    over = []
    for _ in range(30):
        x = base.copy()
        for _ in range(int(rng.integers(1, 6))):
            at, length = int(rng.integers(0, x.shape[1] - 6200)), int(rng.integers(50, 6200))
            x[:, at : at + length] *= np.float32(10 ** (rng.uniform(3, 20) / 20))
        over.append(loudest_db(hold_under(x, RATE, ceiling), RATE) - ceiling)
    assert max(over) <= -0.09


def test_the_ceiling_is_the_loudest_around_plus_headroom_and_none_without_audio():
    a, b = plucks(2.0, 0.5, 0.1), plucks(2.0, 0.5, 0.3)
    assert ceiling_of(a, b, sample_rate=RATE) == pytest.approx(loudest_db(b, RATE) + HEADROOM_DB)
    assert ceiling_of(np.zeros((2, 0), np.float32), sample_rate=RATE) is None


@pytest.fixture(scope="module")
def default_pipe():
    from reverie.models.pipeline import ReveriePipeline

    return ReveriePipeline.from_pretrained()


@pytest.mark.parametrize("level", [0.02, 0.3])
def test_a_fill_and_a_continuation_are_never_louder_than_the_session(default_pipe, level):
    """Quiet and loud sparse plucks: the model's new audio, wherever its level lands, stays within 1 dB of
    the loudest 50 ms around it."""
    session = Audio(plucks(8.0, 0.75, level, seed=3), RATE)
    filled = default_pipe.inpaint(session, 3.0, 5.0, style="calm", seed=1)
    region = filled.samples[:, 3 * RATE : 5 * RATE]
    around = np.concatenate([session.samples[:, : 3 * RATE], session.samples[:, 5 * RATE :]], axis=1)
    assert loudest_db(region, RATE) <= loudest_db(around, RATE) + HEADROOM_DB + 0.05
    longer = default_pipe.continue_(session, 6.0, style="tense", seed=1)
    new = longer.samples[:, session.frames :]
    assert new.shape == (2, 6 * RATE)
    assert loudest_db(new, RATE) <= loudest_db(session.samples[:, -6 * RATE :], RATE) + HEADROOM_DB + 0.05
    assert loudest_db(new, RATE) > loudest_db(session.samples, RATE) - 30  # held, not silenced
