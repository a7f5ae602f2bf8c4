"""Keys: parse a key name, estimate the key of notes (Krumhansl-Schmuckler), snap pitches to its scale."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import ReverieError

NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the raised leading tone (harmonic minor)
# A degree (semitones over the tonic) of a major key as a minor key's, and back: the third and sixth (and
# the major's seventh, from minor's flat one) change; the rest is shared.
TO_MINOR = {4: 3, 9: 8}
TO_MAJOR = {3: 4, 8: 9, 10: 11}
KEY_PATTERN = re.compile(r"^\s*([A-Ga-g])\s*([#b♯♭]?)\s*(major|maj|minor|min|m|)\s*$", re.IGNORECASE)
ALLOWED = 'a tonic A to G with an optional # or b, then "major" (default) or "minor"/"m", e.g. "C", "F# minor", "Bbm"'


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11
    minor: bool

    @property
    def scale(self) -> frozenset[int]:
        steps = MINOR_SCALE if self.minor else MAJOR_SCALE
        return frozenset((self.tonic + s) % 12 for s in steps)

    def __str__(self) -> str:
        return f"{NAMES[self.tonic]} {'minor' if self.minor else 'major'}"


def parse_key(text: str) -> Key:
    match = KEY_PATTERN.match(text) if isinstance(text, str) else None
    if not match:
        raise ReverieError(f"key {text!r} is not a key name; give {ALLOWED}", field="key")
    letter, accidental, mode = match.groups()
    # a lone lower-case "b" after the letter is a flat ("bb" = B flat); "m"/"min"/"minor" is minor
    tonic = LETTERS[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
    return Key(tonic % 12, mode.lower() in ("minor", "min", "m"))


def estimate_key(pitches: np.ndarray, weights: np.ndarray) -> Key:
    """The major or minor key whose profile best correlates with the weighted pitch-class histogram."""
    histogram = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, weights=weights, minlength=12)
    best, best_r = Key(0, False), -np.inf
    for minor, profile in ((False, MAJOR_PROFILE), (True, MINOR_PROFILE)):
        for tonic in range(12):
            r = np.corrcoef(histogram, np.roll(profile, tonic))[0, 1] if histogram.std() > 0 else 0.0
            if r > best_r + 1e-12:
                best, best_r = Key(tonic, minor), r
    return best


def moved(pitch: int, source: Key, target: Key) -> int:
    """A pitch of a melody in `source` as the same degree of `target`: moved to the target's tonic by the
    nearest way (at most 6 semitones down or 5 up), then its third, sixth and seventh made the target's
    mode's."""
    shift = (target.tonic - source.tonic + 6) % 12 - 6
    pitch += shift
    if source.minor != target.minor:
        degree = (pitch - target.tonic) % 12
        pitch += (TO_MINOR if target.minor else TO_MAJOR).get(degree, degree) - degree
    return pitch


def snap(pitch: float, key: Key, strict: bool, confident: float = 0.3) -> int:
    """The MIDI note for a sung (fractional) pitch.

    strict: the nearest note in the key's scale. Otherwise the nearest
    semitone, unless it is outside the scale and the pitch was sung more than
    `confident` semitones off it (ambiguous intonation): then the nearest
    scale note.
    """
    nearest = int(round(pitch))
    if nearest % 12 in key.scale or (not strict and abs(pitch - nearest) <= confident):
        return nearest
    candidates = [n for n in range(nearest - 2, nearest + 3) if n % 12 in key.scale]
    return min(candidates, key=lambda n: (abs(pitch - n), n))
