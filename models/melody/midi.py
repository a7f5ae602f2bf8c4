"""MIDI in and out with mido: tempo map, note pairing, track/channel choice, top voice.

Tracks and channels are numbered from 0, as mido numbers them; the General
MIDI drum channel that DAWs call "10" is channel 9 here.
"""

from __future__ import annotations

import io
import os
from bisect import bisect_right
from pathlib import Path
from typing import Iterable, NamedTuple

from ..errors import ReverieError
from .notes import Note

DRUM_CHANNEL = 9
DEFAULT_TEMPO = 500_000  # microseconds per beat (120 bpm), the MIDI default
WRITE_TICKS_PER_BEAT = 960  # at 120 bpm one tick is 0.52 ms
MIN_RESUMED_SECONDS = 0.03  # a held lower note that resurfaces for less than this is not melody


class RawNote(NamedTuple):
    start: float
    end: float
    pitch: int
    velocity: int
    channel: int
    track: int


# --- reading ---


def load_midi_file(source):
    import mido

    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                raise ReverieError("the MIDI data is empty (0 bytes); give a standard MIDI file (.mid)", field="midi")
            return mido.MidiFile(file=io.BytesIO(bytes(source)))
        path = Path(source)
        if not path.exists():
            raise ReverieError(f"MIDI file not found: {path}", field="midi")
        if path.is_dir():
            raise ReverieError(f"MIDI path is a folder, not a file: {path}", field="midi")
        return mido.MidiFile(str(path))
    except ReverieError:
        raise
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
        where = "the MIDI data" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
        raise ReverieError(
            f"{where} is not a readable standard MIDI file ({exc}); give a .mid file of type 0 or 1",
            field="midi",
        ) from None


class TempoMap:
    """Ticks to seconds through every tempo change (piecewise linear)."""

    def __init__(self, changes: Iterable[tuple[int, int]], ticks_per_beat: int):
        last_at: dict[int, int] = {}
        for tick, tempo in changes:  # several changes at one tick: the last one holds
            last_at[tick] = tempo
        last_at.setdefault(0, DEFAULT_TEMPO)
        self.ticks = sorted(last_at)
        self.tempos = [last_at[t] for t in self.ticks]
        self.scale = 1e-6 / ticks_per_beat
        self.seconds = [0.0]
        for i in range(1, len(self.ticks)):
            span = self.ticks[i] - self.ticks[i - 1]
            self.seconds.append(self.seconds[-1] + span * self.tempos[i - 1] * self.scale)

    def __call__(self, tick: int) -> float:
        i = bisect_right(self.ticks, tick) - 1
        return self.seconds[i] + (tick - self.ticks[i]) * self.tempos[i] * self.scale


def absolute(track) -> Iterable[tuple[int, object]]:
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


def tempo_changes(tracks) -> list[tuple[int, int]]:
    return [(tick, msg.tempo) for track in tracks for tick, msg in absolute(track) if msg.type == "set_tempo"]


def track_notes(track, index: int, to_seconds: TempoMap) -> list[RawNote]:
    """Pair note-ons with note-offs (a note-on with velocity 0 is a note-off).

    A second note-on for a key that is still held on the same channel ends
    the held one there; notes still held at the end of the track end with it.
    """
    held: dict[tuple[int, int], tuple[int, int]] = {}
    pairs: list[tuple[int, int, int, int, int]] = []
    tick = 0
    for tick, msg in absolute(track):
        if msg.type not in ("note_on", "note_off"):
            continue
        key = (msg.channel, msg.note)
        if key in held:  # a note-off, or a re-trigger of the held key, ends it
            start, velocity = held.pop(key)
            pairs.append((start, tick, msg.note, velocity, msg.channel))
        if msg.type == "note_on" and msg.velocity > 0:
            held[key] = (tick, msg.velocity)
    for (channel, pitch), (start, velocity) in held.items():
        pairs.append((start, tick, pitch, velocity, channel))
    notes = []
    for start, end, pitch, velocity, channel in pairs:
        if end > start:
            notes.append(RawNote(to_seconds(start), to_seconds(end), pitch, velocity, channel, index))
    return notes


def all_notes(midi) -> list[RawNote]:
    if midi.ticks_per_beat <= 0:
        raise ReverieError(
            "MIDI files timed in SMPTE frames are not supported; save it with ticks per beat", field="midi"
        )
    shared = TempoMap(tempo_changes(midi.tracks), midi.ticks_per_beat)
    notes: list[RawNote] = []
    for index, track in enumerate(midi.tracks):
        # Type 2 files hold independent sequences, each with its own tempo.
        to_seconds = TempoMap(tempo_changes([track]), midi.ticks_per_beat) if midi.type == 2 else shared
        notes.extend(track_notes(track, index, to_seconds))
    return notes


