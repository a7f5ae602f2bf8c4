"""Tempo, metre and key: the grid's arithmetic, what a MIDI file says of it, the bar loop, and generate
with bpm, bars and key on a model that hears them (and a clear refusal from one that does not)."""

import subprocess
import sys

import mido
import numpy as np
import pytest
import torch
from dummy_models import TINY, tiny_pipeline

from reverie.models.bar_loop import BarLoop
from reverie.models.corpus.arrange import Note, Performance
from reverie.models.corpus.midi import write_melody
from reverie.models.errors import ReverieError
from reverie.models.grid import GRID_FEATURES, KEYS, Grid, from_midi, key_index, parse_bpm, tempo_text
from reverie.models.melody import Melody
from reverie.models.melody.key import parse_key
from reverie.models.mood import parse_mood
from reverie.models.pipeline import ReveriePipeline
from reverie.models.training.warm_start import warm_start


def test_a_steady_tempo_counts_beats_and_bars():
    grid = Grid.steady(120)
    assert np.allclose(grid.beats([0.0, 0.5, 1.0, 2.0]), [0, 1, 2, 4])
    assert grid.bars_seconds(2) == pytest.approx(4.0, abs=1e-9)
    assert Grid.steady(90, beats_per_bar=3).bars_seconds(4) == pytest.approx(8.0, abs=1e-9)
    late = Grid.steady(60, downbeat=0.25)
    assert float(late.beats(0.25)) == 0.0 and float(late.beats(1.25)) == pytest.approx(1.0)


def test_a_moving_tempo_is_integrated_exactly():
    grid = Grid(((0.0, 120.0), (10.0, 60.0)))
    # the tempo falls linearly: the mean bpm over the 10 s is 90, so 15 beats
    assert float(grid.beats(10.0)) == pytest.approx(15.0)
    assert float(grid.beats(12.0)) == pytest.approx(17.0)  # held at 60 after the last point
    assert grid.seconds_of(15.0) == pytest.approx(10.0, abs=1e-6)
    assert float(grid.bpm_at(5.0)) == pytest.approx(90.0)


def test_features_mark_beats_and_stay_on_one_grid_across_windows():
    rate, grid = 100.0, Grid.steady(120, beats_per_bar=4)  # a beat every 50 frames, a bar every 200
    whole = grid.features(rate, 400)
    assert whole.shape == (GRID_FEATURES, 400) and whole.dtype == np.float32
    assert np.all(whole[0] == 1.0)
    assert list(np.flatnonzero(whole[1] == 1.0)) == [0, 50, 100, 150, 200, 250, 300, 350]
    assert list(np.flatnonzero(whole[2] == 1.0)) == [0, 200]
    np.testing.assert_allclose(grid.features(rate, 150, first_second=2.5), whole[:, 250:], atol=1e-5)
    # a pre-roll (negative time) is on the same grid, a beat before the bar line
    before = grid.features(rate, 60, first_second=-0.5)
    assert before[1, 0] == 1.0 and before[2, 0] == 0.0 and before[2, 50] == 1.0


@pytest.mark.parametrize(
    "value, points",
    [
        (96, ((0.0, 96.0),)),
        ("96", ((0.0, 96.0),)),
        ("0:84; 1200:60", ((0.0, 84.0), (1200.0, 60.0))),
        ([[0, 84], [1200, 60]], ((0.0, 84.0), (1200.0, 60.0))),
    ],
)
def test_a_tempo_is_read_from_text_numbers_and_lists(value, points):
    assert parse_bpm(value).tempo == points
    assert parse_bpm(tempo_text(value)).tempo == points


@pytest.mark.parametrize(
    "value, says",
    [
        ("fast", "'fast' that is not a number"),
        (500, "outside 30-300"),
        ("0:84; 10:x", "'10:x' that is not a number"),
        ([[0, 84], [0, 60]], "times must rise"),
        ([[0, "84"]], "not a list of [seconds, bpm] pairs"),
        (True, "is not a tempo"),
        ("96; 10:60", "entry '96' has no time"),
        ("-5:84; 10:60", "is at -5 s; times are seconds from 0"),
        ([[-5, 84], [10, 60]], "at -5 s; times are seconds from 0"),
        ("0", "bpm '0' is outside 30-300; a tempo is"),
        ("0:84;; 10:60", "has an empty entry between two ';'"),
    ],
)
def test_a_bad_tempo_says_what_is_wrong_and_what_is_allowed(value, says):
    with pytest.raises(ReverieError) as err:
        parse_bpm(value)
    assert err.value.field == "bpm"
    assert says in err.value.message and "seconds:bpm" in err.value.message, err.value.message


