"""Fidelity: results keep the caller's stereo image and full band (spectrum.py, detail.py, touch.py).

Real produced stereo music from Debian packages (scripts/install-music) is the material: the held-out
tracks of models/corpus/real.py, never measured for the shipped prior.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tone

from bench.listening import hf_share_db, side_to_mid_db
from reverie.models.audio import Audio, PeakLimiter, limit_peaks, resample
from reverie.models.corpus import real
from reverie.models.detail import CROSSOVER_HZ, measure
from reverie.models.spectrum import Spectrum


@pytest.fixture(scope="module")
def default_pipe():
    from reverie.models.pipeline import ReveriePipeline

    return ReveriePipeline.from_pretrained()


@pytest.fixture(scope="module")
def recording() -> Audio:
    """8 s from the middle of the first held-out track: stereo, 44.1 kHz, full band."""
    held = real.tracks("held_out")
    if not held:
        pytest.skip("no real recordings installed: run scripts/install-music (wesnoth-1.16-music, warzone2100-music)")
    import soundfile as sf

    path = held[0].path
    samples, rate = real.read(path, sf.info(str(path)).duration / 2 - 4, 8.0)
    audio = Audio(samples, rate)
    assert audio.channels == 2 and rate == 44100 and hf_share_db(samples, rate) > -60
    return audio


def below(samples: np.ndarray, sample_rate: int, hz: float) -> np.ndarray:
    spec = np.fft.rfft(samples.astype(np.float64), axis=-1)
    spec[..., np.fft.rfftfreq(samples.shape[-1], 1 / sample_rate) >= hz] = 0
    return np.fft.irfft(spec, n=samples.shape[-1], axis=-1)


def test_the_air_of_a_cut_stretch_is_its_own_not_the_cuts():
    """A dark drone (three low partials and a hiss 70 dB under them): a stretch cut from it, or its
    surroundings in two pieces, read the drone's own share above 11.5 kHz; a cut's step, which leaks over
    the whole band, does not count."""
    rate = 44100
    t = np.arange(12 * rate) / rate
    drone = sum(0.2 * np.sin(2 * np.pi * f * t + p) for f, p in ((110, 0), (165, 1), (220, 2)))
    hiss = 2e-4 * np.random.default_rng(1).standard_normal((2, len(t)))
    bed = (drone[None] + hiss).astype(np.float32)
    whole = hf_share_db(bed, rate)
    a, b = 5 * rate + 123, 6 * rate + 4567
    assert hf_share_db(bed[:, a:b], rate) == pytest.approx(whole, abs=0.5)
    assert hf_share_db([bed[:, :a], bed[:, b:]], rate) == pytest.approx(whole, abs=0.5)
    joined = np.concatenate([bed[:, :a], bed[:, b:]], axis=1)  # one piece with a step where they meet
    assert hf_share_db(joined, rate) > whole + 3
    assert hf_share_db(np.zeros((2, rate), np.float32), rate) == -120.0


def test_the_spectral_stream_gives_the_input_back_and_ignores_chunking():
    x = np.random.default_rng(0).standard_normal((2, 30011)).astype(np.float32)
    spectrum = Spectrum.at(44100)
    whole = spectrum.process(x, lambda spec, first: spec)
    assert whole.shape == x.shape and np.array_equal(whole, x)
    stream = spectrum.stream(lambda spec, first: spec * 0.5)
    parts = [stream.push(x[:, i : i + 777]) for i in range(0, x.shape[1], 777)] + [stream.flush()]
    chunked = np.concatenate([p for p in parts if p.shape[-1]], axis=-1)
    assert np.array_equal(chunked, spectrum.process(x, lambda spec, first: spec * 0.5))
    for n in (1, 7, 3000):  # shorter than one frame
        assert np.array_equal(spectrum.process(x[:, :n], lambda spec, first: spec), x[:, :n])


def test_the_peak_limiter_streams_the_same_samples_and_holds_the_ceiling():
    x = (np.random.default_rng(1).standard_normal((2, 20000)) * 0.6).astype(np.float32)
    whole = limit_peaks(x, 1.0, 48000)
    limiter = PeakLimiter(1.0, 48000)
    parts = [limiter.push(x[:, i : i + 333]) for i in range(0, x.shape[1], 333)] + [limiter.flush()]
    assert np.array_equal(np.concatenate(parts, axis=-1), whole)
    assert np.abs(whole).max() <= 1.0 and np.abs(x).max() > 1.5


def test_finishing_a_band_limited_mid_restores_the_recordings_image_and_air(recording):
    rate = recording.sample_rate
    mid = resample(resample(recording.samples.mean(0)[None], rate, 22050), 22050, rate)[0]
    detail = measure(recording.samples, rate).detail()
    finished = detail.finish(mid, rate, 22050)
    assert finished.shape == recording.samples.shape
    assert side_to_mid_db(finished, rate) == pytest.approx(side_to_mid_db(recording.samples, rate), abs=1.5)
    assert hf_share_db(finished, rate) == pytest.approx(hf_share_db(recording.samples, rate), abs=2.0)
    assert hf_share_db(np.stack([mid, mid]), rate) < hf_share_db(recording.samples, rate) - 8  # what was lost
    # The pair's mean is the mid again below the crossover: the side cancels.
    error = below(finished.mean(0) - mid, rate, CROSSOVER_HZ * 0.95)
    assert np.sqrt(np.mean(error**2)) < 1e-3 * np.sqrt(np.mean(mid**2))


def test_a_light_touch_keeps_the_recording(default_pipe, recording):
    from visqol.api import VisqolApi

    rate = recording.sample_rate
    out = default_pipe.transform(recording, strength=0.05, style="calm", seed=0)
    assert out.samples.shape == recording.samples.shape and out.sample_rate == rate
    assert not np.allclose(out.samples, recording.samples, atol=1e-4)  # it did change
    assert side_to_mid_db(out.samples, rate) == pytest.approx(side_to_mid_db(recording.samples, rate), abs=1.0)
    assert hf_share_db(out.samples, rate) == pytest.approx(hf_share_db(recording.samples, rate), abs=2.0)
    api = VisqolApi()
    api.create(mode="audio")
    ref, deg = (resample(a, rate, 48000).astype(np.float64) for a in (recording.samples, out.samples))
    scores = [api.measure_from_arrays(r, d, 48000).moslqo for r, d in zip(ref, deg)]
    assert min(scores) >= 4.0, scores


def test_strength_bounds_how_far_any_band_moves(pipe):
    """3 dB per 0.05 of strength, whatever the (here random) model asks for."""
    audio = tone(3.0, 44100)
    out = pipe.transform(audio, strength=0.05, seed=3)
    spectrum = Spectrum.at(44100)
    before, after = (np.abs(spectrum.analyse(a)) for a in (audio.samples, out.samples))
    # The partials' peaks, away from the clip's ends: a skirt next to a peak also hears its neighbour's gain.
    before, after = before[..., 3:-3], after[..., 3:-3]
    loud = before > before.max() * 0.1
    change = 20 * np.log10(after[loud] / before[loud])
    assert np.abs(change).max() < 3.5 and np.abs(change).max() > 0.5


def test_new_audio_takes_the_image_of_the_session_around_it(default_pipe, recording):
    rate = recording.sample_rate
    own = side_to_mid_db(recording.samples, rate)
    filled = default_pipe.inpaint(recording, 3.0, 5.0, style="calm", seed=1)
    assert np.array_equal(filled.samples[:, : 3 * rate], recording.samples[:, : 3 * rate])
    region = filled.samples[:, round(3.05 * rate) : round(4.95 * rate)]
    assert abs(side_to_mid_db(region, rate) - own) < 4.0
    longer = default_pipe.continue_(recording, 4.0, style="calm", seed=1)
    assert np.array_equal(longer.samples[:, : recording.frames], recording.samples)
    new = longer.samples[:, recording.frames :]
    assert new.shape == (2, 4 * rate) and abs(side_to_mid_db(new, rate) - own) < 4.0
    # No channel jumps at the join: the step there is like the steps just before it.
    steps = np.abs(np.diff(longer.samples[:, recording.frames - 200 : recording.frames + 1], axis=-1))
    assert steps[:, -1].max() < 4 * steps[:, :-1].max()


def test_generate_is_stereo_from_the_models_prior_and_streams_the_same_bytes(default_pipe):
    out = default_pipe.generate(6.0, sample_rate=44100, channels=2, style="tense", seed=2)
    assert out.samples.shape == (2, 6 * 44100)
    assert side_to_mid_db(out.samples, 44100) > -25.0
    assert hf_share_db(out.samples, 44100) > -55.0
    assert np.abs(out.samples).max() <= 1.0
    chunks = list(default_pipe.stream_generate(6.0, sample_rate=44100, channels=2, style="tense", seed=2))
    assert np.array_equal(np.concatenate([c.samples for c in chunks], axis=1), out.samples)
    mono = default_pipe.generate(6.0, sample_rate=44100, channels=1, style="tense", seed=2)
    assert mono.samples.shape == (1, 6 * 44100)


def test_a_model_without_a_prior_generates_the_centred_mid(pipe):
    assert not pipe.config.detail
    out = pipe.generate(2.0, sample_rate=44100, channels=2, seed=0)
    assert np.array_equal(out.samples[0], out.samples[1])


def test_a_band_that_drifts_past_the_limit_is_brought_back_to_it_and_no_further():
    from reverie.models.drift import BandAnchor
    from reverie.models.mel import MelConfig, MelFrontend

    frontend = MelFrontend(MelConfig())
    rng = np.random.default_rng(4)
    first = torch.from_numpy(rng.standard_normal((2, 22050 * 4)).astype(np.float32) * 0.1)
    x0 = frontend.encode(first[0])[None]
    anchor = BandAnchor(frontend, 4.0)
    assert torch.equal(anchor(x0), x0)  # the first window sets the balance
    later = frontend.encode(first[1])[None]
    low = torch.from_numpy(anchor.band == 1)  # 90-250 Hz
    nudged = later.clone()
    nudged[:, low] += frontend.shift_level(torch.zeros_like(later), 2.0)[:, low]  # +2 dB: within the limit
    assert torch.equal(anchor(nudged), nudged)
    pushed = later.clone()
    pushed[:, low] += frontend.shift_level(torch.zeros_like(later), 12.0)[:, low]  # +12 dB: past it
    held = anchor(pushed)
    levels = anchor._levels(held) - anchor.reference
    assert float(levels[1]) == pytest.approx(4.0, abs=0.05)
    others = [b for b in range(len(levels)) if b != 1]
    assert torch.allclose(held[:, ~low], pushed[:, ~low]) and levels[others].abs().max() < 4.0


def test_a_strong_transform_keeps_an_image_that_moves_in_time(default_pipe, recording):
    """Hard left for 4 s, then hard right: each channel is resynthesised on its own, so the image moves
    with the music (a mid finished with one measured image would put both halves in the middle)."""
    half = recording.frames // 2
    mid = recording.samples.mean(axis=0)
    moving = np.zeros_like(recording.samples)
    moving[0, :half], moving[1, half:] = mid[:half], mid[half:]
    out = default_pipe.transform(Audio(moving, recording.sample_rate), strength=0.95, style="calm", seed=0)
    assert out.samples.shape == moving.shape
    quarter = half // 2
    power = lambda x: float(np.mean(np.square(x, dtype=np.float64)))  # noqa: E731
    first, second = out.samples[:, :quarter], out.samples[:, -quarter:]
    assert 10 * np.log10(power(first[0]) / max(power(first[1]), 1e-20)) > 15
    assert 10 * np.log10(power(second[1]) / max(power(second[0]), 1e-20)) > 15
    # It is new audio, not the input passed through: the model changed it.
    assert not np.allclose(out.samples, moving, atol=1e-3)
