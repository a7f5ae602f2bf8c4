"""Groove: inpaint and continue start from the session's own bars, repeated at their period (models/groove.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reverie.models.audio import Audio
from reverie.models.errors import ReverieError
from reverie.models.groove import fill_gap, period, repeat_after, repeat_before

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.music_fit import fit  # noqa: E402

RATE = 44100
FRAME_RATE = 44100 / 1024


def pulse_mel(frames: int, every: int, seed: int = 0) -> torch.Tensor:
    """A (1, 16, frames) mel of hits every `every` frames over a quiet, noisy floor."""
    g = torch.Generator().manual_seed(seed)
    mel = 0.05 * torch.randn(1, 16, frames, generator=g)
    mel[..., ::every] += 3.0
    return mel


def groove_loop(seconds: float, beat: float, seed: int = 0) -> np.ndarray:
    """Stereo: a kick on every beat, a hat between, a bass note per bar of four (two pitches in turn)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    out = np.zeros((2, len(t)))
    for i, start in enumerate(np.arange(0, seconds, beat / 2)):
        k = (t >= start) & (t < start + 0.3)
        u = t[k] - start
        if i % 2 == 0:  # kick
            out[:, k] += 0.6 * np.exp(-u * 25) * np.sin(2 * np.pi * (50 + 80 * np.exp(-u * 30)) * u)
        else:  # hat
            out[:, k] += 0.15 * np.exp(-u * 60) * rng.standard_normal(k.sum())
    for bar, start in enumerate(np.arange(0, seconds, 4 * beat)):
        k = (t >= start) & (t < start + 4 * beat)
        u = t[k] - start
        f = (110.0, 146.8)[bar % 2]
        out[:, k] += 0.12 * np.sin(2 * np.pi * f * u) * np.exp(-u * 0.8)
    return out.astype(np.float32)


def test_period_finds_the_lag_at_which_the_hits_repeat_and_none_without_one():
    # The hits' period or a whole multiple of it (a bar of beats repeats as well as a beat).
    assert period(pulse_mel(400, 60), FRAME_RATE) in (60, 120, 180)
    assert period(pulse_mel(400, 130), FRAME_RATE) == 130
    assert period(pulse_mel(400, 20), FRAME_RATE) in (60, 80, 100, 120, 140, 160, 180, 200)  # over 1 s
    assert period(0.05 * torch.randn(1, 16, 400, generator=torch.Generator().manual_seed(1)), FRAME_RATE) is None
    assert period(pulse_mel(40, 10), FRAME_RATE) is None  # shorter than two of the shortest period (1 s)


def test_repeats_continue_the_history_and_lead_into_the_future():
    history = torch.arange(10.0).reshape(1, 1, 10)
    assert repeat_after(history, 4, 6).flatten().tolist() == [6, 7, 8, 9, 6, 7]
    assert repeat_before(history, 4, 6).flatten().tolist() == [2, 3, 0, 1, 2, 3]


def test_a_gap_is_laid_out_from_the_side_that_repeats():
    mel = pulse_mel(500, 50)
    unknown = torch.zeros(500, dtype=torch.bool)
    unknown[200:300] = True
    holed = mel.clone()
    holed[..., unknown] = 0
    layout = fill_gap(holed, unknown, FRAME_RATE)
    assert torch.equal(layout[..., ~unknown], holed[..., ~unknown])
    # The hits land every 50 frames through the gap, as in the music it was cut from.
    hits = torch.nonzero(layout[0, :, unknown].mean(0) > 1.5).flatten() + 200
    assert hits.tolist() == [200, 250]
    flat = 0.05 * torch.randn(1, 16, 500, generator=torch.Generator().manual_seed(2))
    assert fill_gap(flat, unknown, FRAME_RATE) is None  # nothing repeats: made from noise as before


@pytest.fixture(scope="module")
def default_pipe():
    from reverie.models.pipeline import ReveriePipeline

    return ReveriePipeline.from_pretrained()


def test_a_continuation_and_a_fill_keep_the_sessions_groove(default_pipe):
    """On a loop at 100 bpm the new audio's pulse matches the session's; made afresh (variation 1) it did not."""
    session = Audio(groove_loop(12.0, 0.6), RATE)
    tail = session.samples[:, -6 * RATE :]
    grooves = {}
    for variation in (1.0, 0.5):
        longer = default_pipe.continue_(session, 6.0, seed=0, variation=variation)
        assert longer.samples.shape == (2, 18 * RATE)
        assert np.array_equal(longer.samples[:, : session.frames], session.samples)
        grooves[variation] = fit(longer.samples[:, session.frames :], tail, RATE)["groove"]
    assert grooves[0.5] > 0.5 and grooves[0.5] > grooves[1.0] + 0.3, grooves
    filled = default_pipe.inpaint(session, 5.0, 8.0, seed=0)
    outside = np.concatenate([session.samples[:, : 5 * RATE], session.samples[:, 8 * RATE :]], axis=1)
    assert fit(filled.samples[:, 5 * RATE : 8 * RATE], outside, RATE)["groove"] > 0.5


def test_variation_is_checked_with_its_range(default_pipe):
    session = Audio(groove_loop(3.0, 0.6), RATE)
    for op, kwargs in (("continue", {"seconds": 1.0}), ("inpaint", {"start": 1.0, "end": 2.0})):
        with pytest.raises(ReverieError, match="variation must be between 0 and 1, got 1.5"):
            default_pipe.run(op, audio=session, variation=1.5, **kwargs)
