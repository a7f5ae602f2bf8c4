"""The melody of a clip as a one-track MIDI file in the clip's timeline (time 0 = sample 0, a bar line),
with the clip's tempo, metre and key, so the file beside a clip is all training needs to know its grid;
for a stretch of real music, a file of the labels alone (no notes: its melody is read from the audio)."""

from __future__ import annotations

from pathlib import Path

import mido

from ..melody.key import NAMES, Key
from .arrange import Performance

TICKS_PER_BEAT = 480


def write_melody(performance: Performance, seconds: float, path: Path) -> None:
    """One tempo (the clip's), the melody program, and the channel-0 notes exactly as rendered."""
    spq = performance.tempo_us / 1_000_000
    last_tick = int(seconds / spq * TICKS_PER_BEAT)  # floor: no note may end after the clip

    def tick(sec: float) -> int:
        return min(last_tick, int(round(sec / spq * TICKS_PER_BEAT)))

    events = []  # (tick, 0 = off before 1 = on, key, velocity)
    for n in performance.melody:
        on, off = tick(n.start), tick(n.end)
        if off <= on:
            continue  # shorter than one tick at the very end of the clip
        events += [(on, 1, n.midi, n.velocity), (off, 0, n.midi, 0)]
    events.sort()

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=performance.tempo_us, time=0))
    track.append(mido.MetaMessage("time_signature", **time_signature(performance.bar), time=0))
    key = NAMES[performance.tonic] + ("m" if performance.mode == "minor" else "")
    track.append(mido.MetaMessage("key_signature", key=key, time=0))
    track.append(mido.Message("program_change", channel=0, program=performance.programs[0], time=0))
    now = 0
    for t, is_on, key, velocity in events:
        kind = "note_on" if is_on else "note_off"
        track.append(mido.Message(kind, channel=0, note=key, velocity=velocity, time=t - now))
        now = t
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(str(path))


def write_labels(grid, key: Key | None, path: Path) -> None:
    """A file that states `grid` (models.grid.Grid, steady) and `key`, either None where unknown. Its time
    signature sits on the first bar line at or after 0 s: bars are counted from there (grid.from_midi)."""
    track = mido.MidiTrack()
    if grid is not None:
        spq = 60.0 / grid.steady_bpm
        bar = grid.beats_per_bar * spq
        first = round((grid.downbeat % bar) / spq * TICKS_PER_BEAT)
        track.append(mido.MetaMessage("set_tempo", tempo=round(spq * 1e6), time=0))
        track.append(mido.MetaMessage("time_signature", **time_signature(grid.beats_per_bar), time=first))
    if key is not None:
        name = NAMES[key.tonic] + ("m" if key.minor else "")
        track.append(mido.MetaMessage("key_signature", key=name, time=0))
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(str(path))


def time_signature(quarters_per_bar: float) -> dict:
    """A bar of so many quarter notes as a time signature: 4.0 -> 4/4, 3.0 -> 3/4, 1.5 -> 3/8."""
    eighths = round(quarters_per_bar * 2)
    if eighths % 2:
        return {"numerator": eighths, "denominator": 8}
    return {"numerator": eighths // 2, "denominator": 4}
