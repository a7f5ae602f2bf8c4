"""The five operations, declared once: names, parameters, types, ranges, choices, defaults and limits.

Every face derives from this module: the pipeline checks its arguments with
`Param.check`, the CLI builds `reverie OP` and `reverie send OP` from it, the
bridge validates wire parameters against it, the pedalboard `Remote` and the
preset schema take their operation names from it, and docs/protocol.md's
parameter tables are generated from it (`markdown_table`). It imports only the
standard library, so a face that only validates never loads torch.
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

# The longest audio one call may make (the bridge and the renderer set their own, lower limits).
MAX_SECONDS = 4 * 3600
# generate's length when none is given: a MIDI melody's own length, else this.
DEFAULT_GENERATE_SECONDS = 10.0
# Seam fade inside an inpainted region; outside the region every sample is the input's own.
INPAINT_SEAM_SECONDS = 0.05
MAX_CHANNELS = 64
INT64 = 2**63 - 1
# The training noise schedule's length (schedulers.py): a timestep runs from 0 to NOISE_TIMESTEPS - 1.
NOISE_TIMESTEPS = 1000
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
        value = _integer(value, self.name) if self.type == INTEGER else _number(value, self.name)
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
        return STRENGTH in self.params

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


# --- the parameters ------------------------------------------------------------

SAMPLERS = ("ddim", "dpm", "ddpm")
INPAINT_METHODS = ("trained", "repaint")
MIX_MODES = ("slerp", "lerp")

STYLE = Param(
    "style",
    STRING,
    "Steer toward a style of the model (default model: sleep, calm, happy, sad, tense).",
    default_text="none (unconditioned)",
    replaced_by="mood",
)
MOOD = Param(
    "mood",
    STRING,
    'Steer toward a mood instead of one style: a point "valence,arousal" (each -1..1, "0.3,-0.6"), a mix '
    'of styles ("calm*0.7+sleep*0.3"), or, for generate, a trajectory of seconds:mood entries '
    '("0:tense; 300:calm; 1200:sleep") that moves smoothly between them.',
    default_text="none (the style, if given)",
)
SEED = Param("seed", INTEGER, "Same seed and options give the same file, bit for bit.", default=0, low=0, high=INT64)
STEPS = Param(
    "steps", INTEGER, "Denoising steps (more is slower, sometimes cleaner). Default: the model's.", low=1, high=1000
)
GUIDANCE = Param(
    "guidance",
    NUMBER,
    "How strongly to follow style and melody (1 = no guidance). Default: the model's.",
    low=0,
    high=30,
)
SCHEDULER = Param("scheduler", STRING, "Sampler. Default: the model's (ddim).", choices=SAMPLERS)
TRACK = Param(
    "track",
    INTEGER,
    "With a MIDI melody: the track to take it from, from 0 (default: the top voice of all tracks).",
    low=0,
    high=65535,
    default_text="the top voice of all tracks",
)
SAMPLING = (STYLE, MOOD, SEED, STEPS, GUIDANCE, SCHEDULER)
# inpaint's and continue's start (models/groove.py, texture.py): the session's own audio, noised this far.
VARIATION = Param(
    "variation",
    NUMBER,
    "How far new audio moves from the session's own bars, repeated at their period (music with no period: "
    "grains of its own sound): 1 = made afresh from noise, lower keeps more of the groove, the hits and the "
    "harmony around it.",
    default=0.5,
    low=0,
    high=1,
)
# The grid and key generate puts its music on (models/grid.py); learned conditioning of a model trained
# with them (`reverie train --grid`).
BPM = Param(
    "bpm",
    TEMPO,
    'Tempo in quarter notes per minute ("96"), or a tempo that moves: seconds:bpm entries, linear between '
    '("0:84; 1200:60"). The beats and bars land on this grid, a bar line at 0 s.',
    default_text="none (a tempo of the model's choosing)",
)
BEATS_PER_BAR = Param(
    "beats_per_bar",
    NUMBER,
    "With bpm: quarter notes per bar (4 for 4/4, 3 for 3/4 and 6/8).",
    low=1,
    high=16,
    default_text="4",
)
BARS = Param(
    "bars",
    INTEGER,
    "With bpm: the length in whole bars instead of seconds; the result loops on the bar.",
    low=1,
    high=10_000,
    replaced_by="seconds",
    default_text="none (seconds decide)",
)
KEY = Param(
    "key",
    STRING,
    'Key of the result: a tonic A-G with an optional # or b, then major or minor ("A minor", "F#m", "Eb"). '
    "Without a melody, the model also follows a line composed in it (phrases on the bpm's beats); with "
    "yours, your melody is moved to it (at most 6 semitones, its third, sixth and seventh made the key's).",
    default_text="none (a key of the model's choosing)",
)
GRID = (BPM, BEATS_PER_BAR, BARS, KEY)
# The session's grid and key, which the operations on audio keep (models/beat.py): heard, or the caller's.
SESSION_BPM = Param(
    "bpm",
    TEMPO,
    "The session's tempo in quarter notes per minute (a DAW knows it): new audio that repeats the session's "
    "bars repeats them on whole beats of it, exactly; where its beats and bars fall is still heard from the "
    "audio. For a model trained with tempo and key.",
    default_text="heard from the audio",
    steady=True,
)
SESSION_KEY = Param(
    "key",
    STRING,
    'The session\'s key ("A minor", "F#m", "Eb"). For a model trained with tempo and key.',
    default_text="heard from the audio",
)
SESSION = (SESSION_BPM, BEATS_PER_BAR, SESSION_KEY)
# generate's output rate; also the range every audio input's rate must be in (audio.check_sample_rate).
SAMPLE_RATE = Param("sample_rate", INTEGER, "Sample rate of the result in Hz.", default=44100, low=1000, high=384000)

_STRENGTH = 0.5
STRENGTH = Param(
    "strength",
    NUMBER,
    f"Noise level, 0-1: 0 keeps the input, 1 ignores it. Default {_STRENGTH:g}.",
    default=_STRENGTH,
    low=0,
    high=1,
    replaced_by="timestep",
)
TIMESTEP = Param(
    "timestep",
    INTEGER,
    f"Noise timestep 0-{NOISE_TIMESTEPS - 1} instead of strength.",
    low=0,
    high=NOISE_TIMESTEPS - 1,
    default_text="none (strength decides)",
)


def _seconds(help: str, required: bool = False, default_text: str | None = None) -> Param:
    return Param(
        "seconds",
        NUMBER,
        help,
        low=0,
        high=MAX_SECONDS,
        low_exclusive=True,
        required=required,
        default_text=default_text,
    )


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "generate",
            "Make new audio in a style, optionally following a melody.",
            (),
            (
                _seconds(
                    f"Length of the result. Default: the melody's (the MIDI file's, or the hummed take's), else "
                    f"{DEFAULT_GENERATE_SECONDS:g}.",
                    default_text=f"the MIDI melody's or the hummed take's length, else `{DEFAULT_GENERATE_SECONDS:g}`",
                ),
                SAMPLE_RATE,
                Param(
                    "channels",
                    INTEGER,
                    "Channels of the result (the sound is centred).",
                    default=2,
                    low=1,
                    high=MAX_CHANNELS,
                ),
                *GRID,
                *SAMPLING,
            ),
            length=ASKED,
            streams=True,
        ),
        Operation(
            "transform",
            "Restyle an audio file (style transfer).",
            ("audio",),
            (
                STRENGTH,
                TIMESTEP,
                Param(
                    "inversion",
                    BOOLEAN,
                    "Find the noise by DDIM inversion instead of drawing it: more faithful edits.",
                    default=False,
                ),
                *SESSION,
                *SAMPLING,
            ),
        ),
        Operation(
            "inpaint",
            "Regenerate a region of an audio file, keeping the rest bit-exact.",
            ("audio",),
            (
                Param("start", NUMBER, "Start of the region to regenerate, in seconds.", low=0, required=True),
                Param("end", NUMBER, "End of the region, in seconds.", low=0, required=True),
                Param(
                    "method",
                    STRING,
                    "trained: the model hears both sides; repaint: the training-free baseline.",
                    default="trained",
                    choices=INPAINT_METHODS,
                ),
                VARIATION,
                *SESSION,
                *SAMPLING,
            ),
        ),
        Operation(
            "interpolate",
            "Blend two audio files at a chosen noise level.",
            ("a", "b"),
            (
                Param("ratio", NUMBER, "B's share of the blend: 0 = all A, 1 = all B.", default=0.5, low=0, high=1),
                STRENGTH,
                TIMESTEP,
                Param("mix", STRING, "How the noised clips are blended.", default="slerp", choices=MIX_MODES),
                *SESSION,
                *SAMPLING,
            ),
        ),
        Operation(
            "continue",
            "Extend an audio file by N seconds.",
            ("audio",),
            (
                _seconds("How many seconds to add after the end.", required=True),
                VARIATION,
                *SESSION,
                *SAMPLING,
            ),
            length=EXTENDED,
        ),
    )
}
NAMES = tuple(OPERATIONS)
STREAMING = tuple(name for name, op in OPERATIONS.items() if op.streams)


def _declared_defaults() -> dict[str, Any]:
    """Every parameter's declared default over all operations: a name shared by two has one default."""
    found: dict[str, Any] = {}
    for op in OPERATIONS.values():
        for p in op.params:
            if p.default is not None and found.setdefault(p.name, p.default) != p.default:
                raise ValueError(f"{p.name} is declared with two defaults: {found[p.name]!r} and {p.default!r}")
    return found


