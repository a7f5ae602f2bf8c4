"""The preset schema: every key of [set], [[stems]] and [mix], with its type, default, range and choices.

Keys that are pipeline parameters (style, seconds, seed, steps, guidance,
scheduler, track, strength, timestep, ratio, inversion, mix, variation) take their type, range and
choices from `reverie.models.operations`, so a preset allows what the
pipeline allows; only the renderer's own keys are defined here. Nothing here
imports torch: a preset validates without loading the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reverie.models import operations as ops
from reverie.models.audio import SUBTYPES

SAMPLE_RATES = (22050, 44100, 48000)  # 22050 is for quick previews and tests
FORMATS = ("wav", "flac")
FORMAT_SUBTYPES = {"flac": (16, 24)}  # FLAC has no float samples
CHANNELS = 2  # stems are stereo: pan places them
RESERVED_NAMES = ("mixdown", "manifest")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EXCLUDED_OPS = ("inpaint",)  # needs a region of an existing file: use `reverie inpaint`
OPERATIONS = tuple(name for name in ops.NAMES if name not in EXCLUDED_OPS)
MAX_IN_MEMORY_SECONDS = 1800.0  # transform/interpolate/continue results and loop clips are held in memory
DEFAULT_LUFS = -23.0
DEFAULT_CEILING = -1.0
DEFAULT_SET_SECONDS = 60.0

# The preset's words for the wire types of the operation parameters.
KINDS_OF_TYPES = {ops.INTEGER: "int", ops.NUMBER: "number", ops.STRING: "str", ops.BOOLEAN: "bool", ops.TEMPO: "tempo"}


@dataclass(frozen=True)
class Key:
    kind: str  # name, str, int, number, bool, path, paths, effects, mood, tempo
    default: object = None
    doc: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple | None = None
    ops: tuple | None = None  # for stems: the operations the key applies to (None = all)
    required: bool = False
    param: ops.Param | None = None  # a pipeline parameter: it checks range and choices, in its own words

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        words = {
            "name": "a name of letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit)",
            "str": "a string",
            "int": "a whole number",
            "number": "a number",
            "bool": "true or false",
            "path": "a file path (relative to the preset)",
            "paths": "a list of file paths",
            "effects": "a list of effect tables",
            "mood": "a mood (text) or a list of [seconds, mood] pairs",
            "tempo": "a bpm, its text, or a list of [seconds, bpm] pairs",
        }[self.kind]
        if self.param is not None:
            bounded = self.param.low is not None or self.param.high is not None
            return f"{words} {self.param.allowed}" if bounded else words
        if self.lo is not None and self.hi is not None:
            joint = "and at most" if self.lo_open else "to"
            return f"{words} {'above' if self.lo_open else 'from'} {self.lo:g} {joint} {self.hi:g}"
        if self.lo is not None:
            return f"{words} {'above' if self.lo_open else 'of at least'} {self.lo:g}"
        return words


def param_key(param: ops.Param, doc: str, *, on: tuple | None = None) -> Key:
    """A stem key that is the pipeline parameter `param` (on the operations `on`; None = all)."""
    return Key(KINDS_OF_TYPES[param.type], None, doc, choices=param.choices, ops=on, param=param)


def ops_with(name: str) -> tuple[str, ...]:
    """The operations a preset may use that take pipeline parameter `name`."""
    return tuple(op for op in OPERATIONS if name in ops.OPERATIONS[op].names)


def ops_with_inputs(count: int) -> tuple[str, ...]:
    return tuple(op for op in OPERATIONS if len(ops.OPERATIONS[op].inputs) == count)


# The stem key that names an operation's input files, by how many inputs it takes.
INPUT_KEYS = {1: "source", 2: "sources"}


def input_key(op: str) -> str | None:
    """The key that names `op`'s input audio (source, or sources for two), or None for new audio."""
    return INPUT_KEYS.get(len(ops.OPERATIONS[op].inputs))


