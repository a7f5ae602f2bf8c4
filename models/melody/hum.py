"""Hummed, whistled or sung take -> notes.

1. pitch every 10 ms with CREPE (`pitch.py`);
2. voicing: CREPE periodicity and loudness (absolute and relative to the
   loudest moment) must both pass; 20 ms dropouts are bridged;
3. segmentation: inside each voiced run a note-level Viterbi picks one
   semitone per frame with a cost for changing note, so vibrato and glides
   do not split a note while real pitch changes do; a note's decayed tail
   (release, room reverb) is cut; same-pitch notes are split where the
   loudness dips in every frequency band at once (re-articulation); notes
   shorter than MIN_NOTE_SECONDS merge into a neighbour or go;
4. each note's pitch is the median of its frames (vibrato and glide tolerant),
   after removing the singer's overall tuning offset, then snapped to the key
   (given, or estimated with Krumhansl-Schmuckler).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..audio import Audio, to_mid
from ..errors import ReverieError
from .key import Key, estimate_key, parse_key, snap
from .notes import Note
from .pitch import MODELS, PitchTrack, track_pitch

# CREPE capacity. Measured on this project's 2 shared CPU cores: "tiny" 0.25 s per second of audio
# when the machine was quiet (up to 0.9 s under heavy load), "full" about 13 s; "tiny" already
# recovers every note of the synthetic test hums (full was not evaluated on them).
MODEL = "tiny"
MIN_NOTE_SECONDS = 0.08
PERIODICITY = 0.5  # CREPE confidence needed for a voiced frame
GATE_ABS_DB = -55.0  # quieter frames are unvoiced ...
GATE_REL_DB = 30.0  # ... and so are frames this far below the loudest frame
BRIDGE_FRAMES = 2  # unvoiced dropouts this short inside a note are bridged
SIGMA = 0.35  # semitones: how far a frame may stray from its note (vibrato, drift)
CHANGE_COST = 10.0  # note-change penalty in the segmentation Viterbi (in squared-sigma units)
DIP_DB = 5.0  # a loudness dip this deep (median over bands) between two louder parts re-articulates a note
BAND_RANGE_DB = 30.0  # bands this far below the strongest one do not vote on dips
TAIL_DB = 15.0  # a note ends where its level has fallen this far below its median
MAX_SECONDS = 600.0


def transcribe(audio: Audio, key: str | None = None, model: str = MODEL) -> list[Note]:
    notes, _ = transcribe_with_key(audio, key=key, model=model)
    return notes


def transcribe_with_key(audio: Audio, key: str | None = None, model: str = MODEL) -> tuple[list[Note], Key]:
    """Notes and the key used to snap them (given or estimated)."""
    chosen = parse_key(key) if key is not None else None
    if model not in MODELS:
        raise ReverieError(f"pitch model {model!r} is unknown; choose one of {', '.join(MODELS)}", field="model")
    if not isinstance(audio, Audio):
        raise ReverieError(f"the hum must be audio (models.audio.Audio), got {type(audio).__name__}", field="hum")
    audio.validate("hum")
    if audio.seconds > MAX_SECONDS:
        raise ReverieError(
            f"the hummed take is {audio.seconds:.0f} s long; give at most {MAX_SECONDS:.0f} s", field="hum"
        )
    track = track_pitch(to_mid(audio), audio.sample_rate, model)
    runs = voiced_runs(track)
    if runs:  # segment in the singer's own tuning: a take 40 cents sharp is still in tune with itself
        track = replace(track, pitch=track.pitch - tuning_offset(track, runs))
    segments = [s for run in runs for s in segment_run(track, *run)]
    if not segments:
        raise ReverieError(
            f"no voiced notes found in the hummed take ({audio.seconds:.1f} s); hum, sing or whistle a clear "
            f"melody with notes of at least {MIN_NOTE_SECONDS * 1000:.0f} ms, louder than the background",
            field="hum",
        )
    return to_notes(track, segments, chosen)


def voiced_runs(track: PitchTrack) -> list[tuple[int, int]]:
    gate = max(GATE_ABS_DB, track.level_db.max() - GATE_REL_DB)
    voiced = (track.periodicity >= PERIODICITY) & (track.level_db >= gate) & np.isfinite(track.pitch)
    runs: list[list[int]] = []
    for a, b in runs_of(voiced):
        if runs and a - runs[-1][1] <= BRIDGE_FRAMES:
            runs[-1][1] = b  # a dropout inside a note; a real re-articulation shows as a loudness dip
        else:
            runs.append([a, b])
    return [(a, b) for a, b in runs]


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def segment_run(track: PitchTrack, a: int, b: int) -> list[tuple[int, int]]:
    """Split frames [a, b) into notes: pitch changes (Viterbi), then loudness dips; drop or merge short bits."""
    min_frames = int(round(MIN_NOTE_SECONDS / track.hop_seconds))
    if b - a < min_frames:
        return []
    pitch = track.pitch[a:b]
    states = np.arange(int(np.floor(pitch.min())) - 1, int(np.ceil(pitch.max())) + 2)
    cost = np.minimum((pitch[:, None] - states[None, :]) ** 2 / (2 * SIGMA**2), 50.0)
    path = viterbi_notes(cost, CHANGE_COST)
    pieces = [(a + s, a + e) for s, e in change_points(path)]
    pieces = [trim_tail(track, s, e) for s, e in merge_short(track, pieces, min_frames)]
    out: list[tuple[int, int]] = []
    for s, e in pieces:
        out.extend(split_dips(track, s, e, min_frames))
    return [(s, e) for s, e in out if e - s >= min_frames]


def viterbi_notes(cost: np.ndarray, change: float) -> np.ndarray:
    """Cheapest state path where every change of state costs `change`."""
    total = cost[0].copy()
    back = np.zeros(cost.shape, dtype=np.int64)
    for t in range(1, len(cost)):
        jump = total.argmin()
        switch = total[jump] + change
        stay = total < switch
        back[t] = np.where(stay, np.arange(cost.shape[1]), jump)
        total = np.where(stay, total, switch) + cost[t]
    path = np.empty(len(cost), dtype=np.int64)
    path[-1] = total.argmin()
    for t in range(len(cost) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def change_points(path: np.ndarray) -> list[tuple[int, int]]:
    cuts = np.flatnonzero(np.diff(path)) + 1
    bounds = np.concatenate([[0], cuts, [len(path)]])
    return list(zip(bounds[:-1], bounds[1:]))


def core_pitch(track: PitchTrack, s: int, e: int) -> float:
    """Median pitch of a note's middle (its first and last fifth hold the glides)."""
    trim = (e - s) // 5
    return float(np.median(track.pitch[s + trim : e - trim]))