def test_a_bar_of_too_many_beats_is_refused_naming_beats_per_bar_not_bpm():
    for beats in (17, 0):
        with pytest.raises(ReverieError, match=f"beats_per_bar must be between 1 and 16, got {beats}") as err:
            parse_bpm("120", beats_per_bar=beats)
        assert err.value.field == "beats_per_bar"


def test_a_trailing_separator_is_one_rule_for_tempo_and_mood():
    assert parse_bpm("0:84; 60:90;").tempo == parse_bpm("0:84; 60:90").tempo
    assert parse_mood("0:tense; 10:calm;") == parse_mood("0:tense; 10:calm")


def test_the_corpus_midi_file_states_the_clip_grid_and_key(tmp_path):
    notes = (Note(0.0, 0.5, 69, 90, 0), Note(0.5, 1.0, 72, 90, 0))
    performance = Performance(notes, 750_000, 0, "minor", (0, 0, 32), bar=3.0, tonic=9)
    write_melody(performance, 4.0, tmp_path / "clip.mid")
    grid, key = from_midi(tmp_path / "clip.mid")
    assert grid.steady_bpm == pytest.approx(80.0) and grid.beats_per_bar == 3.0
    assert key == parse_key("A minor") and key_index(key) == 9 + 12
    assert key_index(None) == KEYS


def test_a_stretch_of_real_music_states_its_labels_alone_with_its_bars_where_they_fall(tmp_path):
    from reverie.models.corpus.midi import write_labels
    from reverie.models.melody.midi import has_notes

    heard = Grid.steady(97.0, 3.0, downbeat=-0.9)  # cut mid-bar: the bar line after 0 s is at 0.9557 s
    write_labels(heard, parse_key("Eb minor"), tmp_path / "real.mid")
    grid, key = from_midi(tmp_path / "real.mid")
    assert grid.steady_bpm == pytest.approx(97.0, rel=1e-5) and grid.beats_per_bar == 3.0
    assert grid.downbeat == pytest.approx(-0.9 + 3 * 60 / 97, abs=0.002)
    assert grid.beats(np.array([0.5, 4.0])) == pytest.approx(heard.beats(np.array([0.5, 4.0])) - 3.0, abs=0.005)
    assert key == parse_key("Eb minor") and not has_notes(tmp_path / "real.mid")
    write_labels(None, parse_key("G"), tmp_path / "key.mid")
    assert from_midi(tmp_path / "key.mid") == (None, parse_key("G major"))
    write_labels(Grid.steady(120.0), None, tmp_path / "tempo.mid")
    grid, key = from_midi(tmp_path / "tempo.mid")
    assert (grid.steady_bpm, grid.downbeat, key) == (pytest.approx(120.0), 0.0, None)


def test_a_midi_file_without_a_time_signature_says_nothing_of_the_grid(tmp_path):
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=80, time=0)])
    track.append(mido.Message("note_off", note=60, time=480))
    midi = mido.MidiFile()
    midi.tracks.append(track)
    midi.save(str(tmp_path / "plain.mid"))
    assert from_midi(tmp_path / "plain.mid") == (None, None)


def bar_loop(signal: np.ndarray, lead: int, fade: int, frames: int, chunk: int) -> np.ndarray:
    loop = BarLoop(lead, fade, frames)
    pieces = [loop.push(signal[:, i : i + chunk]) for i in range(0, signal.shape[1], chunk)]
    return np.concatenate([*pieces, loop.flush()], axis=1)


