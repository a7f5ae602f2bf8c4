"""Level matching: generated mels are set to the source's, the context's or the style's level before inversion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tone

from reverie.models.audio import Audio
from reverie.models.detail import CROSSOVER_HZ
from reverie.models.mel import MelConfig, MelFrontend
from reverie.models.pipeline import ReveriePipeline


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


def model_band_db(x: np.ndarray, sample_rate: int) -> float:
    """The level below the crossover: the band the level matching sets. Above it the air follows the new
    audio's own top octave (detail.py), which adds 3 dB to the tiny model's white noise."""
    spec = np.fft.rfft(x.astype(np.float64), axis=-1)
    spec[..., np.fft.rfftfreq(x.shape[-1], 1 / sample_rate) >= CROSSOVER_HZ] = 0
    return rms_db(np.fft.irfft(spec, n=x.shape[-1], axis=-1))


def with_config(pipe: ReveriePipeline, **changes) -> ReveriePipeline:
    return ReveriePipeline(pipe.unet, dataclasses.replace(pipe.config, **changes))


def test_shift_level_is_an_exact_gain_in_the_mel_and_in_the_audio():
    frontend = MelFrontend(MelConfig())
    audio = tone(2.0, 22050, freqs=(330.0,)).samples[0]
    x = frontend.encode(torch.from_numpy(audio))
    quieter = frontend.shift_level(x, -12.0)
    assert float(frontend.level_db(quieter) - frontend.level_db(x)) == pytest.approx(-12.0, abs=1e-3)
    g = torch.Generator()
    loud = frontend.decode(x, len(audio), g.manual_seed(0)).numpy()
    soft = frontend.decode(quieter, len(audio), g.manual_seed(0)).numpy()
    assert rms_db(soft) - rms_db(loud) == pytest.approx(-12.0, abs=0.1)


def test_match_level_reaches_the_target_from_above_and_below():
    frontend = MelFrontend(MelConfig())
    x = torch.randn(frontend.config.n_mels, 200, generator=torch.Generator().manual_seed(1))
    for target in (-30.0, float(frontend.level_db(x)) - 6.0):
        assert float(frontend.level_db(frontend.match_level(x, target))) == pytest.approx(target, abs=0.05)


def test_transform_output_follows_the_input_level(pipe):
    """At strength 1 the input only sets the level: 30 dB apart in, 30 dB apart out."""
    # Plucked, with music's crest factor: new audio's true peak stays within 1 dB of the input's, and the
    # tiny model's noise held under a steady tone's peaks would measure the limiter, not the level.
    steady = tone(3.0, 44100, freqs=(220.0,))
    pluck = np.exp(-12.0 * (np.arange(steady.frames) / 44100 % 0.25)).astype(np.float32)
    loud = Audio(steady.samples * pluck, 44100)
    soft = Audio(loud.samples * 10 ** (-30 / 20), 44100)
    outs = [pipe.transform(a, strength=1.0, seed=4) for a in (loud, soft)]
    # Each within 4.5 dB of its input: the tone's loudest 50 ms is its average, and the output's loudest
    # 50 ms is held 0.9 dB over it (headroom.py), so an output that swells at all sits under it on average.
    for a, out in zip((loud, soft), outs):
        assert abs(model_band_db(out.samples, 44100) - model_band_db(a.samples, 44100)) < 4.5
    plain = with_config(pipe, match_level=False)
    unmatched = [plain.transform(a, strength=1.0, seed=4) for a in (loud, soft)]
    # What matching fixes: unmatched, the loud input comes out at the model's own level, far under it
    # (the soft one cannot show it: new audio is held under the loudest 50 ms of its input, headroom.py).
    assert model_band_db(loud.samples, 44100) - model_band_db(unmatched[0].samples, 44100) > 8.0


def test_generate_starts_at_the_style_level_and_keeps_it_over_windows(pipe):
    style = pipe.styles[0]
    leveled = with_config(pipe, levels_db={"any": -30.0, style: -50.0})  # quiet: no peak to limit
    styled = leveled.generate(8.0, sample_rate=22050, channels=1, style=style, seed=2).samples[0]
    plain = leveled.generate(8.0, sample_rate=22050, channels=1, seed=2).samples[0]
    assert rms_db(plain) - rms_db(styled) == pytest.approx(20.0, abs=3.0)
    # the tiny model's window is 64 frames (0.74 s): 8 s is many windows, each at its context's level
    seconds = [rms_db(styled[i : i + 22050]) for i in range(0, len(styled) - 22050 + 1, 22050)]
    assert max(seconds) - min(seconds) < 6.0, seconds


def test_inpainted_region_has_the_level_of_its_surroundings(pipe):
    """Within 6 dB in the band the level matching sets. The tiny model's white noise comes out about 5 dB
    over this context of tones (with mid and side now both measured): the level is matched as mel power,
    and a white spectrum holds more audio power per unit of mel power than a few harmonics do."""
    quiet = Audio(tone(4.0, 44100).samples * 10 ** (-30 / 20), 44100)
    for method in ("trained", "repaint"):
        out = pipe.inpaint(quiet, 1.5, 2.5, method=method, seed=1)
        region = out.samples[:, int(1.6 * 44100) : int(2.4 * 44100)]
        assert abs(model_band_db(region, 44100) - model_band_db(quiet.samples, 44100)) < 6.0, method


def test_continuation_has_the_level_of_the_input(pipe):
    quiet = Audio(tone(3.0, 44100).samples * 10 ** (-24 / 20), 44100)
    out = pipe.continue_(quiet, 3.0, seed=5)
    new = out.samples[:, quiet.frames :]
    assert abs(model_band_db(new, 44100) - model_band_db(quiet.samples, 44100)) < 4.0
