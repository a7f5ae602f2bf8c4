"""The melody value types: a Note, a monophonic Melody, and its frame-aligned chroma.

Times are seconds from the start of the piece, pitches are MIDI note numbers.
Reading and writing MIDI lives in `midi.py`, hum transcription in `hum.py`;
the methods here only delegate to them (imported lazily, so importing this
module costs nothing but numpy).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import ReverieError


@dataclass(frozen=True)
class Note:
    start: float  # seconds
    end: float  # seconds
    pitch: int  # MIDI note number, 0..127
    velocity: int = 100  # 1..127

    def __post_init__(self) -> None:
        start, end = float(self.start), float(self.end)
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise ReverieError(
                f"a note must have 0 <= start < end in seconds, got start={self.start!r} end={self.end!r}",
                field="melody",
            )
        if isinstance(self.pitch, bool) or int(self.pitch) != self.pitch or not 0 <= self.pitch <= 127:
            raise ReverieError(f"a note pitch must be a MIDI number 0 to 127, got {self.pitch!r}", field="melody")
        if isinstance(self.velocity, bool) or int(self.velocity) != self.velocity or not 1 <= self.velocity <= 127:
            raise ReverieError(f"a note velocity must be 1 to 127, got {self.velocity!r}", field="melody")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "pitch", int(self.pitch))
        object.__setattr__(self, "velocity", int(self.velocity))

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Melody:
    notes: tuple[Note, ...]  # sorted by start (then pitch); monophonic when read from MIDI or a hum
    # A hummed take's whole length: its melody lasts the take, pauses and all (None: the last note's end).
    take_seconds: float | None = None

    def __post_init__(self) -> None:
        notes = tuple(self.notes)
        if not all(isinstance(n, Note) for n in notes):
            raise ReverieError("a melody is a sequence of Note values", field="melody")
        object.__setattr__(self, "notes", tuple(sorted(notes, key=lambda n: (n.start, n.pitch, n.end))))

    def __len__(self) -> int:
        return len(self.notes)

    @property
    def seconds(self) -> float:
        """End of the last note (0.0 for an empty melody)."""
        return max((n.end for n in self.notes), default=0.0)

    @property
    def length(self) -> float:
        """How long music that follows it lasts unless told otherwise: a hummed take's whole length, else
        the end of the last note (operations.generate_seconds)."""
        return self.seconds if self.take_seconds is None else self.take_seconds

    # --- front ends (lazy: mido / torch are imported only when used) ---

    @classmethod
    def from_midi(
        cls,
        source: str | os.PathLike | bytes,
        track: int | None = None,
        channel: int | None = None,
    ) -> "Melody":
        """Read a melody from a MIDI file path or bytes.

        `track` (0-based index in the file) and `channel` (0-based, 0..15; the
        GM drum channel "10" is 9) choose the notes; with neither, the top voice
        (highest sounding note at each moment) of every non-drum track is taken.
        The chosen notes are always reduced to their top voice, so the melody is
        monophonic. Every tempo change is honoured.
        """
        from .midi import read_midi

        return cls(read_midi(source, track=track, channel=channel))

    @classmethod
    def from_hum(cls, audio, key: str | None = None) -> "Melody":
        """Transcribe a hummed, whistled or sung take (an `Audio`) into notes.

        `key` ("C", "A minor", "F#m", "Bb major", ...) snaps every note to that
        key's scale; without it the key is estimated and only notes sung
        ambiguously between two semitones are snapped to the scale.
        """
        from .hum import transcribe

        return cls(transcribe(audio, key=key), take_seconds=audio.seconds)

    def to_midi(self, path: str | os.PathLike, grid=None) -> None:
        """Write a one-track MIDI file (120 bpm, or on `grid`'s tempo and metre) that `from_midi` reads back
        to the same notes."""
        from .midi import write_midi

        write_midi(self.notes, path, grid)

    def to_midi_bytes(self) -> bytes:
        from .midi import midi_bytes

        return midi_bytes(self.notes)

    def in_key(self, key) -> "Melody":
        """The melody moved to `key` (a melody.key.Key): from the key its notes fit best, each note to the
        same degree of the new key (key.moved), its timing kept."""
        from .key import estimate_key, moved

        if not self.notes:
            return self
        pitches = np.array([n.pitch for n in self.notes])
        source = estimate_key(pitches, np.array([n.duration for n in self.notes]))
        notes = tuple(
            Note(n.start, n.end, min(127, max(0, moved(n.pitch, source, key))), n.velocity) for n in self.notes
        )
        return Melody(notes, self.take_seconds)

    # --- conditioning ---

    def chroma(self, frame_rate: float, n_frames: int, offset: float = 0.0) -> np.ndarray:
        """One-hot pitch class per frame, float32 (12, n_frames).

        Frame i looks at time offset + i / frame_rate; a note sounds on
        [start, end). Frames with no note are all zero. Where notes overlap
        (only possible for a hand-built melody) the highest one wins.
        """
        from .chroma import check_frames

        frame_rate, n_frames = check_frames(frame_rate, n_frames)
        out = np.zeros((12, n_frames), dtype=np.float32)
        if n_frames == 0 or not self.notes:
            return out
        times = float(offset) + np.arange(n_frames) / frame_rate
        owner = np.full(n_frames, -1, dtype=np.int64)
        # Paint lowest first so the highest sounding note owns a shared frame.
        for note in sorted(self.notes, key=lambda n: n.pitch):
            lo = np.searchsorted(times, note.start, side="left")
            hi = np.searchsorted(times, note.end, side="left")
            owner[lo:hi] = note.pitch % 12
        frames = np.flatnonzero(owner >= 0)
        out[owner[frames], frames] = 1.0
        return out
