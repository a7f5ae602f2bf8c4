"""Turn a score excerpt into a performance in one style: the notes that will be heard, in seconds.

Order matters: the melody is chosen (skyline) on the written notes, then the
mode is re-spelled and everything transposed; both maps keep pitch order, so
the melody stays the top voice of what is heard. The melody written to MIDI
is exactly the channel-0 notes given to the synthesiser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..melody.key import TO_MAJOR, TO_MINOR
from .scores import ScoreNotes, ScoreUnusable, estimate_key
from .styles import ANY_TEMPO, ANY_TEMPO_SHARE, Style

MELODY, CHORDS, BASS = 0, 1, 2  # synthesiser channels
LOWEST_MIDI = 28  # E1: lower notes are octave-folded up, the soundfont has little below
MIN_SECONDS_PER_NOTE = 2.5  # a clip needs at least one melody note per this many seconds
MIN_MELODY_COVER = 0.4  # and a melody sounding at least this fraction of the clip

# Scale-degree re-spellings (semitones above the tonic). Both are monotone, so
# no two notes swap order. major->minor keeps the raised 7th (harmonic minor).
# Diatonic triads as degree sets, with a small prior so cadential chords win ties.
_TRIADS = {
    "major": [((0, 4, 7), 0.30), ((7, 11, 2), 0.20), ((5, 9, 0), 0.15), ((9, 0, 4), 0.05), ((2, 5, 9), 0.0)],
    "minor": [((0, 3, 7), 0.30), ((7, 11, 2), 0.20), ((5, 8, 0), 0.15), ((8, 0, 3), 0.05), ((3, 7, 10), 0.0)],
}


@dataclass(frozen=True)
class Note:
    start: float  # seconds from clip start
    end: float
    midi: int
    velocity: int
    channel: int


@dataclass(frozen=True)
class Performance:
    notes: tuple[Note, ...]  # every note heard, sorted by start; channel 0 is the melody
    tempo_us: int  # microseconds per quarter note (the MIDI file's one tempo)
    transposition: int  # semitones applied to the score
    mode: str
    programs: tuple[int, int, int]  # melody, chords, bass (General MIDI, 0-based)
    bar: float = 4.0  # quarter notes per bar; time 0 is a bar line
    tonic: int = 0  # pitch class of the key the clip is in (its mode is `mode`)

    @property
    def bpm(self) -> float:
        return 60_000_000 / self.tempo_us

    @property
    def melody(self) -> list[Note]:
        return [n for n in self.notes if n.channel == MELODY]


def arrange(score: ScoreNotes, style: Style, clip_seconds: float, rng: np.random.Generator) -> Performance:
    # One uniform draw picks both the kind of tempo and the tempo, so the rest of a seed's draws (score,
    # excerpt, register, instruments) stay what they were before any-tempo clips were made.
    u = rng.uniform()
    if u < ANY_TEMPO_SHARE:
        bpm = float(np.exp(np.interp(u / ANY_TEMPO_SHARE, (0, 1), np.log(ANY_TEMPO))))
    else:
        bpm = float(np.interp((u - ANY_TEMPO_SHARE) / (1 - ANY_TEMPO_SHARE), (0, 1), style.tempo))
    tempo_us = int(round(60_000_000 / bpm))
    spq = tempo_us / 1_000_000  # seconds per quarter, exactly what the MIDI tempo says
    span_q = clip_seconds / spq
    start = _choose_start(score, span_q, rng)
    window = _window(score, start, start + span_q)  # (onset, dur, midi, part), quarters from clip start
    melody, accomp = _skyline(window)
    if not melody:
        raise ScoreUnusable(f"{score.score_id}: no notes in the excerpt")

    tonic, source_mode = estimate_key(score)
    mel_pitches = [_respell(m, tonic, source_mode, style) for _, _, m, _ in melody]
    shift = int(rng.integers(style.register[0], style.register[1] + 1)) - int(np.median(mel_pitches))
    melody = [(on, d, p + shift, part) for (on, d, _, part), p in zip(melody, mel_pitches)]
    accomp = [(on, d, _respell(m, tonic, source_mode, style) + shift, part) for on, d, m, part in accomp]
    tonic = (tonic + shift) % 12

    bass_part = _lowest_part(score) if len(score.parts) > 1 else -1
    acc_notes: list[tuple[float, float, int, int]] = []  # onset, dur, midi, channel
    if len(accomp) >= 0.25 * len(melody):
        for on, d, m, part in accomp:
            if style.chromatic and (m - tonic) % 12 == 7 and rng.random() < 0.35:
                m -= 1  # a diminished fifth here and there
            for piece_on, piece_d in _tremolo(on, d) if style.tremolo else [(on, d)]:
                acc_notes.append((piece_on, piece_d, m, BASS if part == bass_part else CHORDS))
    else:  # a bare tune: add chords under it so it is music, not a single line
        acc_notes = _derived_chords(melody, tonic, style, score.bar, span_q)
    acc_notes = [(on, d, _fold_up(m), ch) for on, d, m, ch in acc_notes if on < span_q]

    base_vel = int(rng.integers(style.velocity[0], style.velocity[1] + 1))
    notes = []
    for on, d, m, _ in melody:
        accent = 6 if _on_downbeat(on + start, score.bar) else 0
        vel = base_vel + accent + int(rng.integers(-5, 6))
        notes.append(_timed(on, d, m, vel, MELODY, style, spq, clip_seconds))
    for on, d, m, ch in acc_notes:
        vel = base_vel - (12 if ch == BASS else 20) + int(rng.integers(-5, 6))
        notes.append(_timed(on, d, m, vel, ch, style, spq, clip_seconds))
    notes = _no_overlaps(notes)
    _check_melody([n for n in notes if n.channel == MELODY], clip_seconds, score.score_id)

    programs = (
        int(rng.choice(style.melody_programs)),
        int(rng.choice(style.chord_programs)),
        int(rng.choice(style.bass_programs)),
    )
    return Performance(tuple(notes), tempo_us, shift, style.mode, programs, float(score.bar), tonic)


def _check_melody(melody: list[Note], clip_seconds: float, score_id: str) -> None:
    """A clip must carry a tune: some notes, sounding much of the time (not one held breve)."""
    need = math.ceil(clip_seconds / MIN_SECONDS_PER_NOTE)
    covered = sum(n.end - n.start for n in melody)
    if len(melody) < need or covered < MIN_MELODY_COVER * clip_seconds:
        raise ScoreUnusable(f"{score_id}: melody too sparse ({len(melody)} notes, {covered:.1f} s)")


def _choose_start(score: ScoreNotes, span_q: float, rng: np.random.Generator) -> float:
    bars = max(1, int(score.length // score.bar))
    need = math.ceil(span_q / score.bar)
    return float(rng.integers(0, max(1, bars - need + 1))) * score.bar


def _window(score: ScoreNotes, start: float, end: float) -> list[tuple[float, float, int, int]]:
    """Notes starting in [start, end), relative to start; short scores repeat from the top."""
    period = math.ceil(score.length / score.bar) * score.bar
    out = []
    repeat = 0
    while repeat * period < end:
        for part_index, part in enumerate(score.parts):
            for on, d, m in part:
                t = on + repeat * period
                if start <= t < end:
                    out.append((t - start, d, m, part_index))
        repeat += 1
    out.sort(key=lambda n: (n[0], -n[2], n[3]))
    return out


def _skyline(notes: list[tuple[float, float, int, int]]):
    """Split into melody (highest note heard at each onset, monophonic) and accompaniment."""
    melody: list[tuple[float, float, int, int]] = []
    accomp = []
    sounding: list[tuple[float, int]] = []  # (end, midi) of notes already started
    i = 0
    while i < len(notes):
        onset = notes[i][0]
        group = []
        while i < len(notes) and notes[i][0] == onset:
            group.append(notes[i])
            i += 1
        sounding = [(e, m) for e, m in sounding if e > onset]
        top = group[0]  # sorted by pitch, highest first
        if all(top[2] >= m for _, m in sounding):
            if melody and melody[-1][0] + melody[-1][1] > onset:
                on, _, m, part = melody[-1]
                melody[-1] = (on, onset - on, m, part)  # the new top cuts the old one
            melody.append(top)
            accomp.extend(group[1:])
        else:
            accomp.extend(group)
        sounding.extend((on + d, m) for on, d, m, _ in group)
    return melody, accomp


def _respell(midi: int, tonic: int, source_mode: str, style: Style) -> int:
    degree = (midi - tonic) % 12
    if source_mode != style.mode:
        degree_map = TO_MINOR if style.mode == "minor" else TO_MAJOR
        midi += degree_map.get(degree, degree) - degree
        degree = (midi - tonic) % 12
    if style.chromatic and degree == 2:
        midi -= 1  # Phrygian flat second: the darkest colour a minor key can borrow
    return midi


def _lowest_part(score: ScoreNotes) -> int:
    means = [np.mean([m for _, _, m in p]) for p in score.parts]
    return int(np.argmin(means))


def _fold_up(midi: int) -> int:
    while midi < LOWEST_MIDI:
        midi += 12
    return midi


def _tremolo(onset: float, dur: float, step: float = 0.25) -> list[tuple[float, float]]:
    count = max(1, int(round(dur / step)))
    return [(onset + k * step, step) for k in range(count)]


def _derived_chords(melody, tonic: int, style: Style, bar: float, span_q: float):
    """One diatonic triad per bar (half bar in long metres), voiced below the tune, in the style's figure."""
    step = bar if bar <= 4 else bar / 2
    out = []
    t = 0.0
    while t < span_q:
        inside = [(max(on, t), min(on + d, t + step), m) for on, d, m, _ in melody if on < t + step and on + d > t]
        weights = np.zeros(12)
        for a, b, m in inside:
            weights[(m - tonic) % 12] += b - a
        triads = _TRIADS[style.mode]
        degrees = max(triads, key=lambda tp: sum(weights[x] for x in tp[0]) / max(step, 1e-9) + tp[1])[0]
        ceiling = (min(m for _, _, m in inside) if inside else int(np.median([m for _, _, m, _ in melody]))) - 2
        chord = sorted(_below(tonic + x, ceiling) for x in degrees)
        bass = _below(tonic + degrees[0], chord[0] - 1)
        out.extend(_figure(style.figure, t, step, chord, bass))
        t += step
    return out


