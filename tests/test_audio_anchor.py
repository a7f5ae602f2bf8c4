"""drift.AudioAnchor: new audio's band balance is held to the audio before it, in the audio itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import held_out_mid

from reverie.models.drift import AIR_LIMIT_DB, AudioAnchor
from reverie.models.mel import MelConfig, MelFrontend


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    """8 s of a held-out real track's mid at 44.1 kHz."""
    return held_out_mid(1, 8.0)


def band_db(frontend, audio, frames, lo, hi):
    power = frontend.stft(torch.from_numpy(audio)).abs().square().numpy()[:, frames]
    inside = (frontend.freqs >= lo) & (frontend.freqs < hi)
    return 10 * np.log10(power[inside].mean())


def test_a_darker_louder_continuation_gets_its_air_back_and_keeps_what_is_within_the_limit(music):
    frontend = MelFrontend(MelConfig.for_rate(44100))
    # The same 4 s twice, so that both halves have the same balance before the second one is changed.
    music = np.concatenate([music[: len(music) // 2]] * 2)
    spec = frontend.stft(torch.from_numpy(music))
    frames = np.arange(spec.shape[-1])
    half = len(frames) // 2
    new, before = frames >= half, frames < half
    # The second half: its air 10 dB down, its bass 2 dB up (a change within the 4 dB a piece may move).
    freqs = torch.from_numpy(frontend.freqs)
    change = torch.where(freqs >= 8000, 10 ** (-10 / 20), torch.where(freqs < 90, 10 ** (2 / 20), 1.0))
    changed = spec * torch.where(torch.from_numpy(new), change[:, None], torch.ones(1)).to(spec.real.dtype)
    audio = frontend.istft(changed, len(music)).numpy()
    held = AudioAnchor(frontend, 4.0)(audio, before, new)
    assert held.shape == audio.shape and held.dtype == np.float32
    late = new & (frames > half + 8)  # past the fade-in
    for lo, hi in ((8000, 12000), (12000, 16000)):
        was = band_db(frontend, audio, late, lo, hi) - band_db(frontend, music, late, lo, hi)
        now = band_db(frontend, held, late, lo, hi) - band_db(frontend, music, late, lo, hi)
        assert was < -9 and -10 + (10 - AIR_LIMIT_DB) - 1.5 < now < 0.5, (lo, was, now)
    bass = band_db(frontend, held, late, 20, 90) - band_db(frontend, audio, late, 20, 90)
    assert abs(bass) < 0.3  # within its limit: left alone
    # Before the new part nothing moves (bar the two frames that overlap it).
    early = slice(0, (half - 3) * frontend.config.hop_length)
    assert np.allclose(held[early], audio[early], atol=1e-5)


def test_audio_already_within_the_limits_comes_back_bit_identical(music):
    frontend = MelFrontend(MelConfig.for_rate(44100))
    music = np.concatenate([music[: len(music) // 2]] * 2)
    frames = np.arange(frontend.frames_for(len(music)))
    half = len(frames) // 2
    before, new = frames < half - 2, frames > half + 2  # the frames over the join hear its click
    assert AudioAnchor(frontend, 4.0)(music, before, new) is music
    assert AudioAnchor(frontend, None)(music, before, new) is music


def whole_frame_bands_db(pieces: list[np.ndarray], rate: int) -> np.ndarray:
    """Mean power (dB) per band of BAND_EDGES over every channel and every whole 4096-sample frame of each
    piece: scipy's STFT, not the code under test's."""
    from scipy.signal import stft

    from reverie.models.drift import BAND_EDGES

    sums, frames = np.zeros(len(BAND_EDGES)), 0
    for piece in pieces:
        freqs, _, spec = stft(piece, rate, nperseg=4096, noverlap=3072, boundary=None, padded=False)
        power = (np.abs(spec) ** 2).sum(axis=0)  # channels together
        band = np.searchsorted(BAND_EDGES, freqs, side="right") - 1
        sums += np.bincount(band, power.sum(axis=1), minlength=len(BAND_EDGES))
        frames += piece.shape[0] * power.shape[1]
    return 10 * np.log10(sums / frames)


@pytest.fixture(scope="module")
def stereo():
    """12 s of a held-out real track, stereo at its own rate."""
    import soundfile as sf

    from reverie.models.corpus import real

    held = real.tracks("held_out")
    if not held:
        pytest.skip("no real recordings installed: run scripts/install-music (wesnoth-1.16-music, warzone2100-music)")
    path = held[1].path
    return real.read(path, sf.info(str(path)).duration / 2 - 6, 12.0)


def test_a_fill_out_of_balance_with_its_session_is_held_to_it_band_by_band(stereo):
    from reverie.models.drift import BAND_EDGES, MAX_HOLD_BOOST_DB, balance_db, hold_balance
    from reverie.models.spectrum import Spectrum

    samples, rate = stereo
    natural = samples[:, : 4 * rate]
    around = [natural, natural]  # the same music on both sides, so the fill's own balance is the session's
    spectrum = Spectrum.at(rate)
    freqs = spectrum.freqs
    # the fill: its air 9 dB down and its lowest band 0.5 dB up (within the limit)
    change = np.where(freqs >= 8000, 10 ** (-9 / 20), np.where(freqs < 90, 10 ** (0.5 / 20), 1.0))
    region = spectrum.process(natural, lambda spec, first: spec * change[None, :, None])
    reference = whole_frame_bands_db(around, rate)
    session = balance_db(around, rate)
    assert np.ptp(session - reference) < 0.2  # the same balance by another STFT (its own scale)
    assert (np.abs(whole_frame_bands_db([natural], rate) - reference) < 1.0).all()
    was = whole_frame_bands_db([region], rate) - reference
    held = hold_balance(region, session, rate, 1.0)
    now = whole_frame_bands_db([held], rate) - reference
    assert held.shape == region.shape and held.dtype == np.float32
    air = np.array(BAND_EDGES) >= 8000
    assert (was[air] < -8).all() and (np.abs(now) <= 1.0 + 0.3).all(), (was.round(1), now.round(1))
    assert abs(now[0] - was[0]) < 0.3  # within its limit: left alone
    assert hold_balance(natural, session, rate, 1.0) is natural  # within every limit: the very same array
    # a band the fill lacks altogether is not raised out of its noise floor without end
    dark = spectrum.process(natural, lambda spec, first: spec * np.where(freqs < 8000, 1.0, 0.001)[None, :, None])
    lifted = whole_frame_bands_db([hold_balance(dark, session, rate, 1.0)], rate) - whole_frame_bands_db([dark], rate)
    assert MAX_HOLD_BOOST_DB - 1.5 < lifted[air].max() <= MAX_HOLD_BOOST_DB + 0.5, lifted.round(1)


def test_an_inpainted_region_sits_in_its_sessions_balance(stereo):
    """Band by band within FILL_DB of the session around it, and no louder (the level hold may take the
    whole fill down)."""
    from reverie.models.audio import Audio
    from reverie.models.ops.session import FILL_DB
    from reverie.models.pipeline import ReveriePipeline

    samples, rate = stereo
    pipe = ReveriePipeline.from_pretrained()
    for start, end in ((5.0, 6.0), (4.0, 8.0)):
        out = pipe.inpaint(Audio(samples, rate), start, end, seed=0)
        a, b = round(start * rate), round(end * rate)
        around = [samples[:, :a], samples[:, b:]]
        deviation = whole_frame_bands_db([out.samples[:, a:b]], rate) - whole_frame_bands_db(around, rate)
        level = np.median(deviation)
        # the level hold takes the loudest moments down, and with them a little more of the bass
        assert level < 0.3 and (np.abs(deviation - level) <= FILL_DB + 1.0).all(), (start, deviation.round(2))


def shares(bands_db: np.ndarray) -> np.ndarray:
    """Each band's share of the whole (dB)."""
    return bands_db - 10 * np.log10(np.sum(10 ** (bands_db / 10)))


def test_a_blend_sits_between_its_sources_balance(stereo):
    """interpolate: each band's share of the whole within the drift a continuation has (the air within
    AIR_LIMIT_DB) of A's and B's, weighted by the ratio in dB. Two stretches of one track, B with its air cut
    12 dB. A silent source has no balance: the blend takes the other's, at the level it had unheld (a
    balance of silence, -240 dB in every band, took a blend 90% of the way to music down 22 dB)."""
    from reverie.models.audio import Audio
    from reverie.models.drift import AIR_FROM_HZ, AIR_LIMIT_DB, BAND_EDGES
    from reverie.models.pipeline import ReveriePipeline
    from reverie.models.spectrum import Spectrum

    samples, rate = stereo
    a, b = samples[:, : 6 * rate], samples[:, 6 * rate :]
    spectrum = Spectrum.at(rate)
    darker = np.where(spectrum.freqs >= AIR_FROM_HZ, 0.25, 1.0)[None, :, None]
    b = spectrum.process(b, lambda spec, first: spec * darker)
    b_heard = b.mean(axis=0, keepdims=True).repeat(2, 0)  # interpolate folds B to mono
    pipe = ReveriePipeline.from_pretrained()
    limits = np.where(np.array(BAND_EDGES) >= AIR_FROM_HZ, AIR_LIMIT_DB, pipe.config.drift_db)
    a_shares, b_shares = (shares(whole_frame_bands_db([x], rate)) for x in (a, b_heard))
    for ratio in (0.3, 0.5):
        out = pipe.interpolate(Audio(a, rate), Audio(b, rate), ratio=ratio, seed=0)
        assert out.samples.shape == a.shape
        deviation = shares(whole_frame_bands_db([out.samples], rate)) - ((1 - ratio) * a_shares + ratio * b_shares)
        assert (np.abs(deviation) <= limits + 0.5).all(), (ratio, deviation.round(2))

    rms_db = lambda x: 10 * np.log10(np.mean(x.astype(np.float64) ** 2))  # noqa: E731
    out = pipe.interpolate(Audio(np.zeros_like(a), rate), Audio(b, rate), ratio=0.9, seed=0).samples
    assert rms_db(out) > rms_db(b_heard) - 10
    assert (np.abs(shares(whole_frame_bands_db([out], rate)) - b_shares) <= limits + 0.5).all()
