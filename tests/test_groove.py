"""Groove: inpaint and continue start from the session's own bars, repeated at their period (models/groove.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reverie.models.audio import Audio
from reverie.models.errors import ReverieError
from reverie.models.groove import best_copy, fine_period, gap_repeat, loop_after, loop_before, on_beats, period

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.music_fit import fit, grid_offset_ms  # noqa: E402

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


def test_with_the_sessions_bar_the_period_is_whole_bars():
    mel = pulse_mel(400, 10)  # a hit every 10 frames: any multiple of 10 over 1 s repeats as well
    assert period(mel, FRAME_RATE) % 10 == 0
    assert period(mel, FRAME_RATE, bar=40.0) in (80, 120, 160)  # a bar of 40 frames: whole bars of it
    assert period(pulse_mel(400, 130), FRAME_RATE, bar=40.0) == 130  # no whole bar repeats: the music wins


def test_the_period_is_found_to_the_sample_and_put_on_the_callers_beats():
    beat = 0.5317  # 112.8 bpm: no whole number of 1024-sample frames per beat
    mono = groove_loop(12.0, beat).mean(axis=0)
    for beats in (1, 2, 4):
        true = beats * beat * RATE
        coarse = round(true / 1024) * 1024  # what the model's frames can say, up to 512 samples off
        assert abs(fine_period(mono, RATE, coarse, search=1536) - true) <= 6, beats
    assert on_beats(88200 + 700, RATE, 120.0) == 88200  # 4 beats at 120 bpm, heard 16 ms long
    assert on_beats(88200 + 5000, RATE, 120.0) == 88200 + 5000  # 6% off: not those beats, the music's own


def test_a_long_continuation_stays_on_the_sessions_beats(default_pipe):
    """30 s after 12 s of a loop at 120 bpm: its last 6 s land on the beats the loop itself would play.
    Looped at the model's frame lag they drifted 42 ms (two bars of 86.13 frames taken as 86)."""
    whole = groove_loop(42.0, 0.5)
    session = Audio(whole[:, : 12 * RATE], RATE)
    for bpm in (None, 120):
        longer = default_pipe.continue_(session, 30.0, seed=0, bpm=bpm)
        assert abs(grid_offset_ms(longer.samples[:, -6 * RATE :], whole[:, -6 * RATE :], RATE)) <= 4, bpm


def test_a_gap_is_filled_from_the_stretch_in_the_same_place_of_the_phrase():
    """Bars alternate two chords (A, B) over a click each bar; the beat repeats every bar, the phrase every
    two. A gap in an A bar is filled from an A bar: the one a bar before it is a B bar."""
    rate, bar = 8000, 8000
    t = np.arange(bar) / rate
    click = np.where(t < 0.01, 1.0, 0.0)
    chords = [0.3 * np.sin(2 * np.pi * f * t) * np.exp(-2 * t) + click for f in (220.0, 330.0)]
    samples = np.tile(np.concatenate(chords), 6)[None].astype(np.float32)  # 12 bars: A B A B ...
    first, last = 6 * bar + 2000, 6 * bar + 6000  # inside the 7th bar, an A
    offset = best_copy(samples, first, last, bar, rate)
    assert offset is not None and offset % (2 * bar) == 0, offset
    assert best_copy(samples, first, last, 7 * bar, rate) is None  # seven bars away is outside the audio
    assert best_copy(samples, 100, 11 * bar, bar, rate) is None  # a gap longer than the audio around it


def test_a_gap_is_filled_from_the_side_that_repeats():
    mel = pulse_mel(500, 50)
    unknown = torch.zeros(500, dtype=torch.bool)
    unknown[200:300] = True
    holed = mel.clone()
    holed[..., unknown] = 0
    repeat = gap_repeat(holed, unknown, FRAME_RATE)
    assert (repeat.start, repeat.end) == (200, 300) and repeat.lag in (50, 100)
    audio = np.arange(20.0)[None].repeat(2, 0)  # the gap's audio, looped from the chosen side
    laid = repeat.laid_audio(audio, 8, 12, 4, fade=0)
    assert np.array_equal(laid[:, :8], audio[:, :8]) and np.array_equal(laid[:, 12:], audio[:, 12:])
    assert laid[0, 8:12].tolist() == ([4, 5, 6, 7] if repeat.forward else [12, 13, 14, 15])
    flat = 0.05 * torch.randn(1, 16, 500, generator=torch.Generator().manual_seed(2))
    assert gap_repeat(flat, unknown, FRAME_RATE) is None  # nothing repeats: made from noise as before


def test_a_loop_of_audio_runs_into_its_next_repeat_without_a_click():
    t = np.arange(30000) / RATE
    tone = np.sin(2 * np.pi * 233.0 * t)[None].astype(np.float32)  # 7000 samples is no whole number of periods
    looped = loop_after(tone, 7000, 20000, fade=441)
    assert looped.shape == (1, 20000)
    assert np.array_equal(looped[:, :6000], tone[:, -7000:-1000])  # a loop is the last `lag` samples
    whole = np.concatenate([tone, looped], axis=1)[0]
    steps = np.abs(np.diff(whole[30000 - 10 :]))
    plain = np.abs(np.diff(np.concatenate([tone, np.tile(tone[:, -7000:], 3)[:, :20000]], axis=1)[0]))
    assert steps[10 + 7000 - 1 : 10 + 7000 + 1].max() < 1.2 * np.abs(np.diff(tone[0])).max()  # a loop joins
    assert plain[30000 + 7000 - 1] > 3 * np.abs(np.diff(tone[0])).max()  # where a plain tiling clicks
    back = loop_before(tone, 7000, 20000, fade=441)
    assert np.array_equal(back[:, -6000:], tone[:, 1000:7000])


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
        grooves[variation] = fit(longer.samples[:, session.frames :], [tail], RATE)["groove"]
    assert grooves[0.5] > 0.5 and grooves[0.5] > grooves[1.0] + 0.3, grooves
    # Not the session merely looped: the model's change is there (on real music: bench/music_fit.py).
    assert fit(longer.samples[:, session.frames :], [tail], RATE, session.samples)["loop_db"] > 1.0
    filled = default_pipe.inpaint(session, 5.0, 8.0, seed=0)
    outside = [session.samples[:, : 5 * RATE], session.samples[:, 8 * RATE :]]
    assert fit(filled.samples[:, 5 * RATE : 8 * RATE], outside, RATE)["groove"] > 0.5


def test_variation_is_checked_with_its_range(default_pipe):
    session = Audio(groove_loop(3.0, 0.6), RATE)
    for op, kwargs in (("continue", {"seconds": 1.0}), ("inpaint", {"start": 1.0, "end": 2.0})):
        with pytest.raises(ReverieError, match="variation must be between 0 and 1, got 1.5"):
            default_pipe.run(op, audio=session, variation=1.5, **kwargs)
