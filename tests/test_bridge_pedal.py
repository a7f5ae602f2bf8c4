"""reverie.bridge.pedal.Remote between real pedalboard chains, and streaming a file through them."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from bridge_helpers import running_server
from dummy_models import tiny_pipeline
from pedalboard import Gain, HighpassFilter, Pedalboard, Reverb
from pedalboard.io import AudioFile

from reverie.bridge.pedal import Remote, process_file
from reverie.models.audio import Audio
from reverie.models.errors import ReverieError


@pytest.fixture(scope="module")
def tiny_pipe():

    return tiny_pipeline()


@pytest.fixture(scope="module")
def endpoint(tiny_pipe):
    with running_server(tiny_pipe) as srv:
        yield srv.endpoint


def tone(seconds, rate, channels=2):
    t = np.arange(round(seconds * rate)) / rate
    rows = [0.3 * np.sin(2 * np.pi * (220 * (c + 1)) * t) for c in range(channels)]
    return np.stack(rows).astype(np.float32)


def test_board_remote_board_in_memory(endpoint, tiny_pipe):
    rate = 44100
    audio = tone(0.8, rate)
    board_a = Pedalboard([HighpassFilter(cutoff_frequency_hz=80)])
    board_b = Pedalboard([Gain(gain_db=-6)])
    with Remote("transform", server=endpoint, strength=0.4, seed=9) as remote:
        middle = board_a(audio, rate)
        shaped = remote(middle, rate)
        out = board_b(shaped, rate)
    assert out.shape == audio.shape and out.dtype == np.float32 and np.isfinite(out).all()
    direct = tiny_pipe.run("transform", audio=Audio(middle, rate), strength=0.4, seed=9).samples
    assert np.array_equal(shaped, direct)
    assert np.allclose(out, direct * 10 ** (-6 / 20), atol=1e-6)


def test_remote_ops_keep_mono_shape_and_inpaint_region(endpoint):
    rate = 48000
    mono = tone(0.5, rate, 1)[0]
    with Remote("inpaint", server=endpoint, start=0.1, end=0.2) as remote:
        out = remote(mono, rate)
    assert out.shape == mono.shape
    assert np.array_equal(out[:4800], mono[:4800]) and np.array_equal(out[9600:], mono[9600:])
    with Remote("generate", server=endpoint, seed=1) as remote:
        assert remote(tone(0.3, 22050, 3), 22050).shape == (3, 6615)
    with Remote("continue", server=endpoint, seconds=0.2) as remote:
        assert remote(mono, rate).shape == (mono.shape[0] + 9600,)
    other = tone(0.2, 16000, 1)
    with Remote("interpolate", server=endpoint, other=other, other_rate=16000, ratio=0.5) as remote:
        assert remote(tone(0.4, rate), rate).shape == (2, 19200)
    with pytest.raises(ReverieError):
        Remote("interpolate", server=endpoint)
    with pytest.raises(ReverieError):
        Remote("mangle")


def test_process_file_streams_with_seamless_chunks(endpoint, tmp_path):
    rate = 22050
    audio = tone(2.3, rate)
    source = tmp_path / "in.wav"
    with AudioFile(str(source), "w", rate, num_channels=2, bit_depth=32) as f:
        f.write(audio)
    # With an identity step (strength 0 keeps the input) the chunking and crossfades must be invisible.
    with Remote("transform", server=endpoint, strength=0.0) as identity:
        frames = process_file(source, tmp_path / "same.wav", [identity], chunk_seconds=0.5, overlap_seconds=0.1)
    assert frames == audio.shape[1]
    with AudioFile(str(tmp_path / "same.wav")) as f:
        assert f.file_dtype == "float32"  # the input's sample format
        same = f.read(f.frames)
    assert same.shape == audio.shape and np.allclose(same, audio, atol=1e-6)
    # board_a -> Remote -> board_b, chunk by chunk; length and rate kept, stateful reverb carried.
    board_a = Pedalboard([HighpassFilter(cutoff_frequency_hz=60)])
    board_b = Pedalboard([Reverb(room_size=0.3)])
    seen = []
    with Remote("transform", server=endpoint, strength=0.3, seed=2) as remote:
        frames = process_file(
            source,
            tmp_path / "out.wav",
            [board_a, remote, board_b],
            chunk_seconds=0.7,
            on_chunk=lambda done, total: seen.append(round(done, 2)),
        )
    assert frames == audio.shape[1] and seen[-1] == pytest.approx(2.3, abs=0.01) and len(seen) == 4
    with AudioFile(str(tmp_path / "out.wav")) as f:
        assert f.samplerate == rate and f.num_channels == 2 and f.frames == audio.shape[1]
        assert f.file_dtype == "float32"
        assert np.isfinite(f.read(f.frames)).all()
    # 24-bit in, 24-bit out.
    sf.write(str(tmp_path / "in24.wav"), audio.T, rate, subtype="PCM_24")
    with Remote("transform", server=endpoint, strength=0.0) as identity:
        process_file(tmp_path / "in24.wav", tmp_path / "out24.wav", [identity], chunk_seconds=1.0)
    assert sf.info(str(tmp_path / "out24.wav")).subtype == "PCM_24"
    # A step that changes the length cannot be streamed.
    with Remote("continue", server=endpoint, seconds=0.1) as longer, pytest.raises(ReverieError) as caught:
        process_file(source, tmp_path / "bad.wav", [longer], chunk_seconds=1.0)
    assert "keep" in caught.value.message
