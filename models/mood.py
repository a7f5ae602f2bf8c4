"""Mood: valence and arousal (each -1..1, the circumplex model of affect), with the styles as named points
in that plane, and mood that moves over time.

One text form serves the CLI, the wire and presets:

    calm                        a style: that style's point
    0.3,-0.6                    a point: valence, arousal
    calm*0.7+sleep*0.3          a mix of styles (weights need not sum to 1; `calm+sleep` is half each)
    0:tense; 300:calm; 1200:sleep   a trajectory: seconds:mood entries, in time order

A mood becomes weights over the model's styles (`MoodCurve.at`): a style or a mix is its own weights; a
point weighs each style by the inverse fourth power of its distance, so a style's own point is that style
alone and a point between two styles is mostly those two. Between two entries of a trajectory the weights
move linearly; before the first and after the last they hold. The model hears the weighted mean of its
style embeddings (unet.MelUNet1D), and the level and balance it is held to move with them.

Standard library only: the spec checks a mood's grammar without loading torch.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from .entries import NUMBER, EntryError, timed_entries
from .errors import ReverieError

# Where the default model's styles sit in the valence/arousal plane (Russell's circumplex): sleep is the
# least aroused, tense the most aroused of the unpleasant ones, happy pleasant and aroused.
STYLE_POINTS: dict[str, tuple[float, float]] = {
    "sleep": (0.2, -0.9),
    "calm": (0.5, -0.5),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "tense": (-0.6, 0.7),
}
DISTANCE_POWER = 4
MAX_ENTRIES = 64
ALLOWED = (
    'a style ("calm"), a point "valence,arousal" each -1..1 ("0.3,-0.6"), a mix ("calm*0.7+sleep*0.3"), '
    'or a trajectory of seconds:mood entries ("0:tense; 300:calm; 1200:sleep")'
)


@dataclass(frozen=True)
class MoodCurve:
    """Mood over time: (seconds, weights over `styles`) entries in time order; one entry is a constant mood."""

    styles: tuple[str, ...]
    entries: tuple[tuple[float, tuple[float, ...]], ...]

    @property
    def moves(self) -> bool:
        return len({weights for _, weights in self.entries}) > 1

    def at(self, seconds: float) -> tuple[float, ...]:
        """The weights over the styles at `seconds`: linear between entries, held outside them."""
        times = [t for t, _ in self.entries]
        i = bisect.bisect_right(times, seconds)
        if i == 0:
            return self.entries[0][1]
        if i == len(times):
            return self.entries[-1][1]
        (t0, w0), (t1, w1) = self.entries[i - 1], self.entries[i]
        share = (seconds - t0) / (t1 - t0)
        return tuple(a + (b - a) * share for a, b in zip(w0, w1))

    def point(self, seconds: float) -> tuple[float, float]:
        """The valence and arousal of the mood at `seconds`: its weights' mean of the styles' points."""
        return point_of(self.at(seconds), self.styles)


def parse_mood(value, styles: tuple[str, ...] = tuple(STYLE_POINTS)) -> MoodCurve:
    """A mood in the text form above (or a preset's [[seconds, mood], ...] list) as weights over `styles`."""
    text = as_text(value)
    try:
        parts = timed_entries(text)
    except EntryError as exc:
        raise _error(value, str(exc)) from None
    if len(parts) > MAX_ENTRIES:
        raise _error(value, f"has {len(parts)} entries, more than {MAX_ENTRIES}")
    return MoodCurve(styles, tuple((seconds or 0.0, _weights(mood, styles, value)) for seconds, mood in parts))


def as_text(value) -> str:
    """The text form of a mood given as text or as a preset's [[seconds, mood], ...] list."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(_is_entry(e) for e in value):
        return "; ".join(f"{_number_text(t)}:{_mood_text(m)}" for t, m in value)
    raise _error(value, "is neither text nor a list of [seconds, mood] pairs")


def point_of(weights: tuple[float, ...], styles: tuple[str, ...]) -> tuple[float, float]:
    placed = [(w, STYLE_POINTS[s]) for w, s in zip(weights, styles) if s in STYLE_POINTS]
    total = sum(w for w, _ in placed) or 1.0
    return (sum(w * p[0] for w, p in placed) / total, sum(w * p[1] for w, p in placed) / total)


def weights_of_point(valence: float, arousal: float, styles: tuple[str, ...]) -> tuple[float, ...]:
    """Weights over `styles` for a point: inverse fourth power of the distance to each placed style."""
    placed = [s for s in styles if s in STYLE_POINTS]
    if not placed:
        raise ReverieError(
            f"this model's styles ({', '.join(styles)}) have no place in the valence/arousal plane; "
            "give a style or a mix of its styles",
            field="mood",
        )
    distances = {s: math.dist((valence, arousal), STYLE_POINTS[s]) for s in placed}
    nearest = min(distances, key=distances.get)
    if distances[nearest] < 1e-9:
        return tuple(1.0 if s == nearest else 0.0 for s in styles)
    inverse = {s: distances[s] ** -DISTANCE_POWER for s in placed}
    total = sum(inverse.values())
    return tuple(inverse.get(s, 0.0) / total for s in styles)


def _weights(text: str, styles: tuple[str, ...], whole) -> tuple[float, ...]:
    if "," in text:
        coordinates = [c.strip() for c in text.split(",")]
        if len(coordinates) != 2 or not all(NUMBER.match(c) for c in coordinates):
            raise _error(whole, f"point {text!r} is not two numbers valence,arousal (each -1 to 1)")
        valence, arousal = map(float, coordinates)
        if not (-1 <= valence <= 1 and -1 <= arousal <= 1):
            raise _error(whole, f"point {text!r} is outside the plane; valence and arousal are each -1 to 1")
        return weights_of_point(valence, arousal, styles)
    mix = {}
    for term in text.split("+"):
        name, _, weight = term.strip().partition("*")
        name, weight = name.strip(), weight.strip()
        if name not in styles:
            raise ReverieError(
                f"unknown style {name!r} in mood {whole!r}; allowed styles: {', '.join(styles)}; a mood is {ALLOWED}",
                field="mood",
            )
        if weight and not (NUMBER.match(weight) and float(weight) > 0):
            raise _error(whole, f"weight {weight!r} of {name} is not a number above 0")
        mix[name] = mix.get(name, 0.0) + (float(weight) if weight else 1.0)
    total = sum(mix.values())
    return tuple(mix.get(s, 0.0) / total for s in styles)


def _is_entry(entry) -> bool:
    return (
        isinstance(entry, (list, tuple))
        and len(entry) == 2
        and isinstance(entry[0], (int, float))
        and not isinstance(entry[0], bool)
        and isinstance(entry[1], (str, list, tuple))
    )


def _mood_text(mood) -> str:
    """A trajectory entry's mood: text, or a [valence, arousal] pair."""
    if isinstance(mood, str):
        return mood
    return ",".join(_number_text(c) for c in mood)


def _number_text(value: float) -> str:
    return f"{value:g}"


def _error(value, why: str) -> ReverieError:
    return ReverieError(f"mood {value!r} {why}; a mood is {ALLOWED}", field="mood")