def test_a_bar_loop_drops_the_pre_roll_and_fades_its_end_into_the_lead_in():
    lead, fade, frames = 100, 40, 1000
    signal = np.random.default_rng(0).standard_normal((2, lead + frames)).astype(np.float32)
    out = bar_loop(signal, lead, fade, frames, chunk=10_000)
    assert out.shape == (2, frames)
    np.testing.assert_array_equal(out[:, : frames - fade], signal[:, lead : lead + frames - fade])
    # the end starts as the music made there and arrives at the lead-in, so bar 1 follows it seamlessly
    tail, lead_in = signal[:, -fade:], signal[:, lead - fade : lead]
    assert np.abs(out[:, -fade] - tail[:, 0]).max() < 0.01
    assert np.abs(out[:, -1] - lead_in[:, -1]).max() < 0.01 * np.abs(lead_in).max() + 1e-3
    for chunk in (1, 7, 39, 101, 333):
        np.testing.assert_array_equal(bar_loop(signal, lead, fade, frames, chunk), out)


def test_a_bar_loop_refuses_a_fade_longer_than_its_lead():
    with pytest.raises(ValueError, match="fade"):
        BarLoop(10, 20, 100)


@pytest.fixture(scope="module")
def grid_pipe():
    return tiny_pipeline(seed=1, grid=True)


def test_bars_at_a_bpm_set_the_length_exactly(grid_pipe):
    for bars, bpm, beats, seconds in ((2, "120", None, 4.0), (3, "90", 3, 6.0), (1, "100", None, 2.4)):
        out = grid_pipe.generate(bars=bars, bpm=bpm, beats_per_bar=beats, key="A minor", seed=0)
        assert out.samples.shape == (2, round(seconds * out.sample_rate)), (bars, bpm)
        assert np.isfinite(out.samples).all() and np.abs(out.samples).max() <= 1.0


def test_tempo_and_key_steer_a_model_that_hears_them(grid_pipe):
    base = grid_pipe.generate(4.0, bpm="120", seed=0).samples
    assert not np.array_equal(base, grid_pipe.generate(4.0, bpm="80", seed=0).samples)
    assert not np.array_equal(base, grid_pipe.generate(4.0, bpm="120", key="E major", seed=0).samples)
    np.testing.assert_array_equal(base, grid_pipe.generate(4.0, bpm="120", seed=0).samples)


def test_a_streamed_bar_loop_is_the_whole_result_in_pieces(grid_pipe):
    whole = grid_pipe.generate(bars=4, bpm="150", seed=3).samples
    pieces = list(grid_pipe.stream_generate(bars=4, bpm="150", seed=3))
    assert len(pieces) > 1
    np.testing.assert_array_equal(np.concatenate([p.samples for p in pieces], axis=1), whole)


def test_grid_inputs_added_to_a_trained_model_start_silent():
    old = tiny_pipeline(seed=2)
    unet = warm_start(old.unet, old.unet.config.n_mels, old.styles, grid=True)
    new = ReveriePipeline(unet, old.config)
    assert new.unet.config.grid and not old.unet.config.grid
    before = old.generate(3.0, seed=5).samples
    np.testing.assert_array_equal(new.generate(3.0, seed=5).samples, before)
    # asked for a tempo, the denoiser runs a guided pass of another batch shape: equal to float rounding
    # (an empty melody of the caller's, so no line is composed for the key: only the zeroed inputs hear it)
    steered = new.generate(3.0, bpm="120", key="C major", melody=Melody(()), seed=5).samples
    np.testing.assert_allclose(steered, before, atol=1e-5)
    assert torch.count_nonzero(new.unet.grid_in.weight) == 0


def test_grid_inputs_are_not_dropped_by_a_warm_start():
    grid_model = tiny_pipeline(seed=1, grid=True).unet
    with pytest.raises(ReverieError, match="hears a grid"):
        warm_start(grid_model, grid_model.config.n_mels, tuple(grid_model.config.styles), grid=False)


def test_a_model_without_the_grid_refuses_tempo_and_key(pipe):
    for asked in ({"bpm": "120"}, {"key": "A minor"}):
        name = next(iter(asked))
        with pytest.raises(ReverieError) as err:
            pipe.generate(2.0, **asked)
        assert err.value.field == name
        assert f"trained without tempo and key, so {name} cannot steer it" in err.value.message


