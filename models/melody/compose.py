"""A line in a key, for a generate that is asked for a key and given no melody to follow.

The key input alone does not steer the shipped model: 0.08 of generates came out in the asked key
(bench/controls.py; 0.04 by chance), while the melody input steers what it plays (0.85 of frames on
the melody's pitch class, bench/quality.py). So an asked key is also said the way the model hears
best, as a melody: four-bar phrases over a common-practice progression that start on the tonic
chord, half-cadence on the dominant and end the piece on the tonic; chord tones on the beats and
scale steps between them, each pitch class as likely as the key's Krumhansl-Kessler profile rates
it, so the line's own pitch-class histogram is the key's. Its notes land on the grid's beats (a
moving tempo too), in the register and at the pace of the style sounding at that bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..corpus.styles import RECIPES
from ..grid import Grid
from .key import MAJOR_PROFILE, MINOR_PROFILE, Key
from .notes import Melody, Note

# The seven degrees a chord is stacked on; minor raises its seventh, so its dominant leads home.
MAJOR_DEGREES = (0, 2, 4, 5, 7, 9, 11)
MINOR_DEGREES = (0, 2, 3, 5, 7, 8, 11)
# Four-bar phrases, as scale degrees (0 = the tonic chord); a phrase that ends the piece ends on 0.
PHRASES = ((0, 3, 4, 4), (0, 5, 3, 4), (0, 3, 0, 4), (0, 5, 1, 4))
# Note lengths (quarter notes) each style's line moves in: a sleep line breathes, a tense one runs.
PACE = {"sleep": (4.0, 3.0, 2.0), "calm": (2.0, 1.5, 1.0), "happy": (1.0, 0.5), "sad": (2.0, 1.0), "tense": (1.0, 0.5)}
FALLBACK_STYLE = "calm"  # no style asked: the corpus's middle ground
LEGATO = 0.95  # of each note's length: a breath between notes, no rests in the chroma
STEP_SEMITONES = 3.0  # how fast a leap's likelihood falls (e-fold per this many semitones)
DRAFTS = 8


def melody_in_key(
    key: Key,
    seconds: float,
    seed: int,
    grid: Grid | None = None,
    style_at: Callable[[float], str | None] | None = None,
    loop: bool = False,
) -> Melody | LoopedLine:
    """A melody of at least `seconds` in `key`, on `grid` (or at the style's own tempo), seeded: of DRAFTS
    drawn, the one that states the key most clearly (a composer's revision; a short line of long notes,
    a sleep bed's, can otherwise say the relative key as much as its own). `loop`: `seconds` of whole
    bars that play again from the top, whose last beat holds the first note (it sounds across the loop
    point, unbroken, instead of a new note's attack there)."""
    rng = np.random.default_rng(seed)
    drafts = [_draft(key, seconds, rng, grid, style_at, loop) for _ in range(DRAFTS)]
    line = max(drafts, key=lambda line: _clarity(line, key))
    return LoopedLine(line, seconds) if loop else line


def _clarity(line: Melody, key: Key) -> float:
    """How far the line's duration-weighted pitch classes fit `key`'s profile better than any other key's."""
    pitches = np.array([n.pitch for n in line.notes]) % 12
    histogram = np.bincount(pitches, weights=[n.duration for n in line.notes], minlength=12)
    fits = {
        (tonic, minor): np.corrcoef(histogram, np.roll(profile, tonic))[0, 1]
        for minor, profile in ((False, MAJOR_PROFILE), (True, MINOR_PROFILE))
        for tonic in range(12)
    }
    own = fits.pop((key.tonic, key.minor))
    return float(own - max(fits.values()))


def _draft(key: Key, seconds: float, rng: np.random.Generator, grid: Grid | None, style_at, loop: bool) -> Melody:
    style_at = style_at or (lambda _: None)
    first = RECIPES.get(style_at(0.0) or FALLBACK_STYLE, RECIPES[FALLBACK_STYLE])
    grid = grid or Grid.steady(float(np.mean(first.tempo)))
    time_of = _clock(grid, seconds)
    profile = np.roll(MINOR_PROFILE if key.minor else MAJOR_PROFILE, key.tonic) ** 2
    degrees = MINOR_DEGREES if key.minor else MAJOR_DEGREES
    bar_beats = grid.beats_per_bar
    bars = max(1, int(np.ceil(float(grid.beats(grid.downbeat + seconds)) / bar_beats - 1e-6)))
    notes, previous = [], None
    for bar in range(bars):
        start = time_of(bar * bar_beats)
        style = RECIPES.get(style_at(start) or FALLBACK_STYLE, RECIPES[FALLBACK_STYLE])
        centre = float(np.mean(style.register))
        if bar == bars - 1:  # home: the tonic, the whole bar (a loop's last beat: its first note)
            pitch = _nearest_pitch(key.tonic, previous if previous is not None else centre)
            held = bar_beats - 1 if loop and notes and bar_beats > 1 else bar_beats
            notes.append(_note(time_of, bar * bar_beats, held, pitch, legato=1.0 if held == bar_beats else LEGATO))
            if held < bar_beats:
                notes.append(_note(time_of, bar * bar_beats + held, bar_beats - held, notes[0].pitch, legato=1.0))
            break
        if bar % 4 == 0:
            phrase = PHRASES[int(rng.integers(len(PHRASES)))]
        root = 4 if bar == bars - 2 and bar else phrase[bar % 4]  # the bar before home is the dominant
        chord = {(key.tonic + degrees[(root + k) % 7]) % 12 for k in (0, 2, 4)}
        scale = {(key.tonic + d) % 12 for d in degrees}
        third = (key.tonic + degrees[2]) % 12
        for at, length in _rhythm(bar_beats, PACE[style.name], rng):
            on_beat = abs(at - round(at)) < 1e-9
            # A minor key's mode is in the tonic's third, which a listener otherwise hears as the
            # relative major's tonic: there, a tonic bar opens on it.
            allowed = {third} if key.minor and at == 0 and root == 0 else chord if on_beat else scale
            pitch = _choose(allowed, profile, centre, previous, rng)
            notes.append(_note(time_of, bar * bar_beats + at, length, pitch))
            previous = pitch
    return Melody(tuple(notes))


def _clock(grid: Grid, seconds: float) -> Callable[[float], float]:
    """Seconds of a beat count since the bar line (the grid's inverse), vectorised over a fine time grid."""
    times = np.arange(grid.downbeat, grid.downbeat + seconds + 30.0, 1e-3)
    beats = grid.beats(times)
    return lambda beat: float(np.interp(beat, beats, times))


def _rhythm(bar_beats: float, lengths: tuple[float, ...], rng: np.random.Generator) -> list[tuple[float, float]]:
    """(onset, length) in quarter notes filling one bar from its downbeat, from the style's note lengths."""
    out, at = [], 0.0
    while bar_beats - at > 1e-9:
        fitting = [n for n in lengths if n <= bar_beats - at + 1e-9]
        length = float(rng.choice(fitting)) if fitting else bar_beats - at
        out.append((at, length))
        at += length
    return out


def _choose(allowed: set[int], profile: np.ndarray, centre: float, previous: int | None, rng) -> int:
    """A pitch whose class is `allowed`, near the register's centre, weighted by the key's profile and
    by closeness to the previous note (a line moves mostly by step)."""
    pitches = np.array([p for p in range(round(centre) - 9, round(centre) + 10) if p % 12 in allowed])
    weight = profile[pitches % 12] * np.exp(-np.abs(pitches - centre) / 12.0)
    if previous is not None:
        weight = weight * np.exp(-np.abs(pitches - previous) / STEP_SEMITONES)
    return int(rng.choice(pitches, p=weight / weight.sum()))


def _nearest_pitch(pitch_class: int, near: float) -> int:
    return int(pitch_class + 12 * round((near - pitch_class) / 12))


def _note(time_of, beat: float, length: float, pitch: int, legato: float = LEGATO) -> Note:
    start, end = time_of(beat), time_of(beat + length)
    return Note(start, start + legato * (end - start), pitch, 90)


@dataclass(frozen=True)
class LoopedLine:
    """A line as a bar loop plays it, every `period` seconds: before its start, its end sounds. A result of
    whole bars makes a beat of pre-roll that its last beat fades into (bar_loop.py); hearing the line's
    last beat there, the pre-roll is the music the loop's end is, so the fade joins like to like."""

    line: Melody
    period: float

    @property
    def notes(self) -> tuple[Note, ...]:
        return self.line.notes

    def chroma(self, frame_rate: float, n_frames: int, offset: float = 0.0) -> np.ndarray:
        out = self.line.chroma(frame_rate, n_frames, offset)
        before = min(n_frames, max(0, math.ceil(-offset * frame_rate - 1e-9)))  # frames before the start
        out[:, :before] = self.line.chroma(frame_rate, before, offset + self.period)
        return out

    def to_midi(self, path, grid=None) -> None:
        self.line.to_midi(path, grid)
