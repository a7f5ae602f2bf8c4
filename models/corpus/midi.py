"""The melody of a clip as a one-track MIDI file in the clip's timeline (time 0 = sample 0)."""

from __future__ import annotations

from pathlib import Path

import mido

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
    track.append(mido.Message("program_change", channel=0, program=performance.programs[0], time=0))
    now = 0
    for t, is_on, key, velocity in events:
        kind = "note_on" if is_on else "note_off"
        track.append(mido.Message(kind, channel=0, note=key, velocity=velocity, time=t - now))
        now = t
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    midi.save(str(path))
