"""The renderer's signal pieces: streaming loudness, true peak, the limiter, effect blocks, loops and fades."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf

from reverie.models import true_peak as T
from reverie.render import loudness as L
from reverie.render.effects import EffectChain, EffectSpec
from reverie.render.stems import apply_fades, looped, pan_gains, reblock


def reference_true_peak_db(x: np.ndarray) -> float:
    """An independent 4x true-peak reading (scipy's polyphase resampler), x as (channels, frames)."""
    return L.db(float(np.abs(scipy.signal.resample_poly(x.astype(np.float64), 4, 1, axis=1)).max()))


def music(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Band-limited test material: tones with a swelling envelope plus filtered noise, stereo."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    tones = sum(
        np.sin(2 * np.pi * f * t + p) / k
        for k, (f, p) in enumerate(zip((110, 220, 331, 440, 987), rng.uniform(0, 6, 5)), 1)
    )
    noise = scipy.signal.lfilter(*scipy.signal.butter(4, 6000 / (rate / 2)), rng.standard_normal((2, len(t))))
    env = 0.2 + 0.8 * np.sin(np.pi * t / t[-1]) ** 2
    return ((tones * 0.15 + noise * 0.05) * env).astype(np.float32)


@pytest.mark.parametrize(
    "rate,frames,block", [(44100, 44100 * 5 + 321, 9973), (48000, 48000 * 2, 48000), (22050, 22050 * 3 + 7, 65536)]
)
def test_streaming_loudness_equals_pyloudnorm(rate, frames, block):
    x = np.random.default_rng(1).standard_normal((2, frames)).astype(np.float32) * np.linspace(0.01, 0.4, frames)
    meter = L.LoudnessMeter(rate, 2)
    for i in range(0, frames, block):
        meter.push(x[:, i : i + block])
    assert meter.integrated() == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(x.T), abs=1e-4)


def test_loudness_of_silence_and_of_too_short_audio():
    meter = L.LoudnessMeter(44100, 2)
    meter.push(np.zeros((2, 44100)))
    assert meter.integrated() == -np.inf
    short = L.LoudnessMeter(44100, 2)
    short.push(np.ones((2, 100)) * 0.1)
    assert short.integrated() == -np.inf


def test_sparse_true_peak_equals_dense():
    rng = np.random.default_rng(2)
    for level in (0.01, 0.3, 1.0):
        x = rng.standard_normal((2, 4000 + 2 * T.PAD)) * level
        dense = T.interval_peaks(x)
        floor = float(np.abs(x).max()) * 0.7
        sparse = T.sparse_peaks(x, floor)
        assert np.array_equal(dense[dense > floor], sparse[dense > floor])
        assert np.array_equal(T.sparse_peaks(x, 0.0), dense)


@pytest.mark.parametrize("cutoff_hz", [16000, 20000, 21000])
def test_true_peak_reads_what_independent_resamplers_read_on_bright_audio(cutoff_hz):
    """Full-band noise, where a short interpolator reads low (the renderer's old 49-tap 4x one read -6.02 dBTP
    on noise up to 20 kHz that 8x FFT resampling reads at -5.75): within 0.03 dB of the highest reading of
    four independent resamplers."""
    rate = 44100
    rng = np.random.default_rng(0)
    sos = scipy.signal.butter(8, cutoff_hz, fs=rate, output="sos")
    x = scipy.signal.sosfilt(sos, rng.standard_normal((2, rate * 4)))
    x = x / np.abs(x).max() * 0.5
    readings = [
        *(np.abs(scipy.signal.resample_poly(x, up, 1, axis=1)).max() for up in (4, 8, 16)),
        np.abs(scipy.signal.resample(x, x.shape[1] * 8, axis=1)).max(),
    ]
    highest = L.db(float(max(readings)))
    meter = L.TruePeakMeter(2)
    for i in range(0, x.shape[1], 10000):
        meter.push(x[:, i : i + 10000])
    assert highest - 0.03 <= L.db(meter.finish()) <= highest + 0.03


def test_true_peak_meter_finds_inter_sample_peaks():
    rate = 44100
    t = np.arange(rate) / rate
    x = np.stack([np.sin(2 * np.pi * rate / 4 * t + np.pi / 4)] * 2) * 0.5  # samples at +-0.354, peaks at 0.5
    meter = L.TruePeakMeter(2)
    for i in range(0, rate, 1000):
        meter.push(x[:, i : i + 1000])
    # 0.5 between the samples, and a little more where the tone starts and stops from silence, as a
    # reconstruction filter rings there (16x polyphase resampling reads -5.905 dB).
    assert L.db(meter.finish()) == pytest.approx(-5.905, abs=0.03)
    assert L.db(float(np.abs(x).max())) < L.db(0.5) - 2.5


@pytest.mark.parametrize("mode,value", [("lufs", -10.0), ("lufs", -30.0), ("peak", -6.0)])
def test_normalise_meets_target_under_the_ceiling(tmp_path, mode, value):
    rate = 44100
    x = music(8.0, rate)
    x[:, rate * 3 : rate * 3 + 300] *= 6.0  # a transient the limiter must catch at loud targets
    raw, out = tmp_path / "raw.wav", tmp_path / "out.wav"
    sf.write(raw, x.T, rate, subtype="FLOAT")
    first = L.StreamMeasure(rate, 2)
    first.push(x)
    target = L.Target(mode, value, -1.0)
    result = L.normalise_file(raw, out, target, first, subtype="PCM_24", fmt="WAV", block=10000)
    y, _ = sf.read(out, always_2d=True)
    if mode == "lufs":
        assert pyloudnorm.Meter(rate).integrated_loudness(y) == pytest.approx(value, abs=0.5)
    else:
        assert reference_true_peak_db(y.T) == pytest.approx(value, abs=0.2)
    assert reference_true_peak_db(y.T) <= -1.0 + 0.05
    assert np.abs(y).max() < 1.0
    assert (result.limiter_db > 0) == (mode == "lufs" and value == -10.0)


