"""Mood: the text form and its errors, the styles as points, a mood heard as its styles' embeddings, and a
trajectory that moves a real generate from one mood's level and balance to another's without a jump."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from reverie.models.errors import ReverieError
from reverie.models.mood import STYLE_POINTS, parse_mood

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.controls import join_steps  # noqa: E402  the bench's seam measure, so test and bench agree

STYLES = tuple(STYLE_POINTS)


def test_a_mood_is_a_style_a_point_a_mix_or_a_trajectory():
    assert parse_mood("calm").entries == ((0.0, (0, 1, 0, 0, 0)),)
    assert parse_mood("calm*3+sleep").at(0) == (0.25, 0.75, 0, 0, 0)
    assert parse_mood(" 0.2 , -0.9 ").at(0) == (1, 0, 0, 0, 0)  # sleep's own point is sleep alone
    between = parse_mood("0.35,-0.7").at(0)  # halfway from sleep to calm
    assert between[0] == pytest.approx(between[1]) and between[0] + between[1] > 0.9
    curve = parse_mood("0:tense; 300:calm; 1200:sleep")
    assert curve.moves and curve.at(-5) == curve.at(0) == (0, 0, 0, 0, 1)
    assert curve.at(150) == pytest.approx((0, 0.5, 0, 0, 0.5)) and curve.at(5000) == (1, 0, 0, 0, 0)
    assert curve.point(300) == STYLE_POINTS["calm"]
    # A preset's list is the same trajectory; a point may be a [valence, arousal] pair.
    assert parse_mood([[0, "tense"], [300, "calm"], [1200, "sleep"]]) == curve
    assert parse_mood([[0, [0.5, -0.5]]]).at(0) == (0, 1, 0, 0, 0)


@pytest.mark.parametrize(
    "mood, message",
    [
        ("clam", "unknown style 'clam' in mood 'clam'; allowed styles: sleep, calm, happy, sad, tense"),
        ("1.5,0", "mood '1.5,0' point '1.5,0' is outside the plane; valence and arousal are each -1 to 1"),
        ("calm*0", "mood 'calm*0' weight '0' of calm is not a number above 0"),
        ("10:calm; 5:sleep", "mood '10:calm; 5:sleep' entry '5:sleep' is not after the one before"),
        ("0:calm; sleep", "mood '0:calm; sleep' entry 'sleep' has no time"),
        ("", "mood '' is empty"),
        ("-5:tense; 10:calm", "mood '-5:tense; 10:calm' entry '-5:tense' is at -5 s; times are seconds from 0"),
        ("nan,0", "mood 'nan,0' point 'nan,0' is not two numbers valence,arousal"),
        ("0.1,0.2,0.3", "mood '0.1,0.2,0.3' point '0.1,0.2,0.3' is not two numbers valence,arousal"),
        ("0:calm;; 5:sleep", "mood '0:calm;; 5:sleep' has an empty entry between two ';'"),
        ([[0]], "mood [[0]] is neither text nor a list of [seconds, mood] pairs"),
    ],
)
def test_a_bad_mood_says_what_is_wrong_and_what_a_mood_is(mood, message):
    with pytest.raises(ReverieError) as caught:
        parse_mood(mood)
    assert caught.value.field == "mood" and caught.value.message.startswith(message)
    assert 'a mood is a style ("calm"), a point "valence,arousal"' in caught.value.message


def test_a_model_without_places_for_its_styles_takes_styles_and_mixes_not_points():
    assert parse_mood("drone*2+pad", ("drone", "pad")).at(0) == pytest.approx((2 / 3, 1 / 3))
    with pytest.raises(ReverieError, match=r"this model's styles \(drone, pad\) have no place in the valence"):
        parse_mood("0.1,0.2", ("drone", "pad"))


def test_one_styles_mood_is_that_style_bit_for_bit_and_a_mix_is_neither(pipe):
    calm = pipe.generate(1.5, style="calm", seed=3).samples
    assert np.array_equal(pipe.generate(1.5, mood="calm", seed=3).samples, calm)
    mix = pipe.generate(1.5, mood="calm+tense", seed=3).samples
    tense = pipe.generate(1.5, style="tense", seed=3).samples
    assert not np.array_equal(mix, calm) and not np.array_equal(mix, tense)


def test_the_model_hears_a_mix_as_the_mean_of_its_style_embeddings_at_their_length(pipe):
    import torch

    unet = pipe.unet
    torch.manual_seed(0)
    x, ctx = torch.randn(1, 32, 64), torch.zeros(1, 32, 64)
    mask, chroma = torch.zeros(1, 1, 64), torch.zeros(1, 12, 64)
    weights = torch.tensor([[0.0, 0.25, 0.0, 0.0, 0.75, 0.0]])
    with torch.no_grad():
        mixed = unet(x, torch.tensor(500), ctx, mask, chroma, weights)
        saved = unet.style_embed.weight[0].clone()
        calm, tense = unet.style_embed.weight[1], unet.style_embed.weight[4]
        mean = 0.25 * calm + 0.75 * tense
        unet.style_embed.weight[0] = mean * (0.25 * calm.norm() + 0.75 * tense.norm()) / mean.norm()
        try:
            by_hand = unet(x, torch.tensor(500), ctx, mask, chroma, torch.tensor([0]))
        finally:
            unet.style_embed.weight[0] = saved
    assert torch.allclose(mixed, by_hand, atol=1e-5)


def test_a_moving_mood_is_for_generate_and_a_mood_is_not_given_with_a_style(pipe, stereo48k):
    with pytest.raises(ReverieError, match="a mood that moves over time is for generate, made window by window"):
        pipe.transform(stereo48k, mood="0:calm; 2:sleep")
    with pytest.raises(ReverieError, match="give style or mood, not both"):
        pipe.generate(1.0, style="calm", mood="sleep")


def _air_db(mono: np.ndarray, rate: int) -> float:
    power = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1 / rate)
    return 10 * np.log10(power[freqs >= 8000].sum() / power.sum())


def _level_db(mono: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(mono**2)))


def test_a_trajectory_goes_from_one_moods_level_and_air_to_the_others_without_a_jump(monkeypatch):
    """The embedded model, tense to sleep over 60 s: the last 12 s sound like sleep, not like the tense
    start that the long-piece anchors would otherwise hold them to."""
    from reverie.models import stream
    from reverie.models.pipeline import load_pipeline

    joined, crossfade = [], stream.crossfade  # the real crossfade, watched: what it joins
    monkeypatch.setattr(stream, "crossfade", lambda old, new: joined.append((old, new)) or crossfade(old, new))
    pipe, rate, seconds = load_pipeline(None), 22050, 60.0
    moving = pipe.generate(seconds, mood="0:tense; 10:tense; 48:sleep", seed=1, sample_rate=rate, channels=1)
    # Inside a window's context both windows sound the same, so the crossfade there cannot step:
    # a seam can only be where the new frames begin (bench.controls.join_positions).
    assert len(joined) == len(pipe.prepare("generate", seconds=seconds).windows) - 1
    for old, new in joined:
        assert np.sqrt(np.mean((old - new) ** 2)) < 1e-3 * np.sqrt(np.mean(old**2))
    tense = pipe.generate(seconds, style="tense", seed=1, sample_rate=rate, channels=1).samples[0]
    sleep = pipe.generate(seconds, style="sleep", seed=1, sample_rate=rate, channels=1).samples[0]
    moving = moving.samples[0]
    head, tail = slice(0, 10 * rate), slice(-12 * rate, None)
    # Its start is tense's (the same seed and windows), its end far from it, where sleep is.
    assert np.array_equal(moving[: 5 * rate], tense[: 5 * rate])
    for measure in (_air_db, lambda m, r: _level_db(m)):
        start, end = measure(moving[head], rate), measure(moving[tail], rate)
        to_sleep, to_tense = abs(end - measure(sleep[tail], rate)), abs(end - measure(tense[tail], rate))
        assert to_sleep < to_tense / 2, (start, end, measure(sleep[tail], rate), measure(tense[tail], rate))
    # No seam where it moves: across the window joins, no level step beyond the steady pieces' own.
    steady = max(join_steps(pipe, tense, rate, seconds), join_steps(pipe, sleep, rate, seconds))
    assert join_steps(pipe, moving, rate, seconds) <= steady + 1.0
