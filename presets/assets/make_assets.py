"""Write the small files the presets reference: MIDI melodies, hummed takes and a music-box clip.

    .venv/bin/python presets/assets/make_assets.py

The melodies are written here as note lists (original tunes, public domain).
The hummed takes are sung by `models.melody.synthesize_hum` from a melody, so
they carry real pitch glides, vibrato and breath; the presets use them through
`Melody.from_hum`, the same path a recorded take would take. Everything is
seeded: running this again writes the same notes and samples.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pitch(name: str) -> int:
    """'F#4' -> 66."""
    letter, rest = name[0], name[1:]
    shift = rest.count("#") - rest.count("b")
    octave = int(rest.strip("#b"))
    return 12 * (octave + 1) + NAMES[letter] + shift


# (note, beats); "r" is a rest.
LULLABY = [  # D major, 3/4, a slow cradle song
    ("F#4", 2),
    ("A4", 1),
    ("B4", 2),
    ("A4", 1),
    ("F#4", 2),
    ("E4", 1),
    ("D4", 3),
    ("E4", 2),
    ("F#4", 1),
    ("G4", 2),
    ("B4", 1),
    ("A4", 2),
    ("F#4", 1),
    ("E4", 3),
    ("F#4", 2),
    ("A4", 1),
    ("D5", 2),
    ("C#5", 1),
    ("B4", 2),
    ("A4", 1),
    ("F#4", 3),
    ("G4", 2),
    ("E4", 1),
    ("F#4", 2),
    ("D4", 1),
    ("E4", 2),
    ("C#4", 1),
    ("D4", 3),
]
LULLABY_BASS = ["D3", "G2", "D3", "A2", "D3", "G2", "D3", "A2", "D3", "B2", "G2", "D3", "G2", "D3", "A2", "D3"]

SAD = [  # A minor, 4/4, falling phrases
    ("E5", 2),
    ("D5", 1),
    ("C5", 1),
    ("B4", 3),
    ("r", 1),
    ("C5", 1),
    ("B4", 1),
    ("A4", 2),
    ("G#4", 4),
    ("A4", 2),
    ("C5", 1),
    ("E5", 1),
    ("D5", 3),
    ("C5", 1),
    ("B4", 2),
    ("A4", 1),
    ("G#4", 1),
    ("A4", 4),
]
SAD_BASS = ["A2", "E2", "F2", "E2", "D2", "G2", "E2", "A2"]

HAPPY = [  # G major, 4/4, bouncing
    ("G4", 1),
    ("B4", 1),
    ("D5", 1),
    ("B4", 1),
    ("C5", 1),
    ("A4", 1),
    ("F#4", 1),
    ("A4", 1),
    ("G4", 1),
    ("B4", 1),
    ("D5", 1),
    ("G5", 1),
    ("F#5", 2),
    ("D5", 2),
    ("E5", 1),
    ("C5", 1),
    ("A4", 1),
    ("C5", 1),
    ("D5", 1),
    ("B4", 1),
    ("G4", 1),
    ("B4", 1),
    ("A4", 1),
    ("F#4", 1),
    ("D4", 1),
    ("F#4", 1),
    ("G4", 4),
]
HAPPY_BASS = ["G2", "D2", "G2", "D2", "C2", "G2", "D2", "G2"]

HUM_TUNE = [  # D major, 4/4: the phrase hummed in hum_lullaby.ogg
    ("A4", 2),
    ("G4", 1),
    ("F#4", 1),
    ("E4", 2),
    ("D4", 2),
    ("F#4", 2),
    ("A4", 2),
    ("B4", 4),
    ("A4", 2),
    ("F#4", 1),
    ("E4", 1),
    ("D4", 2),
    ("E4", 2),
    ("F#4", 2),
    ("E4", 2),
    ("D4", 4),
]
HUM_TENSE = [  # a chromatic, uneasy line for hum_tense.ogg
    ("E4", 2),
    ("F4", 2),
    ("E4", 1),
    ("D#4", 1),
    ("E4", 2),
    ("G4", 3),
    ("F#4", 1),
    ("F4", 4),
    ("E4", 2),
    ("A#4", 2),
    ("A4", 2),
    ("E4", 2),
]


def melody_track(notes, bpm_ticks: int, velocity: int = 70, program: int = 0, channel: int = 0, name: str = ""):
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    track.append(mido.Message("program_change", program=program, channel=channel, time=0))
    wait = 0
    for note, beats in notes:
        ticks = round(beats * bpm_ticks)
        if note == "r":
            wait += ticks
            continue
        p = pitch(note)
        track.append(mido.Message("note_on", note=p, velocity=velocity, channel=channel, time=wait))
        track.append(mido.Message("note_off", note=p, velocity=0, channel=channel, time=ticks))
        wait = 0
    return track


def write_midi(path: Path, melody, bass, bpm: float, beats_per_bar: int, program: int) -> None:
    ppq = 480
    song = mido.MidiFile(ticks_per_beat=ppq)
    tempo = mido.MidiTrack()
    tempo.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    tempo.append(mido.MetaMessage("time_signature", numerator=beats_per_bar, denominator=4, time=0))
    song.tracks.append(tempo)
    song.tracks.append(melody_track(melody, ppq, 72, program, 0, "melody"))
    song.tracks.append(melody_track([(n, beats_per_bar) for n in bass], ppq, 50, 32, 1, "bass"))
    song.save(path)


def music_box(notes, bpm: float, rate: int = 22050, seed: int = 0) -> np.ndarray:
    """A plucked, bell-like rendering of a note list (additive partials with exponential decay)."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    total = sum(b for _, b in notes) * beat + 2.0
    out = np.zeros(int(total * rate))
    t0 = 0.0
    for note, beats in notes:
        if note != "r":
            f = 440.0 * 2 ** ((pitch(note) + 12 - 69) / 12)
            n = int(min(2.5, beats * beat + 1.5) * rate)
            t = np.arange(n) / rate
            tone = sum(
                a * np.sin(2 * np.pi * f * m * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t * d)
                for m, a, d in ((1, 1.0, 2.5), (2.76, 0.35, 6.0), (5.4, 0.12, 11.0))
            )
            start = int(t0 * rate)
            out[start : start + n] += tone[: len(out) - start] * 0.25
        t0 += beats * beat
    return (out / np.abs(out).max() * 0.5).astype(np.float32)