DECLARED_DEFAULTS = _declared_defaults()


def operation(name: Any) -> Operation:
    """The operation called `name`, or a ReverieError listing the allowed names."""
    if not isinstance(name, str) or name not in OPERATIONS:
        raise ReverieError(f"unknown operation {name!r}; allowed: {', '.join(NAMES)}", field="op")
    return OPERATIONS[name]


def generate_seconds(
    seconds: float | None, melody: Any = None, bars: int | None = None, bpm: Any = None, beats_per_bar=None
) -> float:
    """generate's length, the one rule for every face: the seconds asked for, else `bars` whole bars at
    `bpm`, else the melody's length (`Melody.length`: a MIDI melody's last note, or a hummed take's whole
    length), else DEFAULT_GENERATE_SECONDS. A MIDI file without notes lasts 0 s and so gets the default."""
    if seconds is not None:
        return seconds
    if bars is not None:
        if bpm is None:
            raise ReverieError("bars needs a bpm: give the tempo the bars are counted in", field="bars")
        from .grid import parse_bpm, tempo_text  # numpy, not torch: a face that only validates stays light

        seconds = parse_bpm(bpm, beats_per_bar).bars_seconds(BARS.check(bars))
        if seconds > MAX_SECONDS:
            raise ReverieError(
                f"{bars} bars at bpm {tempo_text(bpm)} last {seconds:.0f} s; a result lasts at most {MAX_SECONDS} s "
                f"({MAX_SECONDS / 3600:g} hours): give fewer bars",
                field="bars",
            )
        return seconds
    length = melody.length if melody is not None else None
    return length if length else DEFAULT_GENERATE_SECONDS


