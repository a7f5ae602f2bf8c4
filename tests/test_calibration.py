"""Calibration (calibration.py): the mel inversion gives each band its power back, on real music it was
not measured on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reverie.models.audio import Audio, to_model_rate
from reverie.models.calibration import measure_gain
from reverie.models.corpus import real
from reverie.models.mel import MelConfig, MelFrontend

BANDS = ((4000, 8000), (8000, 11500), (11500, 16000))


def middle(track, seconds: float, rate: int) -> torch.Tensor:
    import soundfile as sf

    samples, track_rate = real.read(track.path, sf.info(str(track.path)).duration / 2 - seconds / 2, seconds)
    return torch.from_numpy(to_model_rate(Audio(samples, track_rate), rate))


def band_error_db(frontend: MelFrontend, audio: torch.Tensor) -> np.ndarray:
    """The decoded audio's power against the original's, per band of BANDS (dB)."""
    decoded = frontend.decode(frontend.encode(audio), len(audio), torch.Generator().manual_seed(0))
    freqs = frontend.freqs
    power = lambda x: frontend.stft(x).abs().square().sum(dim=-1).numpy()  # noqa: E731
    before, after = power(audio), power(decoded)
    inside = [(freqs >= lo) & (freqs < hi) for lo, hi in BANDS]
    return np.array([10 * np.log10(after[band].sum() / before[band].sum()) for band in inside])


@pytest.fixture(scope="module")
def tracks():
    train, held = real.tracks("train"), real.tracks("held_out")
    if not train or not held:
        pytest.skip("no real recordings installed: run scripts/install-music (wesnoth-1.16-music, warzone2100-music)")
    return train, held


def test_calibration_measured_on_training_tracks_brightens_held_out_music_back_to_its_own_level(tracks):
    train, held = tracks
    config = MelConfig.for_rate(44100)
    plain = MelFrontend(config)
    gain = measure_gain(plain, [middle(t, 8.0, 44100) for t in train[:6]])
    assert len(gain) == config.n_mels
    calibrated = MelFrontend(MelConfig(**{**config.to_dict(), "magnitude_gain": gain}))
    test = [middle(t, 8.0, 44100) for t in held[:3]]
    before = np.mean([band_error_db(plain, a) for a in test], axis=0)
    after = np.mean([band_error_db(calibrated, a) for a in test], axis=0)
    # Uncalibrated, every band above 4 kHz comes back at least 0.7 dB darker; calibrated, within 0.7 dB.
    assert (before < -0.7).all(), before
    assert (np.abs(after) < 0.7).all(), (before, after)
    # The gain rises with the bands' width: none below 1 kHz, more above 11.5 kHz than at 4-8 kHz.
    db = 20 * np.log10(gain)
    centres = plain.centres
    assert np.abs(db[centres < 1000]).max() < 0.5
    assert db[centres > 11500].mean() > db[(centres > 4000) & (centres < 8000)].mean() > 0.5


def test_a_gain_of_one_is_the_plain_least_squares_inverse_and_gains_follow_the_bands():
    config = MelConfig.for_rate(44100)
    frontend = MelFrontend(config)
    x = frontend.encode(torch.randn(44100) * 0.1)
    assert torch.equal(frontend.magnitude(x), torch.matmul(frontend.filters_pinv, frontend.linear_mel(x)).clamp(min=0))
    doubled = MelFrontend(MelConfig(**{**config.to_dict(), "magnitude_gain": 2.0}))
    assert torch.allclose(doubled.magnitude(x), 2 * frontend.magnitude(x))
    # A step from 1 to 2 at band 100 reaches the bins around that band's centre, not the bins far below it.
    step = MelFrontend(MelConfig(**{**config.to_dict(), "magnitude_gain": [1.0] * 100 + [2.0] * (config.n_mels - 100)}))
    centre = step.centres[100]
    assert step.bin_gain[step.freqs < 0.5 * centre].max() == 1.0
    assert step.bin_gain[step.freqs > 2 * centre].min() == 2.0


def test_the_shipped_model_is_calibrated_and_a_new_calibration_is_a_new_model(tmp_path):
    from reverie.models.pipeline import ReveriePipeline

    pipe = ReveriePipeline.from_pretrained()
    gain = np.asarray(pipe.config.mel.magnitude_gain)
    assert gain.shape == (pipe.config.mel.n_mels,) and 1.1 < gain.max() < 2.0
    pipe.config.mel.magnitude_gain = 1.0
    pipe.save_pretrained(tmp_path / "plain")
    plain = ReveriePipeline.from_pretrained(tmp_path / "plain")
    assert plain.model_hash != ReveriePipeline.from_pretrained().model_hash