def main() -> None:
    from reverie.models.melody import Melody, synthesize_hum

    write_midi(HERE / "lullaby.mid", LULLABY, LULLABY_BASS, bpm=60, beats_per_bar=3, program=10)  # music box
    write_midi(HERE / "sad_theme.mid", SAD, SAD_BASS, bpm=54, beats_per_bar=4, program=0)
    write_midi(HERE / "happy_theme.mid", HAPPY, HAPPY_BASS, bpm=104, beats_per_bar=4, program=11)
    for name, tune, bpm, seed in (("hum_lullaby", HUM_TUNE, 66, 1), ("hum_tense", HUM_TENSE, 72, 2)):
        tmp = HERE / f".{name}.mid"
        write_midi(tmp, tune, [], bpm=bpm, beats_per_bar=4, program=0)
        take = synthesize_hum(Melody.from_midi(tmp, track=1), sample_rate=22050, seed=seed)
        tmp.unlink()
        sf.write(HERE / f"{name}.ogg", take.samples.T, take.sample_rate, format="OGG", subtype="VORBIS")
    sf.write(HERE / "music_box.ogg", music_box(HAPPY, 104), 22050, format="OGG", subtype="VORBIS")
    sf.write(HERE / "music_box_sad.ogg", music_box(SAD, 54, seed=1), 22050, format="OGG", subtype="VORBIS")
    for path in sorted(HERE.iterdir()):
        if path.suffix in (".mid", ".ogg"):
            print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