def merge_short(track: PitchTrack, pieces: list[tuple[int, int]], min_frames: int) -> list[tuple[int, int]]:
    """Merge pieces shorter than min_frames into the touching neighbour nearest in pitch, shortest first."""
    pieces = [list(p) for p in pieces]
    while len(pieces) > 1:
        lengths = [e - s for s, e in pieces]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_frames:
            break
        here = core_pitch(track, *pieces[i])
        options = [j for j in (i - 1, i + 1) if 0 <= j < len(pieces)]
        j = min(options, key=lambda j: abs(core_pitch(track, *pieces[j]) - here))
        lo, hi = min(i, j), max(i, j)
        pieces[lo : hi + 1] = [[pieces[lo][0], pieces[hi][1]]]
    return [tuple(p) for p in pieces if p[1] - p[0] >= min_frames]


def trim_tail(track: PitchTrack, s: int, e: int) -> tuple[int, int]:
    """Cut a note's end where it has decayed TAIL_DB below its middle (a release or the room's reverb)."""
    floor = np.median(track.level_db[s:e]) - TAIL_DB
    while e - s > 1 and track.level_db[e - 1] < floor:
        e -= 1
    return s, e


def dip_depths(track: PitchTrack, s: int, e: int, margin: int) -> np.ndarray:
    """For every split point i in [margin, n - margin]: how far the level dips at i below the louder
    parts on both sides, as the median over the bands that carry the note. A re-articulation dips in
    every band together; vibrato sweeping harmonics through room resonances moves bands apart."""
    bands = track.band_db[s:e]
    bands = bands[:, bands.max(axis=0) > bands.max() - BAND_RANGE_DB]
    left = np.maximum.accumulate(bands, axis=0)
    right = np.maximum.accumulate(bands[::-1], axis=0)[::-1]
    depth = np.median(np.minimum(left, right) - bands, axis=1)
    return depth[margin : len(depth) - margin + 1]


def split_dips(track: PitchTrack, s: int, e: int, min_frames: int) -> list[tuple[int, int]]:
    """Split a same-pitch piece at its deepest loudness dip with louder parts on both sides."""
    if e - s < 2 * min_frames:
        return [(s, e)]
    depth = dip_depths(track, s, e, min_frames)
    if depth.size == 0 or depth.max() < DIP_DB:
        return [(s, e)]
    best = min_frames + int(depth.argmax())
    return split_dips(track, s, s + best, min_frames) + split_dips(track, s + best, e, min_frames)


def tuning_offset(track: PitchTrack, segments: list[tuple[int, int]]) -> float:
    """The singer's overall offset from equal temperament (A = 440 Hz), in semitones, -0.5..0.5."""
    frames = np.concatenate([np.arange(s, e) for s, e in segments])
    angle = np.angle(np.sum(np.exp(2j * np.pi * track.pitch[frames])))
    return float(angle / (2 * np.pi))


def to_notes(track: PitchTrack, segments: list[tuple[int, int]], key: Key | None) -> tuple[list[Note], Key]:
    """Notes from segments of a tuning-corrected track: median pitch snapped to the key, loudness as velocity."""
    sung = np.array([core_pitch(track, s, e) for s, e in segments])
    seconds = np.array([(e - s) * track.hop_seconds for s, e in segments])
    strict = key is not None
    if key is None:
        key = estimate_key(np.round(sung).astype(np.int64), seconds)
    loudness = np.array([np.median(track.level_db[s:e]) for s, e in segments])
    velocity = np.clip(np.round(100 + 2 * (loudness - loudness.max())), 30, 127).astype(int)
    notes = []
    for (s, e), p, v in zip(segments, sung, velocity):
        pitch = int(np.clip(snap(p, key, strict), 0, 127))
        notes.append(Note(s * track.hop_seconds, e * track.hop_seconds, pitch, int(v)))
    return notes, key
