"""Melody front ends: MIDI (tempo map, track/channel/top voice), chroma, hum transcription."""

from __future__ import annotations

import io
import subprocess
import sys

import mido
import numpy as np
import pytest

from reverie.models.audio import Audio
from reverie.models.errors import ReverieError
from reverie.models.melody import Melody, Note, audio_chroma, pitch_class_accuracy, synthesize_hum
from reverie.models.melody.key import Key, estimate_key, parse_key, snap

TPB = 480


def track(events, name=None):
    """A mido track from (absolute tick, message) pairs."""
    out = mido.MidiTrack()
    if name:
        out.append(mido.MetaMessage("track_name", name=name, time=0))
    tick = 0
    for at, msg in sorted(events, key=lambda e: e[0]):
        out.append(msg.copy(time=at - tick))
        tick = at
    out.append(mido.MetaMessage("end_of_track", time=0))
    return out


def on(note, channel=0, velocity=90):
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def off(note, channel=0, zero_velocity_on=False):
    if zero_velocity_on:
        return mido.Message("note_on", note=note, velocity=0, channel=channel)
    return mido.Message("note_off", note=note, velocity=0, channel=channel)


def midi_bytes(*tracks, type=1):
    midi = mido.MidiFile(type=type, ticks_per_beat=TPB)
    midi.tracks.extend(tracks)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def spans(melody):
    return [(round(n.start, 4), round(n.end, 4), n.pitch) for n in melody.notes]


# --- MIDI ---


def test_tempo_map_changes_mid_file_in_another_track():
    # 120 bpm, then 240 bpm from beat 2, then 60 bpm from beat 3; tempo lives in the conductor track.
    conductor = track(
        [
            (0, mido.MetaMessage("set_tempo", tempo=500_000)),
            (2 * TPB, mido.MetaMessage("set_tempo", tempo=250_000)),
            (3 * TPB, mido.MetaMessage("set_tempo", tempo=1_000_000)),
        ]
    )
    beats = [(0, 60), (1, 62), (2, 64), (3, 65)]
    notes = track([e for b, p in beats for e in ((b * TPB, on(p)), ((b + 1) * TPB, off(p)))])
    melody = Melody.from_midi(midi_bytes(conductor, notes))
    assert spans(melody) == [(0.0, 0.5, 60), (0.5, 1.0, 62), (1.0, 1.25, 64), (1.25, 2.25, 65)]
    assert melody.seconds == pytest.approx(2.25)


@pytest.fixture(scope="module")
def band(tmp_path_factory):
    """Track 0: conductor. Track 1: melody (ch 0, note-on velocity 0 as note-off, a rest).
    Track 2: bass (ch 1, long held notes). Track 3: drums (ch 9, high notes that must not win)."""
    conductor = track([(0, mido.MetaMessage("set_tempo", tempo=500_000))], "conductor")
    melody = track(
        [
            (0, on(72)),
            (TPB, off(72, zero_velocity_on=True)),
            (TPB, on(74)),
            (2 * TPB, off(74, zero_velocity_on=True)),
            # beat 2-3: rest in the melody, the bass shows through
            (3 * TPB, on(76)),
            (4 * TPB, off(76)),
        ],
        "lead",
    )
    bass = track([(0, on(48, 1)), (4 * TPB, off(48, 1)), (4 * TPB, on(43, 1)), (5 * TPB, off(43, 1))], "bass")
    drums = track([(b * TPB, on(81, 9)) for b in range(5)] + [(b * TPB + 60, off(81, 9)) for b in range(5)], "drums")
    path = tmp_path_factory.mktemp("midi") / "band.mid"
    path.write_bytes(midi_bytes(conductor, melody, bass, drums))
    return path


def test_track_and_channel_selection(band):
    lead = [(0.0, 0.5, 72), (0.5, 1.0, 74), (1.5, 2.0, 76)]
    assert spans(Melody.from_midi(band, track=1)) == lead
    assert spans(Melody.from_midi(str(band), channel=0)) == lead
    assert spans(Melody.from_midi(band, track=2)) == [(0.0, 2.0, 48), (2.0, 2.5, 43)]
    assert spans(Melody.from_midi(band, channel=1)) == [(0.0, 2.0, 48), (2.0, 2.5, 43)]
    drums = Melody.from_midi(band, channel=9)  # only when asked for explicitly
    assert {n.pitch for n in drums.notes} == {81} and len(drums) == 5


