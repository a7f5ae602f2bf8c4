"""The musical grid a piece sits on, tempo (steady or moving), metre and bar lines, as the model hears it.

A `Grid` says where every beat falls: `beats(seconds)` counts quarter notes from the first bar line,
through a tempo that may move linearly between (seconds, bpm) points. `features` turns it into the
per-frame input the denoiser is trained with (unet.GRID_FEATURES rows): a flag saying the grid is
known, a pulse on each beat and on each bar line, and the beat's and the bar's phase as sine and
cosine. The pulses say where inside a token a beat lands; the phases say how far through the beat and
bar each frame is, so windows made one after another stay on one grid.

A key is conditioned as a learned embedding per major and minor key (`key_index`), as a style is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .entries import EntryError, timed_entries
from .errors import ReverieError
from .limits import BEATS_PER_BAR
from .melody.key import Key

GRID_FEATURES = 7
KEYS = 24  # 12 major keys then 12 minor; index KEYS is the unknown key
BPM_RANGE = (30.0, 300.0)
PULSE_FRAMES = 1.5  # a beat's pulse falls to 0 this many frames either side of it


def key_index(key: Key | None) -> int:
    return KEYS if key is None else key.tonic + 12 * int(key.minor)


@dataclass(frozen=True)
class Grid:
    tempo: tuple[tuple[float, float], ...]  # (seconds, bpm), seconds rising; one point is a steady tempo
    beats_per_bar: float = 4.0  # quarter notes per bar: 4/4 is 4, 3/4 is 3, 6/8 is 3
    downbeat: float = 0.0  # seconds of a bar line

    def __post_init__(self) -> None:
        tempo = tuple((float(s), float(b)) for s, b in self.tempo)
        wrong = _tempo_problem(tempo)
        if wrong is not None:
            raise ReverieError(f"a tempo of {list(tempo)} {wrong}", field="bpm")
        low, high = BEATS_PER_BAR
        if not low <= self.beats_per_bar <= high:  # in the spec's words (operations.BEATS_PER_BAR)
            raise ReverieError(
                f"beats_per_bar must be between {low:g} and {high:g}, got {self.beats_per_bar:g}", field="beats_per_bar"
            )
        object.__setattr__(self, "tempo", tempo)

    @classmethod
    def steady(cls, bpm: float, beats_per_bar: float = 4.0, downbeat: float = 0.0) -> "Grid":
        return cls(((0.0, float(bpm)),), beats_per_bar, downbeat)

    @property
    def steady_bpm(self) -> float | None:
        return self.tempo[0][1] if len(self.tempo) == 1 else None

    def bpm_at(self, seconds) -> np.ndarray:
        times, bpms = np.array(self.tempo).T
        return np.interp(seconds, times, bpms)

    def beats(self, seconds) -> np.ndarray:
        """Quarter notes since the bar line at `downbeat` (negative before it): the tempo's integral."""
        t = np.asarray(seconds, dtype=np.float64)
        return (self._integral(t) - self._integral(np.float64(self.downbeat))) / 60.0

    def _integral(self, t: np.ndarray) -> np.ndarray:
        """The integral of bpm over seconds from the first tempo point (held before and after the points)."""
        times, bpms = np.array(self.tempo).T
        # integral at each point: trapezoids between neighbours (the tempo is linear between them)
        at_points = np.concatenate([[0.0], np.cumsum(np.diff(times) * (bpms[1:] + bpms[:-1]) / 2)])
        i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
        since = t - times[i]
        return at_points[i] + since * (bpms[i] + self.bpm_at(np.maximum(t, times[0]))) / 2

    def seconds_of(self, beats: float) -> float:
        """When `beats` quarter notes have passed since the bar line (the inverse of `beats`)."""
        lo, hi = self.downbeat, self.downbeat + beats * 60.0 / BPM_RANGE[0] + 1.0
        for _ in range(80):  # beats() rises with time, so bisection converges to a sample's precision
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if float(self.beats(mid)) < beats else (lo, mid)
        return (lo + hi) / 2

    def bars_seconds(self, bars: int) -> float:
        """How long `bars` whole bars last from the bar line."""
        return self.seconds_of(bars * self.beats_per_bar) - self.downbeat

    def features(self, frame_rate: float, frames: int, first_second: float = 0.0) -> np.ndarray:
        """(GRID_FEATURES, frames) float32 for frames whose first starts at `first_second` of the piece."""
        t = first_second + np.arange(frames) / frame_rate
        beat = self.beats(t)
        bar = beat / self.beats_per_bar
        frames_per_beat = frame_rate * 60.0 / self.bpm_at(t)

        def pulse(position, frames_per_unit):
            away = np.abs(position - np.round(position)) * frames_per_unit
            return np.clip(1.0 - away / PULSE_FRAMES, 0.0, 1.0)

        beat_phase, bar_phase = 2 * np.pi * (beat % 1.0), 2 * np.pi * (bar % 1.0)
        rows = [
            np.ones_like(t),
            pulse(beat, frames_per_beat),
            pulse(bar, frames_per_beat * self.beats_per_bar),
            np.sin(beat_phase),
            np.cos(beat_phase),
            np.sin(bar_phase),
            np.cos(bar_phase),
        ]
        return np.stack(rows).astype(np.float32)


