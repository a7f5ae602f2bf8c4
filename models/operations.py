"""The five operations, declared once: names, parameters, types, ranges, choices, defaults and limits.

Every face derives from this module: the pipeline checks its arguments with
`Param.check`, the CLI builds `reverie OP` and `reverie send OP` from it, the
bridge validates wire parameters against it, the pedalboard `Remote` and the
preset schema take their operation names from it, and docs/protocol.md's
parameter tables are generated from it (`markdown_table`). It imports only the
standard library, so a face that only validates never loads torch.

The types it declares with (`Param`, `Operation`, the wire types) are in
operation_types.py, `check_region` in region.py and `markdown_table` in
param_table.py; every one of them is importable from here too.
"""

from __future__ import annotations

from typing import Any

from .errors import ReverieError
from .limits import BEATS_PER_BAR as BAR_BEATS
from .limits import MAX_CHANNELS as MAX_CHANNELS
from .limits import SAMPLE_RATES
from .operation_types import AS_INPUT as AS_INPUT
from .operation_types import (
    ASKED,
    BOOLEAN,
    EXTENDED,
    INTEGER,
    NUMBER,
    STRING,
    TEMPO,
    Operation,
    Param,
)
from .param_table import markdown_table as markdown_table
from .region import check_region as check_region

# The longest audio one call may make (the bridge and the renderer set their own, lower limits).
MAX_SECONDS = 4 * 3600
# generate's length when none is given: a MIDI melody's own length, else this.
DEFAULT_GENERATE_SECONDS = 10.0
# Seam fade inside an inpainted region; outside the region every sample is the input's own.
INPAINT_SEAM_SECONDS = 0.05
INT64 = 2**63 - 1
# The training noise schedule's length (schedulers.py): a timestep runs from 0 to NOISE_TIMESTEPS - 1.
NOISE_TIMESTEPS = 1000

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
    low=BAR_BEATS[0],
    high=BAR_BEATS[1],
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
SAMPLE_RATE = Param(
    "sample_rate", INTEGER, "Sample rate of the result in Hz.", default=44100, low=SAMPLE_RATES[0], high=SAMPLE_RATES[1]
)

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