def test_top_voice_skips_drums_and_lets_held_notes_resurface(band):
    melody = Melody.from_midi(band.read_bytes())
    assert spans(melody) == [(0.0, 0.5, 72), (0.5, 1.0, 74), (1.0, 1.5, 48), (1.5, 2.0, 76), (2.0, 2.5, 43)]
    assert melody.notes[0].velocity == 90
    ends = [n.end for n in melody.notes]
    assert all(a <= b.start + 1e-9 for a, b in zip(ends, melody.notes[1:]))  # monophonic


def test_overlapping_notes_in_one_track_become_monophonic():
    # legato overlap (64 held past 67's start), a chord, and a re-triggered key
    events = [
        (0, on(64)),
        (TPB + 120, off(64)),
        (TPB, on(67)),
        (2 * TPB, off(67)),
        (2 * TPB, on(60)),
        (2 * TPB, on(64)),
        (2 * TPB, on(67)),
        (3 * TPB, off(60)),
        (3 * TPB, off(64)),
        (3 * TPB, off(67)),
        (3 * TPB, on(62)),
        (3 * TPB + 240, on(62)),
        (4 * TPB, off(62)),
    ]
    melody = Melody.from_midi(midi_bytes(track(events)))
    assert spans(melody) == [(0.0, 0.5, 64), (0.5, 1.0, 67), (1.0, 1.5, 67), (1.5, 1.75, 62), (1.75, 2.0, 62)]


def raised(call, *args, **kwargs) -> ReverieError:
    with pytest.raises(ReverieError) as err:
        call(*args, **kwargs)
    return err.value


def test_midi_errors_name_the_problem(band, tmp_path):
    cases = [
        (dict(track=0), "track", "MIDI track 0 has no notes; tracks with notes: 1, 2"),
        (dict(track=3), "track", "MIDI track 3 has only drum notes"),
        (dict(track=7), "track", "track 7 is out of range; this MIDI file has 4 track(s), numbered 0 to 3"),
        (dict(channel=5), "channel", "channels with notes: 0, 1, 9"),
        (dict(channel=16), "channel", "0 to 15"),
        (
            dict(track=1, channel=1),
            "channel",
            "MIDI channel 1 has no notes in track 1; channels with notes in track 1: 0",
        ),
    ]
    for kwargs, field, message in cases:
        error = raised(Melody.from_midi, band, **kwargs)
        assert error.field == field and message in error.message, (kwargs, error.message)
    error = raised(Melody.from_midi, b"RIFF not a midi file at all")
    assert error.field == "midi" and "not a readable standard MIDI file" in error.message
    error = raised(Melody.from_midi, tmp_path / "missing.mid")
    assert error.field == "midi" and "not found" in error.message
    error = raised(Melody.from_midi, midi_bytes(track([(0, on(36, 9)), (TPB, off(36, 9))])))
    assert error.field == "midi" and "no melodic notes" in error.message


def test_round_trip_to_midi_and_back(tmp_path):
    melody = Melody(
        (Note(0.1234, 0.4567, 60, 80), Note(0.4567, 1.0001, 67, 127), Note(1.5, 1.537, 71, 1), Note(2.0, 3.3333, 59))
    )
    for again in (Melody.from_midi(melody.to_midi_bytes()), None):
        if again is None:
            melody.to_midi(tmp_path / "out" / "melody.mid")
            again = Melody.from_midi(tmp_path / "out" / "melody.mid")
        assert [(n.pitch, n.velocity) for n in again.notes] == [(n.pitch, n.velocity) for n in melody.notes]
        for a, b in zip(again.notes, melody.notes):
            assert abs(a.start - b.start) < 1e-3 and abs(a.end - b.end) < 1e-3
    assert not list(tmp_path.glob("out/.*partial*"))


# --- chroma ---