SET_KEYS: dict[str, Key] = {
    "name": Key("name", None, "Name of the set and of its output folder (default: the preset file's name)."),
    "sample_rate": Key("int", 44100, "Sample rate of every file, Hz.", choices=SAMPLE_RATES),
    "bit_depth": Key(
        "int", 24, "Sample format: 16 or 24-bit PCM, or 32-bit float (wav only).", choices=tuple(SUBTYPES)
    ),
    "format": Key("str", "wav", "File format of stems and mixdown.", choices=FORMATS),
    "seconds": Key(
        "number",
        DEFAULT_SET_SECONDS,
        "Length of the set, and the default length of a generate stem.",
        lo=0.0,
        lo_open=True,
    ),
    "seed": Key("int", 0, "Base seed; a stem without its own seed gets one derived from this and its name.", lo=0),
    "loudness_lufs": Key(
        "number", None, f"Integrated loudness of every stem, LUFS (default {DEFAULT_LUFS:g}).", lo=-70.0, hi=0.0
    ),
    "peak_dbfs": Key("number", None, "Normalise stems to this true peak instead of a loudness.", lo=-60.0, hi=0.0),
    "true_peak_dbtp": Key(
        "number", DEFAULT_CEILING, "True-peak ceiling of every file, dBTP (limiter).", lo=-20.0, hi=0.0
    ),
    "fade_in": Key("number", 0.0, "Fade-in at the start of the set, seconds (every stem and the mix).", lo=0.0),
    "fade_out": Key("number", 0.0, "Fade-out at the end of the set, seconds.", lo=0.0),
    "prefix": Key(
        "bool",
        False,
        "Start every file name with the set's name (<set>-<stem>.<format>), so several "
        "sets imported into one DAW project do not collide.",
    ),
}

_generate, _transform, _interpolate = (ops.OPERATIONS[name] for name in ("generate", "transform", "interpolate"))