def from_midi(source) -> tuple[Grid | None, Key | None]:
    """The grid and key a MIDI file states: a grid when it has one tempo and one time signature (a file
    without them says nothing about where the bars are, whatever its default tempo), its bars counted
    from where that time signature stands (at 0 s but for a stretch of real music cut mid-bar); a key
    when it has a key signature."""
    from .melody.key import parse_key
    from .melody.midi import load_midi_file

    midi = load_midi_file(source)
    tempos, metres, keys = [], [], []
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "set_tempo":
                tempos.append((tick, message.tempo))
            elif message.type == "time_signature":
                metres.append((tick, message.numerator * 4 / message.denominator))
            elif message.type == "key_signature":
                keys.append((tick, message.key))
    grid = None
    if len({t for _, t in tempos}) == 1 and metres and len({m for _, m in metres}) == 1:
        tempo = tempos[0][1]
        grid = Grid.steady(60_000_000 / tempo, metres[0][1], metres[0][0] / midi.ticks_per_beat * tempo / 1e6)
    key = parse_key(keys[0][1].replace("m", " minor")) if keys else None
    return grid, key


TEMPO_ALLOWED = 'a bpm ("96"), or for generate a tempo that moves: seconds:bpm entries ("0:84; 1200:60")'


def parse_bpm(value, beats_per_bar: float | None = None) -> Grid:
    """A tempo as text ("96", "0:84; 1200:60"), a number, or a preset's [[seconds, bpm], ...] list, on a
    grid of `beats_per_bar` (default 4) whose first bar line is at 0."""
    if isinstance(value, bool):
        raise _tempo_error(value, "is not a tempo")
    if isinstance(value, (int, float)):
        points = [(0.0, float(value))]
    elif isinstance(value, (list, tuple)):
        points = [tuple(entry) for entry in value]
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for p in points for x in p)
        if not numbers or not all(len(p) == 2 for p in points):
            raise _tempo_error(value, "is not a list of [seconds, bpm] pairs")
    elif isinstance(value, str):
        try:
            points = [(seconds, _bpm_of(seconds, bpm)) for seconds, bpm in timed_entries(value)]
        except EntryError as exc:
            raise _tempo_error(value, str(exc)) from None
    else:
        raise _tempo_error(value, "is not a tempo")
    points = [(0.0 if s is None else s, b) for s, b in points]
    wrong = _tempo_problem(points)
    if wrong is not None:
        raise _tempo_error(value, wrong)
    return Grid(tuple(points), 4.0 if beats_per_bar is None else float(beats_per_bar))


def _tempo_problem(points) -> str | None:
    """What is wrong with (seconds, bpm) points, worded to follow the tempo's name; None if nothing."""
    if not points:
        return "is empty"
    lo, hi = BPM_RANGE
    for seconds, bpm in points:
        if seconds < 0:
            return f"has an entry at {seconds:g} s; times are seconds from 0"
        if not lo <= bpm <= hi:
            outside = f"outside {lo:g}-{hi:g}"
            return f"has {bpm:g} bpm, {outside}" if len(points) > 1 else f"is {outside}"
    if any(b[0] <= a[0] for a, b in zip(points, points[1:])):
        return "has times that do not increase; times must rise"
    return None


def tempo_text(value) -> str:
    """The text form of a tempo given as a number, text or [[seconds, bpm], ...] list (presets), checked."""
    parse_bpm(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return "; ".join(f"{s:g}:{b:g}" for s, b in value)


def _bpm_of(seconds: float | None, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        entry = text if seconds is None else f"{seconds:g}:{text}"
        raise EntryError(f"has an entry {entry!r} that is not a number or seconds:bpm") from None


def _tempo_error(value, why: str) -> ReverieError:
    lo, hi = BPM_RANGE
    return ReverieError(f"bpm {value!r} {why}; a tempo is {TEMPO_ALLOWED}, {lo:g}-{hi:g} bpm", field="bpm")