def test_melody_chroma_is_frame_aligned():
    melody = Melody((Note(0.5, 1.0, 61), Note(1.0, 1.25, 72)))
    chroma = melody.chroma(frame_rate=100, n_frames=150)
    assert chroma.shape == (12, 150) and chroma.dtype == np.float32
    assert chroma[:, :50].sum() == 0 and chroma[:, 125:].sum() == 0
    assert chroma[1, 50] == 1 and chroma[1, 99] == 1 and chroma[0, 100] == 1 and chroma[0, 124] == 1
    assert (chroma.sum(axis=0) <= 1).all()
    shifted = melody.chroma(frame_rate=100, n_frames=10, offset=0.5)
    assert (shifted.argmax(axis=0) == 1).all() and shifted.sum() == 10
    assert Melody(()).chroma(10, 5).sum() == 0


def test_notes_are_validated_and_sorted():
    assert raised(Note, 1.0, 0.5, 60).field == "melody"
    assert raised(Note, 0.0, 1.0, 128).field == "melody"
    assert raised(Note, 0.0, 1.0, 60, 0).field == "melody"
    melody = Melody([Note(1.0, 2.0, 64), Note(0.0, 1.0, 60)])
    assert [n.pitch for n in melody.notes] == [60, 64] and melody.seconds == 2.0 and Melody(()).seconds == 0.0
    assert raised(melody.chroma, 0, 10).field == "frame_rate"
    assert raised(audio_chroma, np.zeros(100), 0, 10.0, 5).field == "sample_rate"


def tone(pitch, seconds, rate, harmonics=1, start=0.0):
    t = np.arange(int(seconds * rate)) / rate
    f0 = 440 * 2 ** ((pitch - 69) / 12)
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, harmonics + 1))
    x[t < start] = 0
    return (0.3 * x).astype(np.float32)


@pytest.mark.parametrize(
    "pitch,harmonics,rate",
    [(48, 1, 22050), (57, 1, 44100), (64, 1, 16000), (79, 1, 22050), (45, 12, 22050), (62, 8, 32000), (70, 12, 44100)],
)
def test_audio_chroma_finds_the_pitch_class(pitch, harmonics, rate):
    x = tone(pitch, 2.0, rate, harmonics, start=1.0)  # first second silent
    fr = 50.0
    chroma = audio_chroma(x, rate, fr, 100)
    assert chroma.shape == (12, 100) and chroma.dtype == np.float32
    assert chroma[:, :45].sum() == 0  # silence gated (the window reaches 50 ms ahead)
    assert (chroma[:, 55:98].argmax(axis=0) == pitch % 12).all() and chroma[:, 55:98].sum() == 43


def test_pitch_class_accuracy():
    melody = Melody((Note(0.0, 1.0, 60), Note(1.0, 2.0, 67)))
    ref = melody.chroma(10, 30)
    assert pitch_class_accuracy(ref, ref) == 1.0
    assert pitch_class_accuracy(ref, np.zeros_like(ref)) == 0.0
    assert pitch_class_accuracy(np.zeros_like(ref), ref) == 0.0
    half = ref.copy()
    half[:, 10:20] = np.roll(half[:, 10:20], 1, axis=0)
    assert pitch_class_accuracy(ref, half) == pytest.approx(0.5)
    with pytest.raises(ReverieError):
        pitch_class_accuracy(ref, ref[:, :10])


# --- keys ---


def test_keys_parse_estimate_and_snap():
    assert parse_key("C") == Key(0, False) and parse_key("F# minor") == Key(6, True)
    assert parse_key("Bbm") == Key(10, True) and parse_key("eb major") == Key(3, False)
    assert raised(parse_key, "H major").field == "key"
    c_major = [60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60]
    assert estimate_key(np.array(c_major), np.ones(len(c_major))) == Key(0, False)
    assert snap(60.6, Key(0, False), strict=False) == 60  # ambiguous, out of scale -> scale note
    assert snap(60.9, Key(0, False), strict=False) == 61  # clearly sung chromatic note stays
    assert snap(60.9, Key(0, False), strict=True) == 60


# --- hum ---

TUNE = Melody(
    tuple(
        Note(s, s + d, p)
        for s, d, p in [
            (0.30, 0.35, 60),
            (0.65, 0.35, 62),
            (1.00, 0.50, 64),
            (1.60, 0.25, 67),
            (1.85, 0.25, 67),
            (2.10, 0.60, 65),
            (2.90, 0.30, 64),
            (3.20, 0.30, 62),
            (3.50, 0.15, 59),
            (3.65, 0.70, 60),
        ]
    )
)


