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