@pytest.mark.parametrize("asked", [{"bars": 2}, {"beats_per_bar": 3}])
def test_bars_and_metre_need_a_bpm(grid_pipe, asked):
    with pytest.raises(ReverieError, match="needs a bpm") as err:
        grid_pipe.generate(**({"seconds": None} if "bars" in asked else {"seconds": 2.0}), **asked)
    assert err.value.field == next(iter(asked))


def test_a_bad_key_is_refused_by_name(grid_pipe):
    with pytest.raises(ReverieError) as err:
        grid_pipe.generate(2.0, bpm="120", key="H minor")
    assert err.value.field == "key"


def test_the_command_line_makes_whole_bars(tmp_path, grid_pipe):
    grid_pipe.save_pretrained(tmp_path / "model")
    out = tmp_path / "bars.wav"
    run = subprocess.run(
        [sys.executable, "-c", "from reverie.cli.main import cli; cli()", "generate", "--model", tmp_path / "model"]
        + ["--bars", "2", "--bpm", "96", "--key", "D major", "-o", out, "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    import soundfile as sf

    info = sf.info(out)
    assert info.frames == round(2 * 4 * 60 / 96 * info.samplerate) and info.channels == 2
    refused = subprocess.run(
        [sys.executable, "-c", "from reverie.cli.main import cli; cli()", "generate", "--model", TINY]
        + ["--bars", "2", "--bpm", "96", "-o", tmp_path / "no.wav", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode != 0 and "cannot steer it" in refused.stderr and not (tmp_path / "no.wav").exists()


def test_the_bridge_makes_whole_bars_and_refuses_too_many(grid_pipe):
    from bridge_helpers import running_server

    from reverie.bridge.client import Client, InvalidRequest
    from reverie.bridge.validate import Limits

    with running_server(grid_pipe, limits=Limits(max_seconds=20)) as srv, Client(srv.endpoint, timeout=120) as c:
        result = c.generate(None, 22050, 2, bars=2, bpm="120", key="A minor", seed=4)
        direct = grid_pipe.generate(bars=2, bpm="120", key="A minor", sample_rate=22050, seed=4)
        assert result.audio.shape == (2, 4 * 22050)
        np.testing.assert_array_equal(result.audio, direct.samples)
        with pytest.raises(InvalidRequest, match="the 20 bars lasts 40.00 s; this server allows at most 20") as err:
            c.generate(None, 22050, 2, bars=20, bpm="120")
        assert err.value.field == "bars"
        assert c.generate(1.0, 22050, 1, bpm="100", seed=1).audio.shape == (1, 22050)  # still serving


def test_a_preset_stem_of_whole_bars_on_a_moving_tempo_renders(tmp_path, grid_pipe):
    import soundfile as sf
    from click.testing import CliRunner
    from render_presets import preset_text, write

    from reverie.cli.render import main
    from reverie.render import preset as P

    stem = {"name": "bed", "op": "generate", "bpm": [[0, 120], [4, 100]], "bars": 2, "key": "C major"}
    path = write(tmp_path, preset_text({"name": "grid", "seconds": 6.0, "sample_rate": 22050, "format": "wav"}, stem))
    assert P.load_preset(path).stems[0].values["bpm"] == "0:120; 4:100"
    grid_pipe.save_pretrained(tmp_path / "model")
    result = CliRunner().invoke(
        main, [str(path), "-o", str(tmp_path / "out"), "--model", str(tmp_path / "model"), "-q"]
    )
    assert result.exit_code == 0, result.output
    audio, rate = sf.read(tmp_path / "out" / "grid" / "bed.wav")
    made = parse_bpm("0:120; 4:100").bars_seconds(2)  # 8 beats: 22/3 in the 4 s slowing to 100, then 0.4 s
    assert made == pytest.approx(4.4) and audio.shape == (round(6.0 * rate), 2)
    assert np.abs(audio[round(made * rate) + 64 :]).max() == 0.0 < np.abs(audio[: round(made * rate)]).max()


def test_a_looped_stem_of_whole_bars_repeats_on_the_bar(tmp_path, grid_pipe):
    import soundfile as sf
    from click.testing import CliRunner
    from render_presets import preset_text, write

    from reverie.cli.render import main

    stem = {"name": "loop", "op": "generate", "bpm": 120, "bars": 1, "loop": True, "length": 7.0}
    path = write(tmp_path, preset_text({"name": "grid", "seconds": 8.0, "sample_rate": 22050, "format": "wav"}, stem))
    grid_pipe.save_pretrained(tmp_path / "model")
    model = ["--model", str(tmp_path / "model"), "-q"]
    result = CliRunner().invoke(main, [str(path), "-o", str(tmp_path / "out"), *model])
    assert result.exit_code == 0, result.output
    audio, rate = sf.read(tmp_path / "out" / "grid" / "loop.wav", dtype="float32")
    period = round(2.0 * rate)  # one bar of 4 beats at 120 bpm, repeated with no crossfade
    assert audio.shape == (8 * rate, 2)
    np.testing.assert_allclose(audio[period + 2048 : 2 * period], audio[2048:period], atol=2e-3)
    assert np.abs(audio[2 * period : 3 * period] - audio[period : 2 * period]).max() < 2e-3
    assert np.abs(audio[7 * rate + 64 :]).max() == 0.0  # the loop stops at its length
    # a crossfade with whole bars is refused, by name
    stem["crossfade"] = 0.5
    path = write(tmp_path, preset_text({"name": "grid2", "seconds": 8.0, "sample_rate": 22050, "format": "wav"}, stem))
    result = CliRunner().invoke(main, [str(path), "-o", str(tmp_path / "out"), *model, "--dry-run"])
    assert result.exit_code != 0 and "stems[0].crossfade = 0.5" in result.output and "loops on the bar" in result.output


def test_a_tempo_may_be_a_number_in_python_and_on_the_wire(grid_pipe):
    from bridge_helpers import running_server

    from reverie.bridge.client import Client, InvalidRequest

    as_text = grid_pipe.generate(bars=1, bpm="96", seed=0).samples
    np.testing.assert_array_equal(grid_pipe.generate(bars=1, bpm=96, seed=0).samples, as_text)
    np.testing.assert_array_equal(grid_pipe.generate(bars=1, bpm=[[0, 96]], seed=0).samples, as_text)
    with pytest.raises(ReverieError, match="outside 30-300") as err:
        grid_pipe.generate(bars=1, bpm=400)
    assert err.value.field == "bpm"
    with running_server(grid_pipe) as srv, Client(srv.endpoint, timeout=120) as c:
        result = c.generate(None, 22050, 1, bars=1, bpm=120, seed=1)
        assert result.audio.shape == (1, 2 * 22050)  # one bar of 4 beats at 120 bpm
        # a key over the wire: the same line composed in it, the same bytes as here
        here = grid_pipe.generate(bars=2, bpm=120, key="F# minor", seed=1, sample_rate=22050, channels=1).samples
        there = c.generate(None, 22050, 1, bars=2, bpm=120, key="F# minor", seed=1).audio
        np.testing.assert_array_equal(there, here)
        assert not np.array_equal(there, c.generate(None, 22050, 1, bars=2, bpm=120, seed=1).audio)
        with pytest.raises(InvalidRequest, match="bpm must be a number or a string") as err:
            c.generate(None, 22050, 1, bars=1, bpm=True)
        assert err.value.field == "bpm"


def test_the_embedded_model_keeps_the_asked_tempo_and_one_without_a_grid_says_so():
    import librosa

    from reverie.models.pipeline import load_pipeline

    default = load_pipeline(None)
    assert default.unet.config.grid
    rate, found = 22050, {}
    for bpm in (80, 140):
        out = default.generate(bars=4, bpm=bpm, style="happy", seed=0, sample_rate=rate, channels=1)
        assert out.samples.shape == (1, round(4 * 4 * 60 / bpm * rate))
        onsets = librosa.onset.onset_strength(y=out.samples[0], sr=rate)
        found[bpm] = float(librosa.feature.tempo(onset_envelope=onsets, sr=rate)[0])
    assert abs(found[80] / 80 - 1) < 0.04 and abs(found[140] / 140 - 1) < 0.04, found
    with pytest.raises(ReverieError, match="trained without tempo and key, so bpm cannot steer it") as err:
        tiny_pipeline().generate(bars=1, bpm=96)
    assert err.value.field == "bpm" and "reverie train --grid" in str(err.value)