STEM_KEYS: dict[str, Key] = {
    "name": Key("name", None, "Stem name, unique in the set; the file is <name>.<format>.", required=True),
    "op": Key("str", "generate", "Pipeline operation.", choices=None),  # checked against OPERATIONS first
    "style": param_key(ops.STYLE, "Style to steer toward (the model's styles; default: none)."),
    "mood": Key(
        "mood",
        None,
        'Mood to steer toward instead of a style: a style, a point "valence,arousal", a mix, or (generate) a '
        'trajectory [[seconds, mood], ...] such as [[0, "tense"], [300, "calm"], [1200, "sleep"]].',
        param=ops.MOOD,
    ),
    "seconds": param_key(
        _generate.param("seconds"),
        "generate: length (default: to the end of the set); continue: seconds added.",
        on=ops_with("seconds"),
    ),
    "bpm": Key(
        "tempo",
        None,
        "generate: the tempo its beats and bars land on, a bar line at the stem's start: a bpm such as 96, "
        "or a tempo that moves, [[seconds, bpm], ...] such as [[0, 84], [1200, 60]]. transform, interpolate, "
        "continue: the input's tempo, one bpm (default: heard from it).",
        ops=ops_with("bpm"),
        param=ops.BPM,
    ),
    "beats_per_bar": param_key(ops.BEATS_PER_BAR, "Quarter notes per bar (default 4).", on=ops_with("bpm")),
    "bars": param_key(
        ops.BARS,
        "generate, with bpm: the length in whole bars (instead of seconds); it loops on the bar.",
        on=ops_with("bars"),
    ),
    "key": param_key(
        ops.KEY, 'The key, such as "A minor" or "F#m" (an input\'s: default heard from it).', on=ops_with("key")
    ),
    "seed": param_key(ops.SEED, "Seed (default: derived from [set].seed and the stem name)."),
    "steps": param_key(ops.STEPS, "Denoising steps (default: the model's)."),
    "guidance": param_key(ops.GUIDANCE, "Guidance scale (default: the model's)."),
    "scheduler": param_key(ops.SCHEDULER, "Sampler (default: the model's)."),
    # Every operation may follow a melody.
    "midi": Key("path", None, "MIDI file whose melody the stem follows."),
    "track": param_key(ops.TRACK, "With midi: the track (0-based) to take the melody from."),
    "channel": Key("int", None, "With midi: the MIDI channel (0-based) to take the melody from.", lo=0),
    "hum": Key("path", None, "Audio of a hummed, whistled or sung melody to follow."),
    "hum_key": Key("str", None, 'With hum: snap notes to this key, e.g. "D major".'),
    "source": Key("path", None, "transform, continue: the input audio file.", ops=ops_with_inputs(1)),
    "sources": Key("paths", None, "interpolate: the two input audio files [A, B].", ops=ops_with_inputs(2)),
    "strength": param_key(
        ops.STRENGTH, "transform, interpolate: how far to move from the input (0-1).", on=ops_with("strength")
    ),
    "timestep": param_key(
        ops.TIMESTEP,
        "transform, interpolate: the noise timestep to start from (instead of strength).",
        on=ops_with("timestep"),
    ),
    "ratio": param_key(_interpolate.param("ratio"), "interpolate: B's share, 0 = A, 1 = B.", on=ops_with("ratio")),
    "inversion": param_key(
        _transform.param("inversion"),
        "transform: find the noise by DDIM inversion (more faithful edits).",
        on=ops_with("inversion"),
    ),
    "mix": param_key(_interpolate.param("mix"), "interpolate: how the noised clips are blended.", on=ops_with("mix")),
    "variation": param_key(
        ops.VARIATION,
        "continue: how far new audio moves from the source's own bars (1 = afresh from noise).",
        on=ops_with("variation"),
    ),
    "start": Key("number", 0.0, "Where the stem starts in the set, seconds.", lo=0.0),
    "fade_in": Key("number", 0.0, "Fade-in at the stem's own start, seconds.", lo=0.0),
    "fade_out": Key("number", 0.0, "Fade-out at the stem's own end, seconds.", lo=0.0),
    "loop": Key("bool", False, "Repeat the stem's audio, crossfaded, until `length` (default: the end of the set)."),
    "crossfade": Key(
        "number", 1.0, "With loop: the crossfade at each repeat, seconds (none with bars).", lo=0.0, lo_open=True
    ),
    "length": Key("number", None, "With loop: total length of the looped stem, seconds.", lo=0.0, lo_open=True),
    "gain_db": Key("number", 0.0, "Level of the stem in the mixdown, dB.", lo=-60.0, hi=24.0),
    "pan": Key("number", 0.0, "Stereo position, -1 (left) to 1 (right).", lo=-1.0, hi=1.0),
    "loudness_lufs": Key("number", None, "This stem's loudness target (default: the set's).", lo=-70.0, hi=0.0),
    "peak_dbfs": Key("number", None, "Normalise this stem to a true peak instead.", lo=-60.0, hi=0.0),
    "effects": Key("effects", None, "Effect chain, in order (see Effects)."),
}

MIX_KEYS: dict[str, Key] = {
    "enabled": Key("bool", True, "Write the mixdown."),
    "effects": Key("effects", None, "Master effect chain on the sum of the stems."),
    "loudness_lufs": Key("number", None, "Loudness of the mixdown, LUFS (default: the set's).", lo=-70.0, hi=0.0),
    "peak_dbfs": Key("number", None, "Normalise the mixdown to a true peak instead.", lo=-60.0, hi=0.0),
    "true_peak_dbtp": Key("number", None, "True-peak ceiling of the mixdown (default: the set's).", lo=-20.0, hi=0.0),
}

SECTIONS = {"set": SET_KEYS, "stems": STEM_KEYS, "mix": MIX_KEYS}