def check_region(start: Any, end: Any, seconds: float, sample_rate: int) -> tuple[int, int]:
    """[start, end) in seconds of a clip -> sample indices, inside the clip and at least one sample long."""
    start, end = _number(start, "start"), _number(end, "end")
    if not 0 <= start < seconds:
        raise ReverieError(
            f"start must be between 0 and {seconds:.3f} s (the clip's length), got {start:g}", field="start"
        )
    if not start < end <= seconds:
        raise ReverieError(
            f"end must be after start ({start:g} s) and at most {seconds:.3f} s (the clip's length), got {end:g}",
            field="end",
        )
    # The region holds the samples whose time t = index / rate has start <= t < end: never one before start.
    first, last = _sample_at_or_after(start, sample_rate), _sample_at_or_after(end, sample_rate)
    if last <= first:
        raise ReverieError(f"region {start:g}-{end:g} s holds no sample at {sample_rate} Hz", field="end")
    return first, last


def _sample_at_or_after(seconds: float, sample_rate: int) -> int:
    """The first sample index whose time is at or after `seconds`. A time within a millionth of a
    sample of a sample's own time is that sample (1.0 s at 48 kHz is 48000, despite float rounding)."""
    position = seconds * sample_rate
    nearest = round(position)
    return nearest if abs(position - nearest) < 1e-6 else math.ceil(position)


def markdown_table(op: Operation | tuple[Param, ...]) -> str:
    """The parameter table docs/protocol.md shows for `op`, or for loose params such as (TRACK,)
    (a test keeps the document equal to it)."""
    rows = ["| parameter | type | allowed | default | meaning |", "|---|---|---|---|---|"]
    for p in op.params if isinstance(op, Operation) else op:
        rows.append(f"| `{p.name}` | {p.type} | {p.allowed} | {_default_words(p)} | {p.help} |")
    return "\n".join(rows)


def _default_words(p: Param) -> str:
    if p.required:
        return "required"
    if p.default is not None:
        return _json(p.default)
    return p.default_text or "the model's"


def _json(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else f"`{value!r}`".replace("'", '"')


def _show(value) -> str:
    return str(value) if value is None or isinstance(value, int) else f"{value:g}"


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ReverieError(f"{name} must be a number, got {value!r}", field=name)
    value = float(value)
    if not math.isfinite(value):
        raise ReverieError(f"{name} must be a finite number, got {value}", field=name)
    return value


def _integer(value: Any, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ReverieError(f"{name} must be a whole number, got {value!r}", field=name)
    return int(value)
