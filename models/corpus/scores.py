"""Scores from music21's bundled corpus, reduced to plain note lists.

A score becomes `ScoreNotes`: one list of (onset, duration, midi) per part,
times in quarter notes. Parsing is the slow step of the corpus build (0.1 to
3 s a score), so the reduced form is cached as JSON, keyed by the corpus path
and the music21 version; JSON keeps floats exact, so a cached score renders
bit-identically to a freshly parsed one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Roman-numeral analyses are harmony sketches, not compositions.
SKIP_SUFFIXES = {".rntxt"}
CACHE_FORMAT = 1
MIN_NOTES = 16
MIN_QUARTERS = 8.0


class ScoreUnusable(Exception):
    """This score cannot be used (parse error, too short, no pitched notes); try another."""


@dataclass(frozen=True)
class ScoreNotes:
    score_id: str  # corpus-relative path, plus "#N" for one tune of a multi-tune file
    parts: tuple[tuple[tuple[float, float, int], ...], ...]  # per part: (onset, duration, midi), quarters
    bar: float  # bar length in quarters (first time signature), for choosing clip starts
    length: float  # end of the last note, quarters


def corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def list_scores() -> list[str]:
    """Every usable file of the core corpus as a sorted corpus-relative path (about 3,100)."""
    from music21 import corpus

    root = corpus_root()
    rel = {Path(p).relative_to(root).as_posix() for p in corpus.getPaths()}
    return sorted(r for r in rel if Path(r).suffix not in SKIP_SUFFIXES)


def tune_numbers(rel_path: str) -> list[int]:
    """Reference numbers of an ABC file that holds several tunes (Essen, O'Neill's); [] otherwise.

    Parsing a whole 200-tune file takes 30 s, one tune by number 0.4 s.
    """
    if not rel_path.endswith(".abc"):
        return []
    text = (corpus_root() / rel_path).read_text(encoding="latin-1")
    numbers = [int(n) for n in re.findall(r"^X:\s*(\d+)", text, re.M)]
    return numbers if len(numbers) > 1 else []


def load_score(rel_path: str, number: int | None, cache_dir: Path | None) -> ScoreNotes:
    score_id = rel_path if number is None else f"{rel_path}#{number}"
    cache_file = _cache_file(cache_dir, score_id) if cache_dir else None
    if cache_file is not None and cache_file.exists():
        data = json.loads(cache_file.read_text())
        if data.get("unusable"):
            raise ScoreUnusable(data["unusable"])
        return _from_json(data)
    try:
        notes = _parse(rel_path, number, score_id)
    except ScoreUnusable as exc:
        _write_cache(cache_file, {"unusable": str(exc)})
        raise
    _write_cache(cache_file, _to_json(notes))
    return notes


def _parse(rel_path: str, number: int | None, score_id: str) -> ScoreNotes:
    from music21 import chord, corpus, harmony, meter, note, stream

    try:
        # forceSource: music21 would otherwise pickle every score into a shared scratch folder.
        parsed = corpus.parse(corpus_root() / rel_path, number=number, forceSource=True)
    except Exception as exc:  # music21 raises many types for malformed files
        raise ScoreUnusable(f"{score_id}: {type(exc).__name__}: {exc}") from exc
    if isinstance(parsed, stream.Opus):
        if not parsed.scores:
            raise ScoreUnusable(f"{score_id}: empty opus")
        parsed = parsed.scores[0]
    parts = list(parsed.parts) or [parsed]
    out = []
    for part in parts:
        flat = part.flatten()
        events = []
        for el in flat.notes:
            if isinstance(el, harmony.ChordSymbol) or not isinstance(el, (note.Note, chord.Chord)):
                continue  # chord symbols and unpitched percussion are not heard notes
            dur = float(el.quarterLength)
            if dur <= 0:
                continue  # grace notes
            members = [el] if isinstance(el, note.Note) else list(el.notes)
            for n in members:
                tie = n.tie.type if n.tie is not None else (el.tie.type if el.tie is not None else None)
                events.append((float(el.offset), dur, int(n.pitch.midi), tie))
        merged = _merge_ties(events)
        if merged:
            out.append(tuple(merged))
    total = sum(len(p) for p in out)
    if total < MIN_NOTES:
        raise ScoreUnusable(f"{score_id}: only {total} notes")
    length = max(on + d for p in out for on, d, _ in p)
    if length < MIN_QUARTERS:
        raise ScoreUnusable(f"{score_id}: only {length:g} quarter notes long")
    sig = next(iter(parsed.recurse().getElementsByClass(meter.TimeSignature)), None)
    bar = float(sig.barDuration.quarterLength) if sig is not None else 4.0
    return ScoreNotes(score_id, tuple(out), bar if bar > 0 else 4.0, length)


def _merge_ties(events: list[tuple[float, float, int, str | None]]) -> list[tuple[float, float, int]]:
    """Join tied notes into one sounding note (a tie start, continues, stop)."""
    events.sort(key=lambda e: (e[0], e[2]))
    done: list[tuple[float, float, int]] = []
    open_ties: dict[int, list[float]] = {}  # midi -> [onset, end]
    for onset, dur, midi, tie in events:
        held = open_ties.get(midi)
        if held is not None and tie in ("continue", "stop"):
            held[1] = max(held[1], onset + dur)
            if tie == "stop":
                done.append((held[0], held[1] - held[0], midi))
                del open_ties[midi]
            continue
        if held is not None:  # a new attack on a pitch whose tie never stopped
            done.append((held[0], held[1] - held[0], midi))
            del open_ties[midi]
        if tie in ("start", "continue"):
            open_ties[midi] = [onset, onset + dur]
        else:
            done.append((onset, dur, midi))
    done.extend((s, e - s, m) for m, (s, e) in open_ties.items())
    return sorted(done)


def _cache_file(cache_dir: Path, score_id: str) -> Path:
    import music21

    key = f"{score_id}|music21 {music21.__version__}|format {CACHE_FORMAT}"
    return cache_dir / (hashlib.sha1(key.encode()).hexdigest() + ".json")


def _write_cache(path: Path | None, data: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)  # atomic: parallel workers may write the same score


def _to_json(s: ScoreNotes) -> dict:
    return {"id": s.score_id, "parts": [list(map(list, p)) for p in s.parts], "bar": s.bar, "length": s.length}


def _from_json(d: dict) -> ScoreNotes:
    parts = tuple(tuple((float(a), float(b), int(c)) for a, b, c in p) for p in d["parts"])
    return ScoreNotes(d["id"], parts, float(d["bar"]), float(d["length"]))


# Krumhansl-Kessler key profiles (probe-tone ratings), index 0 = tonic.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(score: ScoreNotes) -> tuple[int, str]:
    """(tonic pitch class, "major" | "minor") by correlating the duration-weighted pitch-class histogram."""
    hist = np.zeros(12)
    for part in score.parts:
        for _, dur, midi in part:
            hist[midi % 12] += dur
    best = (-2.0, 0, "major")
    for tonic in range(12):
        rolled = np.roll(hist, -tonic)
        for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
            r = float(np.corrcoef(rolled, profile)[0, 1]) if rolled.std() > 0 else 0.0
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]
