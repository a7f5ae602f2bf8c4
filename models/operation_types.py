"""The types an operation is declared with: `Param`, one parameter and how a given value is checked against
it, and `Operation`, an operation's inputs, parameters and result length; the wire type names they use.

models/operations.py declares the five operations with them. Standard library only, as operations.py.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from .errors import ReverieError

# Wire types, named as in JSON (docs/protocol.md).
NUMBER, INTEGER, STRING, BOOLEAN = "number", "integer", "string", "boolean"
# A tempo: a bpm as a number (96) or text ("96"), or text of seconds:bpm entries ("0:84; 1200:60"); the
# pipeline takes its text form (grid.tempo_text).
TEMPO = "tempo"
# What an operation's result lasts (Operation.length): as many seconds as asked, as long as its main input,
# or its main input and `seconds` more.
ASKED, AS_INPUT, EXTENDED = "asked", "input", "input + seconds"


@dataclass(frozen=True)
class Param:
    """One parameter of an operation. `default` None means "the model's setting" unless `default_text`
    says what leaving it out means instead (the docs and `--help` show that text)."""

    name: str
    type: str
    help: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    required: bool = False
    # Only these values may stand for "open" ends: low is exclusive (seconds must be above 0).
    low_exclusive: bool = False
    default_text: str | None = None
    # Another parameter that says the same thing another way: given, it replaces this one's default.
    replaced_by: str | None = None
    # A tempo that may not move (a session's): one bpm.
    steady: bool = False

    def check(self, value: Any) -> Any:
        """The value as the pipeline uses it, or a ReverieError naming what is allowed."""
        if self.type == BOOLEAN:
            if not isinstance(value, bool):
                raise ReverieError(f"{self.name} must be true or false, got {value!r}", field=self.name)
            return value
        if self.type == STRING:
            return self._check_choice(value)
        if self.type == TEMPO:
            from .grid import parse_bpm, tempo_text  # numpy, not torch: a face that only validates stays light

            if self.steady and parse_bpm(value).steady_bpm is None:
                raise ReverieError(
                    f'{self.name} {value!r} moves; a session\'s tempo is one bpm, such as "96"', field=self.name
                )
            return tempo_text(value)
        value = checked_integer(value, self.name) if self.type == INTEGER else checked_number(value, self.name)
        return self._check_range(value)

    def _check_choice(self, value: Any) -> str:
        if self.choices is not None and (not isinstance(value, str) or value not in self.choices):
            raise ReverieError(f"unknown {self.name} {value!r}; allowed: {', '.join(self.choices)}", field=self.name)
        if not isinstance(value, str):
            raise ReverieError(f"{self.name} must be a string, got {value!r}", field=self.name)
        return value

    def _check_range(self, value):
        low_ok = self.low is None or (value > self.low if self.low_exclusive else value >= self.low)
        if low_ok and (self.high is None or value <= self.high):
            return value
        raise ReverieError(f"{self.name} must be {self.allowed}, got {_show(value)}", field=self.name)

    @property
    def allowed(self) -> str:
        """What may be given, in words, for messages and the docs."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.type == BOOLEAN:
            return "true or false"
        low, high = _show(self.low), _show(self.high)
        if self.low is not None and self.high is not None:
            return f"above {low} and at most {high}" if self.low_exclusive else f"between {low} and {high}"
        if self.low is not None:
            return f"{'above' if self.low_exclusive else 'at least'} {low}"
        words = {NUMBER: "a finite number", INTEGER: "a whole number", STRING: "a string"}
        bpm = 'a bpm (a number, or text such as "96")'
        return words.get(self.type, bpm if self.steady else f"{bpm}, or seconds:bpm entries")


@dataclass(frozen=True)
class Operation:
    """A pipeline operation: its audio inputs, its parameters and what its result lasts. Every operation
    may follow a melody (MIDI or a hummed take), given as a `Melody` object, or on the wire and the CLI as a
    file plus `TRACK`. Faces ask it what they need (`main_input`, `edits`, `length`, `filled`) rather
    than comparing names."""

    name: str
    help: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    length: str = AS_INPUT
    # Whether its result can be made chunk by chunk, memory constant in its length (pipeline.stream).
    streams: bool = False
    method: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # `continue` is a Python keyword: its method is `continue_`.
        object.__setattr__(self, "method", self.name + "_" if self.name == "continue" else self.name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.required)

    @property
    def main_input(self) -> str | None:
        """The input whose rate, channels and length the result follows; None for new audio."""
        return self.inputs[0] if self.inputs else None

    @property
    def edits(self) -> bool:
        """Whether it moves whole inputs a chosen distance (strength, or its timestep)."""
        return "strength" in self.names

    def filled(self, given: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every parameter: the value given (None counts as left out), else its default (`defaults`, such as
        a model's own steps, before the declared ones). A given `replaced_by` parameter sets the default
        aside (a timestep replaces strength)."""
        defaults = defaults or {}
        return {
            p.name: given[p.name] if given.get(p.name) is not None else self._default(p, given, defaults)
            for p in self.params
        }

    def check_alternatives(self, given: dict[str, Any], spell=str) -> None:
        """A parameter and the one that replaces it say the same thing two ways: at most one may be given.
        `spell` names a parameter as the face shows it (the CLI: `--timestep`)."""
        for p in self.params:
            if p.replaced_by is not None and given.get(p.name) is not None and given.get(p.replaced_by) is not None:
                raise ReverieError(f"give {spell(p.name)} or {spell(p.replaced_by)}, not both", field=p.replaced_by)

    def _default(self, p: Param, given: dict[str, Any], defaults: dict[str, Any]) -> Any:
        if p.replaced_by is not None and given.get(p.replaced_by) is not None:
            return None
        return defaults.get(p.name, p.default)

    def result_seconds(self, main_seconds: float | None, seconds: float | None) -> float:
        """How long the result lasts, from the main input's length and the seconds asked for."""
        if self.length == ASKED:
            return seconds
        return main_seconds + seconds if self.length == EXTENDED else main_seconds


def _show(value) -> str:
    return str(value) if value is None or isinstance(value, int) else f"{value:g}"


def checked_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ReverieError(f"{name} must be a number, got {value!r}", field=name)
    value = float(value)
    if not math.isfinite(value):
        raise ReverieError(f"{name} must be a finite number, got {value}", field=name)
    return value


def checked_integer(value: Any, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ReverieError(f"{name} must be a whole number, got {value!r}", field=name)
    return int(value)