def _below(pitch_class: int, ceiling: int) -> int:
    """The highest pitch of this class at or below the ceiling."""
    return ceiling - ((ceiling - pitch_class) % 12)


def _figure(figure: str, t: float, step: float, chord: list[int], bass: int):
    if figure == "pad":
        return [(t, step, m, CHORDS) for m in chord] + [(t, step, bass, BASS)]
    if figure == "arpeggio":
        order = [chord[0], chord[1], chord[2], chord[1]]
        return [(t, step, bass, BASS)] + [(t + k * 0.5, 0.5, order[k % 4], CHORDS) for k in range(int(step / 0.5))]
    if figure == "oompah":
        out = []
        for k in range(max(1, int(step))):
            if k % 2 == 0:
                out.append((t + k, 1.0, bass if k % 4 == 0 else bass - 5, BASS))  # root, fifth below
            else:
                out.extend((t + k, 1.0, m, CHORDS) for m in chord)
        return out
    if figure == "tremolo":
        return [(on, d, m, CHORDS) for m in chord for on, d in _tremolo(t, step)] + [
            (on, d, bass, BASS) for on, d in _tremolo(t, step, 0.5)
        ]
    raise ValueError(f"unknown figure {figure!r}")


def _on_downbeat(q: float, bar: float) -> bool:
    return abs(q / bar - round(q / bar)) < 1e-6


def _timed(on: float, d: float, m: int, vel: int, ch: int, style: Style, spq: float, clip: float) -> Note:
    start = on * spq
    end = start + max(0.06, d * style.articulation * spq)
    return Note(start, min(end, clip), int(m), int(min(127, max(1, vel))), ch)


def _no_overlaps(notes: list[Note]) -> list[Note]:
    """Cut a note where the next one on the same key and channel starts, and the melody at its next note.

    A synthesiser note-off would otherwise silence both, and the melody must stay one line.
    """
    notes = sorted(notes, key=lambda n: (n.start, n.channel, n.midi))
    next_start: dict[tuple[int, int], float] = {}
    next_melody = math.inf
    out = []
    for n in reversed(notes):
        end = min(n.end, next_start.get((n.channel, n.midi), math.inf))
        if n.channel == MELODY:
            end = min(end, next_melody)
            next_melody = n.start
        next_start[(n.channel, n.midi)] = n.start
        if end > n.start:
            out.append(Note(n.start, end, n.midi, n.velocity, n.channel))
    return sorted(out, key=lambda n: (n.start, n.channel, n.midi))