def test_a_file_that_starts_loud_stays_under_a_ceiling_its_loudness_cannot_meet(tmp_path):
    """-3 LUFS under -6 dBTP cannot both hold: the ceiling wins from the very first sample (the limiter
    has nothing before it to ramp down over), and the result says by how much the loudness fell short."""
    rate = 22050
    noise = np.random.default_rng(3).standard_normal((2, rate * 4))
    x = (0.3 * scipy.signal.lfilter(*scipy.signal.butter(4, 6000 / (rate / 2)), noise)).astype(np.float32)
    x[:, :2000] += 0.9 * np.cos(2 * np.pi * 220 * np.arange(2000) / rate)  # loud from the first sample
    raw, out = tmp_path / "raw.wav", tmp_path / "out.wav"
    sf.write(raw, x.T, rate, subtype="FLOAT")
    first = L.StreamMeasure(rate, 2)
    first.push(x)
    result = L.normalise_file(raw, out, L.Target("lufs", -3.0, -6.0), first, subtype="PCM_24", fmt="WAV")
    y, _ = sf.read(out, always_2d=True)
    assert reference_true_peak_db(y.T) <= -6.0 + 0.05
    assert L.db(np.abs(y[:100]).max()) <= -6.0  # the first 5 ms too: before, they came out clipped at 0 dBFS
    assert result.measured.true_peak_dbtp <= -6.0 and result.measured.loudness_lufs < -6.0


def test_limiter_is_block_size_independent(tmp_path):
    rate = 22050
    x = music(4.0, rate) * 4
    sf.write(tmp_path / "raw.wav", x.T, rate, subtype="FLOAT")
    first = L.StreamMeasure(rate, 2)
    first.push(x)
    target = L.Target("lufs", -12.0, -1.0)
    outs = []
    for block in (4096, 30000):
        path = tmp_path / f"out{block}.wav"
        L.normalise_file(tmp_path / "raw.wav", path, target, first, subtype="FLOAT", fmt="WAV", block=block)
        outs.append(sf.read(path)[0])
    assert np.allclose(outs[0], outs[1], atol=1e-6)


def test_scaled_measurement_equals_measuring_again():
    rate = 44100
    x = music(6.0, rate, seed=3)
    x[:, :rate] *= 0.001  # a quiet start, so the absolute gate matters after a large cut
    first = L.StreamMeasure(rate, 2)
    first.push(x)
    for gain in (-45.0, -6.0, 3.0):
        again = L.StreamMeasure(rate, 2)
        again.push(x * L.undb(gain))
        want, got = again.result(), first.scaled(gain)
        assert got.loudness_lufs == pytest.approx(want.loudness_lufs, abs=1e-6)
        assert got.true_peak_dbtp == pytest.approx(want.true_peak_dbtp, abs=1e-6)


def test_streamed_spectrogram_equals_reading_the_file(tmp_path):
    from reverie.render.spectrogram import SpectrogramCollector, spectrogram_columns

    rate = 22050
    x = music(7.0, rate)
    sf.write(tmp_path / "x.wav", x.T, rate, subtype="FLOAT")
    collector = SpectrogramCollector(x.shape[1], rate, columns=300)
    for block in np.array_split(x, 13, axis=1):
        collector(block)
    streamed, times, _ = collector.result()
    read, times_read, _ = spectrogram_columns(tmp_path / "x.wav", columns=300)
    assert np.allclose(streamed, read) and np.array_equal(times, times_read)


def test_effects_in_blocks_equal_one_pass():
    rate = 44100
    x = music(3.0, rate)
    specs = [
        EffectSpec("e0", plugin="Reverb", params={"room_size": 0.9}),
        EffectSpec("e1", plugin="Delay", params={"delay_seconds": 0.3, "feedback": 0.5}),
        EffectSpec("e2", plugin="Chorus", params={}),
    ]
    whole = EffectChain(specs, rate)(x)
    chain = EffectChain(specs, rate)
    pieces = np.concatenate([chain(b) for b in reblock(iter(np.array_split(x, 7, axis=1)), 5000)], axis=1)
    assert np.array_equal(whole, pieces)


def test_loop_seam_is_continuous():
    rate = 8000
    t = np.arange(rate * 2) / rate
    clip = np.stack([np.sin(2 * np.pi * 3 * t)] * 2).astype(np.float32)  # 3 Hz, not periodic in the clip
    out = np.concatenate(list(looped(clip, 800, 3 * (2 * rate - 800) + 123)), axis=1)
    assert out.shape == (2, 3 * (2 * rate - 800) + 123)
    period = 2 * rate - 800
    assert np.array_equal(out[:, :period], clip[:, :period])
    assert np.abs(np.diff(out[0])).max() < 0.05  # no jump at any seam


def test_fades_and_pan():
    block = np.ones((2, 1000), np.float32)
    faded = apply_fades(block, 0, 1000, 100, 200)
    assert faded[0, 0] < 0.01 and faded[0, 99] > 0.99 and faded[0, 500] == 1.0 and faded[0, -1] < 0.01
    left, right = pan_gains(0.0)
    assert left == pytest.approx(1.0) and right == pytest.approx(1.0)
    left, right = pan_gains(-1.0)
    assert right == pytest.approx(0.0, abs=1e-12) and left == pytest.approx(np.sqrt(2))
