"""A line in a key: the melody a generate asked for a key follows, and what the embedded model makes of it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from reverie.models.grid import Grid
from reverie.models.melody.compose import melody_in_key
from reverie.models.melody.key import Key, estimate_key, parse_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.controls import key_name, key_of  # noqa: E402  the bench's own listener, sharing no code with compose


@pytest.mark.parametrize("minor", [False, True])
def test_every_key_is_the_key_its_line_states_and_it_ends_at_home(minor):
    for tonic in range(12):
        key = Key(tonic, minor)
        for style in ("sleep", "happy", "tense"):
            line = melody_in_key(key, 16.0, seed=tonic, grid=Grid.steady(96), style_at=lambda _, s=style: s)
            pitches = np.array([n.pitch for n in line.notes])
            weights = np.array([n.duration for n in line.notes])
            assert estimate_key(pitches, weights) == key, (str(key), style)
            assert set(pitches % 12) <= key.scale
            assert line.notes[-1].pitch % 12 == tonic
            assert line.seconds >= 16.0 * 0.9


def test_its_notes_start_on_the_grid_even_when_the_tempo_moves_and_in_the_bars_metre():
    for grid in (Grid.steady(120, beats_per_bar=3), Grid(((0.0, 120.0), (20.0, 70.0)))):
        line = melody_in_key(parse_key("D minor"), 20.0, seed=4, grid=grid, style_at=lambda _: "happy")
        beats = grid.beats(np.array([n.start for n in line.notes]))
        assert np.abs(beats * 2 - np.round(beats * 2)).max() < 1e-3  # on beats and half beats
        bars = beats / grid.beats_per_bar
        opened = sorted({round(b) for b in bars if abs(b - round(b)) < 1e-3})
        assert opened == list(range(int(np.ceil(grid.beats(20.0) / grid.beats_per_bar))))  # every bar opens on a note
        gaps = [b.start - a.end for a, b in zip(line.notes, line.notes[1:])]
        assert min(gaps) >= 0 and max(gaps) < 0.1  # legato: a breath between notes, never a rest


def test_the_same_seed_gives_the_same_line_and_another_seed_another():
    key, grid = parse_key("Bb"), Grid.steady(80)
    one = melody_in_key(key, 12.0, 1, grid)
    assert one == melody_in_key(key, 12.0, 1, grid)
    assert one != melody_in_key(key, 12.0, 2, grid)


def test_the_embedded_model_plays_the_asked_key_as_an_independent_listener_hears_it():
    from reverie.models.pipeline import load_pipeline

    pipe, rate = load_pipeline(None), 22050
    for key, style in (("A major", "calm"), ("Eb major", "happy"), ("C minor", "tense")):
        out = pipe.generate(bars=4, bpm=100, key=key, style=style, seed=0, sample_rate=rate, channels=1)
        found = key_name(*key_of(out.samples[0], rate))
        assert found == str(parse_key(key)), (key, found)
    # A melody of the user's is moved to the asked key (it was followed as given, in its own key, with the
    # key silently overruled), its rhythm kept.
    line = melody_in_key(parse_key("E minor"), 9.6, 3, Grid.steady(100))
    given = pipe.generate(bars=4, bpm=100, key="A major", melody=line, seed=0, sample_rate=rate, channels=1)
    assert key_name(*key_of(given.samples[0], rate)) == "A major"
    assert (
        line.in_key(parse_key("A major")).chroma(10, 96).any(axis=0).tolist()
        == line.chroma(10, 96).any(axis=0).tolist()
    )


def test_the_users_midi_melody_is_heard_in_the_asked_key(tmp_path):
    """The issue's case: `--midi lullaby.mid --key "Bb minor"` was heard in D major, like no key at all."""
    from reverie.models.melody import Melody
    from reverie.models.pipeline import load_pipeline

    lullaby = Melody.from_midi(Path(__file__).resolve().parents[1] / "presets" / "assets" / "lullaby.mid")
    moved = lullaby.in_key(parse_key("Bb minor"))
    pitches = np.array([n.pitch for n in moved.notes])
    assert estimate_key(pitches, np.array([n.duration for n in moved.notes])) == parse_key("Bb minor")
    assert [n.start for n in moved.notes] == [n.start for n in lullaby.notes]
    assert np.abs(pitches - [n.pitch for n in lullaby.notes]).max() <= 7  # at most 6 down, a semitone for mode
    rate = 22050
    out = load_pipeline(None).generate(
        lullaby.length, key="Bb minor", bpm=96, melody=lullaby, style="calm", seed=0, sample_rate=rate
    )
    assert key_name(*key_of(out.samples.mean(axis=0), rate)) == "Bb minor"