def test_synthetic_hum_is_deterministic_and_sounds_like_the_melody():
    a, b, c = synthesize_hum(TUNE, seed=3), synthesize_hum(TUNE, seed=3), synthesize_hum(TUNE, seed=4)
    assert a.sample_rate == 22050 and a.channels == 1 and np.isfinite(a.samples).all()
    assert np.array_equal(a.samples, b.samples) and not np.array_equal(a.samples, c.samples)
    assert a.seconds == pytest.approx(TUNE.seconds + 0.4, abs=1e-3)
    fr = 22050 / 256
    n = int(a.seconds * fr)
    assert pitch_class_accuracy(TUNE.chroma(fr, n), audio_chroma(a.samples[0], 22050, fr, n)) > 0.9


def test_segmentation_tolerates_vibrato_and_glides_and_splits_at_dips():
    """The note segmentation on a hand-made pitch track (no CREPE): vibrato, a glide, a re-articulation."""
    from reverie.models.melody.hum import segment_run, to_notes, voiced_runs
    from reverie.models.melody.pitch import PitchTrack

    t = np.arange(150) * 0.01
    pitch = np.where(t < 0.5, 60.0, 64.0) + 0.4 * np.sin(2 * np.pi * 5.5 * t)
    pitch[50:55] = np.linspace(60, 64, 5)  # 50 ms glide
    level = np.full(150, -20.0)
    level[100:104] = -35.0  # the singer re-articulates the held E
    level[140:] = -60.0  # and stops
    track = PitchTrack(pitch, np.full(150, 0.9), level, np.repeat(level[:, None], 6, axis=1))
    runs = voiced_runs(track)
    assert runs == [(0, 140)]
    segments = segment_run(track, *runs[0])
    notes, key = to_notes(track, segments, parse_key("C major"))
    assert [n.pitch for n in notes] == [60, 64, 64]
    assert [round(n.start, 2) for n in notes] == [0.0, pytest.approx(0.52, abs=0.03), pytest.approx(1.02, abs=0.03)]
    assert notes[-1].end == pytest.approx(1.4) and key == Key(0, False)


def test_hum_transcription_recovers_the_notes(tmp_path):
    hum = synthesize_hum(TUNE, sample_rate=22050, seed=0)
    stereo = Audio(np.repeat(hum.samples, 2, axis=0), hum.sample_rate)
    melody = Melody.from_hum(stereo)
    assert len(melody) == len(TUNE)
    assert sum(a.pitch == b.pitch for a, b in zip(melody.notes, TUNE.notes)) >= len(TUNE) - 1
    onsets = np.abs([a.start - b.start for a, b in zip(melody.notes, TUNE.notes)])
    assert np.median(onsets) < 0.03 and onsets.max() < 0.06
    fr = 22050 / 256
    n = int(hum.seconds * fr)
    assert pitch_class_accuracy(TUNE.chroma(fr, n), melody.chroma(fr, n)) > 0.85
    # the producer's loop: write the transcription out, read it back with --midi
    melody.to_midi(tmp_path / "hum.mid")
    assert [n.pitch for n in Melody.from_midi(tmp_path / "hum.mid").notes] == [n.pitch for n in melody.notes]


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_hum_without_voiced_notes_is_a_clear_error(kind):
    rng = np.random.default_rng(0)
    samples = np.zeros(32000) if kind == "silence" else 0.3 * rng.standard_normal(32000)
    error = raised(Melody.from_hum, Audio(samples.astype(np.float32), 16000))
    assert error.field == "hum" and "no voiced notes found in the hummed take (2.0 s)" in error.message


def test_hum_rejects_bad_input():
    assert raised(Melody.from_hum, np.zeros(100)).field == "hum"
    assert raised(Melody.from_hum, Audio(np.zeros(100, dtype=np.float32), 16000), key="X").field == "key"
    assert raised(Melody.from_hum, Audio(np.zeros((1, 0), dtype=np.float32), 16000)).field == "hum"


def test_importing_the_package_stays_light():
    code = "import sys, models.melody; print(sorted(m for m in ('torch', 'mido', 'torchcrepe') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