def check_index(value, name: str, count: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReverieError(f"{name} must be a whole number, got {value!r}", field=name)
    if not 0 <= value < count:
        raise ReverieError(f"{name} {value} is out of range; {what} {0} to {count - 1}", field=name)
    return value


def listing(values: Iterable[int]) -> str:
    values = sorted(set(values))
    return ", ".join(map(str, values)) if values else "none"


def select(notes: list[RawNote], n_tracks: int, track: int | None, channel: int | None) -> list[RawNote]:
    if track is not None:
        check_index(track, "track", n_tracks, f"this MIDI file has {n_tracks} track(s), numbered")
    if channel is not None:
        check_index(channel, "channel", 16, "MIDI channels are numbered (the GM drum channel 10 is 9)")
    melodic = [n for n in notes if n.channel != DRUM_CHANNEL]
    if track is None and channel is None:
        if not melodic:
            drums = " (only drum notes on channel 10)" if notes else ""
            raise ReverieError(f"the MIDI file has no melodic notes{drums}; give a file with a melody", field="midi")
        return melodic
    pool = notes if channel is not None else melodic
    chosen = [n for n in pool if (track is None or n.track == track) and (channel is None or n.channel == channel)]
    if chosen:
        return chosen
    if channel is None:
        only_drums = " has only drum notes (channel 10)" if any(n.track == track for n in notes) else " has no notes"
        raise ReverieError(
            f"MIDI track {track}{only_drums}; tracks with notes: {listing(n.track for n in melodic)}", field="track"
        )
    in_track = f" in track {track}" if track is not None else ""
    scope = [n for n in notes if track is None or n.track == track]
    raise ReverieError(
        f"MIDI channel {channel} has no notes{in_track}; channels with notes{in_track}: "
        f"{listing(n.channel for n in scope)} (numbered 0 to 15; the GM drum channel 10 is 9)",
        field="channel",
    )


def top_voice(notes: list[RawNote]) -> list[Note]:
    """The highest sounding note at every moment, as monophonic notes.

    A lower note held under a higher one resurfaces when the higher one ends
    (as a new note at that moment), unless what is left of it is shorter than
    MIN_RESUMED_SECONDS.
    """
    if not notes:
        return []
    bounds = sorted({t for n in notes for t in (n.start, n.end)})
    order = sorted(range(len(notes)), key=lambda i: notes[i].start)
    active: set[int] = set()
    nxt = 0
    segments: list[list] = []  # [note index, start, end]
    for left, right in zip(bounds, bounds[1:]):
        while nxt < len(order) and notes[order[nxt]].start <= left:
            active.add(order[nxt])
            nxt += 1
        active = {i for i in active if notes[i].end > left}
        if not active:
            continue
        # Highest pitch; on a tie the note that began first (it keeps sounding).
        best = max(active, key=lambda i: (notes[i].pitch, -notes[i].start, notes[i].end, -i))
        if segments and segments[-1][0] == best and segments[-1][2] == left:
            segments[-1][2] = right
        else:
            segments.append([best, left, right])
    out = []
    for index, start, end in segments:
        raw = notes[index]
        if start > raw.start and end - start < MIN_RESUMED_SECONDS:
            continue
        out.append(Note(start, end, raw.pitch, raw.velocity))
    return out


def has_notes(source) -> bool:
    """Whether a MIDI file plays anything: a file of tempo, metre and key alone does not."""
    return bool(all_notes(load_midi_file(source)))


def read_midi(source, track: int | None = None, channel: int | None = None) -> list[Note]:
    midi = load_midi_file(source)
    return top_voice(select(all_notes(midi), len(midi.tracks), track, channel))


# --- writing ---


def build_midi(notes: Iterable[Note], grid=None):
    """A one-track MIDI file of `notes`; with a `grid` (models.grid.Grid, bar line at 0 s), on its tempo and
    metre, so the notes land on a DAW's bars: a tempo event on every beat where the tempo moves."""
    import mido

    notes = list(notes)
    if grid is None:

        def tick_of(seconds: float) -> int:
            return round(seconds * WRITE_TICKS_PER_BEAT * 1e6 / DEFAULT_TEMPO)

        tempos = [(0, DEFAULT_TEMPO)]
        numerator, denominator = 4, 4
    else:

        def tick_of(seconds: float) -> int:
            return round(float(grid.beats(seconds)) * WRITE_TICKS_PER_BEAT)

        last = max((n.end for n in notes), default=0.0)
        beats = range(int(float(grid.beats(last))) + 1) if grid.steady_bpm is None else range(1)
        # each beat's tempo is its own length on the grid, so every beat (and bar) lands where the grid has it
        tempos = [(k * WRITE_TICKS_PER_BEAT, round((grid.seconds_of(k + 1) - grid.seconds_of(k)) * 1e6)) for k in beats]
        numerator, denominator = _metre(grid.beats_per_bar)
    events: list[tuple[int, int, object]] = []  # (tick, order: -1 tempo, 0 note off, 1 note on, message)
    for at, tempo in tempos:
        events.append((at, -1, mido.MetaMessage("set_tempo", tempo=tempo)))
    for note in notes:
        start = tick_of(note.start)
        end = max(tick_of(note.end), start + 1)
        events.append((start, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity)))
        events.append((end, 0, mido.Message("note_off", note=note.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name="reverie melody", time=0))
    track.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator, time=0))
    tick = 0
    for at, _, msg in events:
        track.append(msg.copy(time=at - tick))
        tick = at
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=WRITE_TICKS_PER_BEAT)
    midi.tracks.append(track)
    return midi


def _metre(quarters_per_bar: float) -> tuple[int, int]:
    """A time signature for a bar of this many quarter notes: 3 -> 3/4, 3.5 -> 7/8."""
    for denominator in (4, 8, 16):
        count = quarters_per_bar * denominator / 4
        if abs(count - round(count)) < 1e-9:
            return int(round(count)), denominator
    return max(1, round(quarters_per_bar)), 4


def midi_bytes(notes: Iterable[Note], grid=None) -> bytes:
    buffer = io.BytesIO()
    build_midi(notes, grid).save(file=buffer)
    return buffer.getvalue()


def write_midi(notes: Iterable[Note], path: str | os.PathLike, grid=None) -> Path:
    """Write atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    data = midi_bytes(notes, grid)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