def test_write_midi_writes_the_composed_line_and_says_when_there_is_none(tmp_path):
    import subprocess

    from reverie.models.melody import Melody

    def reverie(*args):
        command = [sys.executable, "-c", "from reverie.cli.main import cli; cli()", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    out, line = tmp_path / "bed.wav", tmp_path / "line.mid"
    asked = ("generate", "-o", out, "--key", "D minor", "--bpm", "90", "--bars", "2", "--steps", "2", "-q")
    done = reverie(*asked, "--write-midi", line)
    assert done.returncode == 0, done.stderr
    written = Melody.from_midi(line)
    composed = melody_in_key(parse_key("D minor"), 2 * 4 * 60 / 90, 0, Grid.steady(90), loop=True)
    assert [n.pitch for n in written.notes] == [n.pitch for n in composed.notes]
    np.testing.assert_allclose([n.start for n in written.notes], [n.start for n in composed.notes], atol=1e-3)
    import mido  # on the session's grid: 90 bpm in 4/4, every note on a half beat of the file's own clock

    meta = {m.type: m for m in mido.MidiFile(line).tracks[0] if m.is_meta}
    assert round(mido.tempo2bpm(meta["set_tempo"].tempo), 3) == 90 and meta["time_signature"].numerator == 4
    ticks = np.cumsum([m.time for m in mido.MidiFile(line).tracks[0]])
    ons = [t for t, m in zip(ticks, mido.MidiFile(line).tracks[0]) if m.type == "note_on"]
    assert all(t % (mido.MidiFile(line).ticks_per_beat // 2) == 0 for t in ons)
    refused = reverie("generate", "-o", out, "--bpm", "90", "--bars", "2", "--steps", "2", "-q", "--write-midi", line)
    assert refused.returncode != 0
    assert "--write-midi needs --hum (the take's notes) or, for generate, --key" in refused.stderr


def test_a_looped_line_holds_its_first_note_across_the_loop_point_and_its_pre_roll_hears_its_end():
    grid, rate = Grid.steady(100, beats_per_bar=3), 50.0
    seconds = grid.bars_seconds(4)
    looped = melody_in_key(parse_key("G minor"), seconds, 2, grid, loop=True)
    notes = looped.notes
    assert notes[-1].pitch == notes[0].pitch and notes[-1].end == pytest.approx(seconds)  # unbroken to the end
    assert notes[-1].start == pytest.approx(grid.seconds_of(11.0))  # the last beat of the fourth bar of 3
    assert notes[-2].pitch % 12 == parse_key("G minor").tonic  # home before it
    # a bar of pre-roll hears the line's last bar, then the line itself from bar 1
    bar = grid.bars_seconds(1)
    heard = looped.chroma(rate, round((bar + seconds) * rate), offset=-bar)
    np.testing.assert_array_equal(
        heard[:, : round(bar * rate)], looped.line.chroma(rate, round(bar * rate), seconds - bar)
    )
    plain = looped.line.chroma(rate, heard.shape[1], offset=-bar)  # the line unlooped: silent before 0
    np.testing.assert_array_equal(heard[:, round(bar * rate) :], plain[:, round(bar * rate) :])
    assert not plain[:, : round(bar * rate)].any()


def test_a_line_on_a_moving_tempo_is_written_on_its_bars_and_reads_back_to_its_seconds(tmp_path):
    import mido

    from reverie.models.melody import Melody

    grid = Grid(((0.0, 120.0), (20.0, 70.0)), beats_per_bar=3)
    line = melody_in_key(parse_key("Eb"), 20.0, 5, grid, lambda _: "happy")
    line.to_midi(tmp_path / "line.mid", grid)
    midi = mido.MidiFile(tmp_path / "line.mid")
    tempos = [mido.tempo2bpm(m.tempo) for m in midi.tracks[0] if m.type == "set_tempo"]
    assert tempos[0] == pytest.approx(120, abs=1) and tempos[-1] < 80 and len(tempos) > 20  # one a beat
    assert [m for m in midi.tracks[0] if m.type == "time_signature"][0].numerator == 3
    back = Melody.from_midi(tmp_path / "line.mid")
    assert [n.pitch for n in back.notes] == [n.pitch for n in line.notes]
    # within a beat the file's tempo is constant where the grid's glides: a few ms at most
    np.testing.assert_allclose([n.start for n in back.notes], [n.start for n in line.notes], atol=0.01)
