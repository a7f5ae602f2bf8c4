"""Preset files: the TOML schema, validation with precise messages, and resolution into render jobs.

Validation happens in two stages, both before anything is rendered:

1. `load_preset(path)`: TOML syntax, known keys, types, ranges, choices,
   files, effects, names. Needs no model.
2. `check_with_pipeline(preset, pipe)`: reads the melody and source files
   and asks the pipeline itself (`pipe.total_steps`) to accept every stem's
   arguments, so styles, steps, guidance, schedulers, strength, timestep
   and ratio are checked by the same code that would run them.

Every problem becomes a `PresetError` naming the file, the key path
(`stems[2].effects[0].room_size`), the bad value and what is allowed. All
problems of a file are collected and raised together as `PresetErrors`.

Where the allowed values live: operations in `models.pipeline.OPERATIONS`,
bit depths in `models.audio.SUBTYPES`, styles and parameter ranges in the
pipeline, effect plugins and their parameters in pedalboard (see
render/effects.py). Only the renderer's own keys are defined here.
"""
from __future__ import annotations

import math
import re
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from reverie.models.audio import SUBTYPES
from reverie.models.errors import ReverieError

from .effects import EffectIssue, EffectSpec, check_effect
from .loudness import Target

SAMPLE_RATES = (22050, 44100, 48000)  # 22050 is for quick previews and tests
FORMATS = ("wav", "flac")
FORMAT_SUBTYPES = {"flac": (16, 24)}  # FLAC has no float samples
CHANNELS = 2  # stems are stereo: pan places them
RESERVED_NAMES = ("mixdown", "manifest")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EXCLUDED_OPS = ("inpaint",)  # needs a region of an existing file: use `reverie inpaint`
MAX_IN_MEMORY_SECONDS = 1800.0  # transform/interpolate/continue results and loop clips are held in memory
DEFAULT_LUFS = -23.0
DEFAULT_CEILING = -1.0
DEFAULT_SET_SECONDS = 60.0


def preset_operations() -> tuple[str, ...]:
    from reverie.models.pipeline import OPERATIONS

    return tuple(op for op in OPERATIONS if op not in EXCLUDED_OPS)


# --- the schema ----------------------------------------------------------------

@dataclass(frozen=True)
class Key:
    kind: str  # name, str, int, number, bool, path, paths, effects
    default: object = None
    doc: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple | None = None
    ops: tuple | None = None  # for stems: the operations the key applies to (None = all)
    required: bool = False

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        words = {"name": "a name of letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit)",
                 "str": "a string", "int": "a whole number", "number": "a number", "bool": "true or false",
                 "path": "a file path (relative to the preset)", "paths": "a list of file paths",
                 "effects": "a list of effect tables"}[self.kind]
        if self.lo is not None and self.hi is not None:
            return f"{words} {'above' if self.lo_open else 'from'} {self.lo:g} {'and at most' if self.lo_open else 'to'} {self.hi:g}"
        if self.lo is not None:
            return f"{words} {'above' if self.lo_open else 'of at least'} {self.lo:g}"
        return words


MELODY = ("generate", "transform", "interpolate", "continue")

SET_KEYS: dict[str, Key] = {
    "name": Key("name", None, "Name of the set and of its output folder (default: the preset file's name)."),
    "sample_rate": Key("int", 44100, "Sample rate of every file, Hz.", choices=SAMPLE_RATES),
    "bit_depth": Key("int", 24, "Sample format: 16 or 24-bit PCM, or 32-bit float (wav only).", choices=tuple(SUBTYPES)),
    "format": Key("str", "wav", "File format of stems and mixdown.", choices=FORMATS),
    "seconds": Key("number", DEFAULT_SET_SECONDS, "Length of the set, and the default length of a generate stem.",
                   lo=0.0, lo_open=True),
    "seed": Key("int", 0, "Base seed; a stem without its own seed gets one derived from this and its name.", lo=0),
    "loudness_lufs": Key("number", None, f"Integrated loudness of every stem, LUFS (default {DEFAULT_LUFS:g}).",
                         lo=-70.0, hi=0.0),
    "peak_dbfs": Key("number", None, "Normalise stems to this true peak instead of a loudness.", lo=-60.0, hi=0.0),
    "true_peak_dbtp": Key("number", DEFAULT_CEILING, "True-peak ceiling of every file, dBTP (limiter).",
                          lo=-20.0, hi=0.0),
    "fade_in": Key("number", 0.0, "Fade-in at the start of the set, seconds (every stem and the mix).", lo=0.0),
    "fade_out": Key("number", 0.0, "Fade-out at the end of the set, seconds.", lo=0.0),
}

STEM_KEYS: dict[str, Key] = {
    "name": Key("name", None, "Stem name, unique in the set; the file is <name>.<format>.", required=True),
    "op": Key("str", "generate", "Pipeline operation.", choices=None),  # choices: preset_operations()
    "style": Key("str", None, "Style to steer toward (the model's styles; default: none)."),
    "seconds": Key("number", None, "generate: length (default: to the end of the set); continue: seconds added.",
                   lo=0.0, lo_open=True, ops=("generate", "continue")),
    "seed": Key("int", None, "Seed (default: derived from [set].seed and the stem name).", lo=0),
    "steps": Key("int", None, "Denoising steps (default: the model's)."),
    "guidance": Key("number", None, "Guidance scale (default: the model's)."),
    "scheduler": Key("str", None, "Sampler (default: the model's)."),
    "midi": Key("path", None, "MIDI file whose melody the stem follows.", ops=MELODY),
    "track": Key("int", None, "With midi: the track (0-based) to take the melody from.", lo=0, ops=MELODY),
    "channel": Key("int", None, "With midi: the MIDI channel (0-based) to take the melody from.", lo=0, ops=MELODY),
    "hum": Key("path", None, "Audio of a hummed, whistled or sung melody to follow.", ops=MELODY),
    "hum_key": Key("str", None, "With hum: snap notes to this key, e.g. \"D major\".", ops=MELODY),
    "source": Key("path", None, "transform, continue: the input audio file.", ops=("transform", "continue")),
    "sources": Key("paths", None, "interpolate: the two input audio files [A, B].", ops=("interpolate",)),
    "strength": Key("number", None, "transform, interpolate: how far to move from the input (0-1).",
                    ops=("transform", "interpolate")),
    "timestep": Key("int", None, "transform, interpolate: the noise timestep to start from (instead of strength).",
                    ops=("transform", "interpolate")),
    "ratio": Key("number", None, "interpolate: B's share, 0 = A, 1 = B.", ops=("interpolate",)),
    "start": Key("number", 0.0, "Where the stem starts in the set, seconds.", lo=0.0),
    "fade_in": Key("number", 0.0, "Fade-in at the stem's own start, seconds.", lo=0.0),
    "fade_out": Key("number", 0.0, "Fade-out at the stem's own end, seconds.", lo=0.0),
    "loop": Key("bool", False, "Repeat the stem's audio, crossfaded, until `length` (default: the end of the set)."),
    "crossfade": Key("number", 1.0, "With loop: the crossfade at each repeat, seconds.", lo=0.0, lo_open=True),
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


# --- errors ----------------------------------------------------------------------

class PresetError(ReverieError):
    """One problem in a preset: file, key path, value, what is wrong and what is allowed."""

    code = "bad_preset"
    kind = "invalid"

    def __init__(self, file, key: str, value=None, problem: str = "", allowed: str | None = None, *,
                 has_value: bool = True):
        self.file, self.key, self.value, self.problem, self.allowed = str(file), key, value, problem, allowed
        where = f"{self.file}: {key}" if key else self.file
        shown = f" = {_show(value)}" if has_value and key else ""
        text = f"{where}{shown}: {problem}"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(text, field=key or None)


class PresetSyntaxError(PresetError):
    kind = "syntax"


class UnknownKeyError(PresetError):
    kind = "unknown"


class MissingKeyError(PresetError):
    kind = "missing"

    def __init__(self, file, key: str, problem: str = "missing", allowed: str | None = None):
        super().__init__(file, key, None, problem, allowed, has_value=False)


class WrongTypeError(PresetError):
    kind = "type"


class OutOfRangeError(PresetError):
    kind = "range"


class NotAllowedError(PresetError):
    kind = "choice"


class FileProblemError(PresetError):
    kind = "file"


class PluginProblemError(PresetError):
    kind = "plugin"


class ConflictError(PresetError):
    kind = "conflict"


class DuplicateError(PresetError):
    kind = "duplicate"


class RejectedByModelError(PresetError):
    """The pipeline's own validation refused a value (style, steps, strength, ...)."""

    kind = "model"


ERROR_CLASSES = {cls.kind: cls for cls in (
    PresetSyntaxError, UnknownKeyError, MissingKeyError, WrongTypeError, OutOfRangeError, NotAllowedError,
    FileProblemError, PluginProblemError, ConflictError, DuplicateError, RejectedByModelError)}


class PresetErrors(ReverieError):
    """Every problem found, one line each."""

    code = "bad_preset"

    def __init__(self, errors: list[PresetError]):
        self.errors = list(errors)
        super().__init__("\n".join(e.message for e in self.errors), field=self.errors[0].field if errors else None)


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ ... }"
    if isinstance(value, list) and len(value) > 4:
        return "[ ... ]"
    return repr(value)


class Issues:
    """Collects PresetErrors for one file."""

    def __init__(self, file: Path):
        self.file = file
        self.errors: list[PresetError] = []

    def add(self, cls: type[PresetError], key: str, *args, **kwargs) -> None:
        self.errors.append(cls(self.file, key, *args, **kwargs))

    def raise_if_any(self) -> None:
        if self.errors:
            unique = list({e.message: e for e in self.errors}.values())  # inherited keys may repeat
            raise PresetErrors(unique)


# --- the validated preset ------------------------------------------------------------

@dataclass
class SetSpec:
    name: str
    sample_rate: int
    bit_depth: int
    format: str
    seconds: float
    seed: int
    target: Target
    fade_in: float
    fade_out: float


@dataclass
class StemSpec:
    index: int
    name: str
    op: str
    raw: dict  # the table as written
    values: dict  # every stem key with its default filled in (None where it has no default)
    paths: dict = field(default_factory=dict)  # key -> absolute path (sources: list)
    effects: list[EffectSpec] = field(default_factory=list)
    target: Target | None = None
    inputs: tuple | None = field(default=None, repr=False)  # (melody, {name: Audio}) once read

    @property
    def key(self) -> str:
        return f"stems[{self.index}]"


@dataclass
class MixSpec:
    enabled: bool
    effects: list[EffectSpec]
    target: Target


@dataclass
class Preset:
    path: Path
    set: SetSpec
    stems: list[StemSpec]
    mix: MixSpec
    text: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def stem(self, name: str) -> StemSpec:
        return next(s for s in self.stems if s.name == name)


# --- stage 1 ----------------------------------------------------------------------------

def load_preset(path: str | Path) -> Preset:
    """Parse and validate a preset file. Raises PresetErrors listing every problem found."""
    path = Path(path)
    issues = Issues(path)
    if not path.exists():
        issues.add(FileProblemError, "", None, "preset file not found", "a .toml preset file", has_value=False)
        issues.raise_if_any()
    if not path.is_file():
        issues.add(FileProblemError, "", None, "is a folder, not a preset file", "a .toml preset file", has_value=False)
        issues.raise_if_any()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        issues.add(PresetSyntaxError, "", None, "not a text file", "a UTF-8 TOML file", has_value=False)
        issues.raise_if_any()
    except tomllib.TOMLDecodeError as exc:
        issues.add(PresetSyntaxError, "", None, f"not valid TOML: {exc}", "TOML (https://toml.io)", has_value=False)
        issues.raise_if_any()

    for key, value in data.items():
        if key not in SECTIONS:
            issues.add(UnknownKeyError, key, value, f"unknown section{_close(key, SECTIONS)}", "[set], [[stems]], [mix]")
    base = path.resolve().parent
    set_spec = _check_set(data.get("set", {}), issues, path)
    stems = _check_stems(data.get("stems"), issues, base, set_spec)
    mix = _check_mix(data.get("mix", {}), issues, base, set_spec)
    issues.raise_if_any()
    return Preset(path, set_spec, stems, mix, text)


def _check_table(table, section: str, keys: dict[str, Key], issues: Issues, op: str | None = None) -> dict:
    """Type/range/choice checks of one table; returns values with defaults (None where a check failed)."""
    values = {}
    for key, value in table.items():
        where = f"{section}.{key}"
        if key not in keys:
            issues.add(UnknownKeyError, where, value, f"unknown key{_close(key, keys)}", ", ".join(keys))
            continue
        spec = keys[key]
        if op is not None and spec.ops is not None and op not in spec.ops:
            issues.add(ConflictError, where, value, f"`{key}` is not used by op \"{op}\"",
                       f"{key} with op " + ", ".join(spec.ops))
            continue
        if _check_value(spec, value, where, issues):
            values[key] = value
    for key, spec in keys.items():
        if key not in table:
            if spec.required:
                issues.add(MissingKeyError, f"{section}.{key}", "missing (required)", spec.allowed())
            values[key] = spec.default
        elif key not in values:
            values[key] = None
    return values


def _check_value(spec: Key, value, where: str, issues: Issues) -> bool:
    kind = spec.kind
    if kind in ("str", "name", "path"):
        if not isinstance(value, str):
            issues.add(WrongTypeError, where, value, "must be a string", spec.allowed())
            return False
        if kind == "name" and (not NAME_PATTERN.match(value) or value in RESERVED_NAMES):
            problem = "is reserved" if value in RESERVED_NAMES else "is not a usable file name"
            issues.add(NotAllowedError, where, value, problem, spec.allowed() + (
                f", other than {', '.join(RESERVED_NAMES)}"))
            return False
    elif kind == "paths":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            issues.add(WrongTypeError, where, value, "must be a list of file paths", spec.allowed())
            return False
    elif kind == "bool":
        if not isinstance(value, bool):
            issues.add(WrongTypeError, where, value, "must be true or false", spec.allowed())
            return False
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            issues.add(WrongTypeError, where, value, "must be a whole number", spec.allowed())
            return False
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            issues.add(WrongTypeError, where, value, "must be a number", spec.allowed())
            return False
    elif kind == "effects":
        if not isinstance(value, list):
            issues.add(WrongTypeError, where, value, "must be a list of effect tables",
                       '[{ plugin = "Reverb", room_size = 0.5 }, ...]')
            return False
    if spec.choices is not None and value not in spec.choices:
        issues.add(NotAllowedError, where, value, f"not allowed{_close(str(value), [str(c) for c in spec.choices])}",
                   spec.allowed())
        return False
    if kind in ("int", "number"):
        too_low = spec.lo is not None and (value < spec.lo or (spec.lo_open and value == spec.lo))
        too_high = spec.hi is not None and value > spec.hi
        if too_low or too_high:
            issues.add(OutOfRangeError, where, value, "out of range", spec.allowed())
            return False
    return True


def _check_set(table, issues: Issues, path: Path) -> SetSpec:
    if not isinstance(table, dict):
        issues.add(WrongTypeError, "set", table, "must be a table", "[set] with keys " + ", ".join(SET_KEYS))
        table = {}
    v = _check_table(table, "set", SET_KEYS, issues)
    name = v["name"] if "name" in table else path.stem
    if "name" not in table and not NAME_PATTERN.match(name):
        issues.add(MissingKeyError, "set.name", f"missing, and the file name {path.stem!r} is not usable as one",
                   SET_KEYS["name"].allowed())
    if v["format"] in FORMAT_SUBTYPES and v["bit_depth"] is not None and v["bit_depth"] not in FORMAT_SUBTYPES[v["format"]]:
        issues.add(ConflictError, "set.bit_depth", v["bit_depth"], f"{v['format']} cannot hold this bit depth",
                   ", ".join(map(str, FORMAT_SUBTYPES[v["format"]])) + f" with format \"{v['format']}\"")
    target = _target(table, v, "set", issues, DEFAULT_LUFS, v["true_peak_dbtp"] or DEFAULT_CEILING)
    return SetSpec(name, v["sample_rate"] or 44100, v["bit_depth"] or 24, v["format"] or "wav",
                   float(v["seconds"] or DEFAULT_SET_SECONDS), v["seed"] if v["seed"] is not None else 0, target,
                   float(v["fade_in"] or 0.0), float(v["fade_out"] or 0.0))


def _target(table: dict, v: dict, section: str, issues: Issues, default_lufs, ceiling, inherit: Target | None = None):
    if "loudness_lufs" in table and "peak_dbfs" in table:
        issues.add(ConflictError, f"{section}.peak_dbfs", table["peak_dbfs"],
                   "give loudness_lufs or peak_dbfs, not both", "one of loudness_lufs, peak_dbfs")
    if v.get("peak_dbfs") is not None:
        peak = float(v["peak_dbfs"])
        if peak > ceiling:
            issues.add(ConflictError, f"{section}.peak_dbfs", v["peak_dbfs"], "is above the true-peak ceiling",
                       f"at most true_peak_dbtp ({ceiling:g})")
        return Target("peak", peak, ceiling)
    if v.get("loudness_lufs") is not None:
        return Target("lufs", float(v["loudness_lufs"]), ceiling)
    if inherit is not None:
        return Target(inherit.mode, inherit.value, ceiling)
    return Target("lufs", default_lufs, ceiling)


def _check_stems(stems, issues: Issues, base: Path, set_spec: SetSpec) -> list[StemSpec]:
    if stems is None:
        issues.add(MissingKeyError, "stems", "missing: a preset needs at least one [[stems]] table",
                   "[[stems]] tables")
        return []
    if not isinstance(stems, list) or not all(isinstance(s, dict) for s in stems) or not stems:
        issues.add(WrongTypeError, "stems", stems, "must be one or more [[stems]] tables", "[[stems]] tables")
        return []
    ops = preset_operations()
    seen: dict[str, int] = {}
    out = []
    for index, table in enumerate(stems):
        key = f"stems[{index}]"
        op = table.get("op", "generate")
        if op not in ops:
            issues.add(NotAllowedError, f"{key}.op", op, f"not an operation{_close(str(op), ops)}", ", ".join(ops))
            op = None
        v = _check_table(table, key, STEM_KEYS, issues, op)
        name = v.get("name")
        if isinstance(name, str):
            if name in seen:
                issues.add(DuplicateError, f"{key}.name", name, f"stems[{seen[name]}] has the same name",
                           "a name no other stem in the set has")
            seen.setdefault(name, index)
        stem = StemSpec(index, name or f"stem{index}", op or "generate", table, v)
        _check_stem_rules(stem, table, v, issues, base, set_spec)
        stem.target = _target(table, v, key, issues, DEFAULT_LUFS, set_spec.target.ceiling_dbtp, set_spec.target)
        stem.effects = _check_effects(v.get("effects"), f"{key}.effects", issues, base, set_spec.sample_rate)
        out.append(stem)
    return out


def _check_stem_rules(stem: StemSpec, table: dict, v: dict, issues: Issues, base: Path, set_spec: SetSpec) -> None:
    key, op = stem.key, stem.op
    for a, b in (("midi", "hum"),):
        if a in table and b in table:
            issues.add(ConflictError, f"{key}.{b}", table[b], f"give {a} or {b}, not both", f"one of {a}, {b}")
    for needs, what in (("track", "midi"), ("channel", "midi"), ("hum_key", "hum"), ("crossfade", "loop"),
                        ("length", "loop")):
        if needs in table and not table.get(what):
            issues.add(ConflictError, f"{key}.{needs}", table[needs], f"`{needs}` needs `{what}`",
                       f"{needs} together with {what}" + (" = true" if what == "loop" else ""))
    required = {"transform": "source", "continue": "source", "interpolate": "sources"}.get(op)
    if required and required not in table:
        issues.add(MissingKeyError, f"{key}.{required}", f"missing: op \"{op}\" needs it",
                   STEM_KEYS[required].allowed())
    if op == "continue" and "seconds" not in table:
        issues.add(MissingKeyError, f"{key}.seconds", "missing: op \"continue\" needs the seconds to add",
                   STEM_KEYS["seconds"].allowed())
    for pkey in ("midi", "hum", "source"):
        if isinstance(v.get(pkey), str):
            found = _existing(base, v[pkey], f"{key}.{pkey}", issues)
            if found:
                stem.paths[pkey] = found
    if isinstance(v.get("sources"), list):
        if len(v["sources"]) != 2:
            issues.add(OutOfRangeError, f"{key}.sources", v["sources"], f"has {len(v['sources'])} files",
                       "exactly two files, [A, B]")
        else:
            found = [_existing(base, p, f"{key}.sources[{i}]", issues) for i, p in enumerate(v["sources"])]
            if all(found):
                stem.paths["sources"] = found
    # Lengths on the set's timeline.
    start = v.get("start") or 0.0
    if op == "generate" and not v.get("loop") and "seconds" not in table and start >= set_spec.seconds:
        issues.add(ConflictError, f"{key}.start", start, "starts at or after the end of the set, so it has no length",
                   f"a start before set.seconds ({set_spec.seconds:g}) or an explicit seconds")
    if v.get("loop"):
        length = v.get("length") or (set_spec.seconds - start)
        if length <= 0:
            issues.add(ConflictError, f"{key}.start", start, "a looped stem starting here has no length",
                       f"a start before set.seconds ({set_spec.seconds:g}) or an explicit length")
        clip = v.get("seconds")
        if op == "generate" and clip is None:
            issues.add(MissingKeyError, f"{key}.seconds", "missing: a looped generate stem needs the clip length",
                       STEM_KEYS["seconds"].allowed())
        if clip and v.get("crossfade") and v["crossfade"] * 2 > clip:
            issues.add(ConflictError, f"{key}.crossfade", v["crossfade"], "is longer than half the looped clip",
                       f"at most {clip / 2:g} (half of seconds)")
    in_memory = op in ("transform", "interpolate", "continue") or v.get("loop")
    if in_memory and isinstance(v.get("seconds"), (int, float)) and v["seconds"] > MAX_IN_MEMORY_SECONDS:
        issues.add(OutOfRangeError, f"{key}.seconds", v["seconds"],
                   "too long for a stem made in memory (continue, or loop clip)",
                   f"at most {MAX_IN_MEMORY_SECONDS:g}; longer beds stream with op \"generate\"")


def _existing(base: Path, value: str, where: str, issues: Issues) -> str | None:
    path = (base / value).resolve()
    if not path.exists():
        issues.add(FileProblemError, where, value, f"file not found: {path}", "an existing file, relative to the preset")
        return None
    if not path.is_file():
        issues.add(FileProblemError, where, value, f"is a folder: {path}", "a file, relative to the preset")
        return None
    return str(path)


def _check_effects(entries, where: str, issues: Issues, base: Path, sample_rate: int) -> list[EffectSpec]:
    if not entries:
        return []
    kinds = {"type": WrongTypeError, "conflict": ConflictError, "missing": MissingKeyError, "plugin": PluginProblemError,
             "unknown": UnknownKeyError, "range": OutOfRangeError, "choice": NotAllowedError, "file": FileProblemError}
    out = []
    for index, entry in enumerate(entries):
        spec, found = check_effect(entry, f"{where}[{index}]", sample_rate, base)
        for issue in found:
            _add_effect_issue(issues, kinds[issue.kind], issue)
        if spec is not None:
            out.append(spec)
    return out


def _add_effect_issue(issues: Issues, cls, issue: EffectIssue) -> None:
    if cls is MissingKeyError:
        issues.add(cls, issue.key, issue.problem, issue.allowed)
    else:
        issues.add(cls, issue.key, issue.value, issue.problem, issue.allowed)


def _check_mix(table, issues: Issues, base: Path, set_spec: SetSpec) -> MixSpec:
    if not isinstance(table, dict):
        issues.add(WrongTypeError, "mix", table, "must be a table", "[mix] with keys " + ", ".join(MIX_KEYS))
        table = {}
    v = _check_table(table, "mix", MIX_KEYS, issues)
    ceiling = v["true_peak_dbtp"] if v["true_peak_dbtp"] is not None else set_spec.target.ceiling_dbtp
    target = _target(table, v, "mix", issues, DEFAULT_LUFS, ceiling, set_spec.target)
    effects = _check_effects(v.get("effects"), "mix.effects", issues, base, set_spec.sample_rate)
    return MixSpec(v["enabled"] if v["enabled"] is not None else True, effects, target)


def _close(value: str, options) -> str:
    import difflib

    match = difflib.get_close_matches(str(value), [str(o) for o in options], n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


# --- stage 2: the model's own checks ------------------------------------------------------

def derived_seed(set_seed: int, name: str) -> int:
    """A stem's default seed: stable when stems are reordered, different per name."""
    return (set_seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31)


def load_inputs(stem: StemSpec, sample_rate: int, cache_dir: Path | None = None, write_cache: bool = True):
    """The melody and the input audio of a stem, ready for the pipeline (audio at the set's rate, stereo).

    Hum transcriptions (pitch tracking, the slow part) are kept in `cache_dir`
    by the take's sha256 and key, so a later run reads the same notes back.
    """
    from reverie.models.audio import Audio, load_audio, resample

    def stereo(audio: Audio, field_name: str) -> Audio:
        samples = audio.samples
        if audio.channels != CHANNELS:
            samples = samples.mean(axis=0, keepdims=True).repeat(CHANNELS, axis=0)
        samples = resample(samples, audio.sample_rate, sample_rate)
        frames = round(audio.frames * sample_rate / audio.sample_rate)
        from reverie.models.audio import fit_length

        return Audio(fit_length(samples, frames), sample_rate).validate(field_name)

    v, melody, audio = stem.values, None, {}
    if "midi" in stem.paths:
        from reverie.models.melody import Melody

        melody = Melody.from_midi(stem.paths["midi"], track=v.get("track"), channel=v.get("channel"))
    elif "hum" in stem.paths:
        from reverie.models.melody import Melody

        melody = transcribe_hum(stem.paths["hum"], v.get("hum_key"), cache_dir, write_cache)
    if "source" in stem.paths:
        audio["audio"] = stereo(load_audio(stem.paths["source"], field="source"), "source")
    if "sources" in stem.paths:
        audio["a"] = stereo(load_audio(stem.paths["sources"][0], field="a"), "a")
        audio["b"] = stereo(load_audio(stem.paths["sources"][1], field="b"), "b")
    return melody, audio


def transcribe_hum(path: str, key: str | None, cache_dir: Path | None, write_cache: bool = True):
    import json

    from reverie.models.audio import load_audio
    from reverie.models.melody import Melody, Note

    from .manifest import sha256_file, write_json_atomic

    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"hum-{sha256_file(path)[:24]}-{(key or 'auto').replace(' ', '_')}.json"
        if cached.is_file():
            try:
                return Melody(tuple(Note(**n) for n in json.loads(cached.read_text())["notes"]))
            except (ValueError, KeyError, TypeError, ReverieError):
                pass  # a damaged cache entry: transcribe again
    melody = Melody.from_hum(load_audio(path, field="hum"), key=key)
    if cached is not None and write_cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        notes = [{"start": n.start, "end": n.end, "pitch": n.pitch, "velocity": n.velocity} for n in melody.notes]
        write_json_atomic(cached, {"source": Path(path).name, "key": key, "notes": notes})
    return melody


# pipeline parameter name -> the preset key that holds it
FIELD_KEYS = {"audio": "source", "a": "sources[0]", "b": "sources[1]", "melody": "midi", "key": "hum_key"}


def pipeline_kwargs(stem: StemSpec, set_spec: SetSpec, melody, audio: dict, clip_seconds: float | None = None) -> dict:
    """The keyword arguments of `pipe.run(stem.op, ...)`, exactly as the renderer will pass them."""
    v = stem.values
    kwargs = dict(style=v.get("style"), melody=melody, seed=stem_seed(stem, set_spec), steps=v.get("steps"),
                  guidance=v.get("guidance"), scheduler=v.get("scheduler"))
    if stem.op == "generate":
        kwargs.update(seconds=clip_seconds if clip_seconds is not None else generate_seconds(stem, set_spec),
                      sample_rate=set_spec.sample_rate, channels=CHANNELS)
    elif stem.op == "continue":
        kwargs.update(audio=audio["audio"], seconds=v["seconds"])
    elif stem.op == "transform":
        kwargs.update(audio=audio["audio"], strength=v.get("strength"), timestep=v.get("timestep"))
    elif stem.op == "interpolate":
        kwargs.update(a=audio["a"], b=audio["b"], strength=v.get("strength"), timestep=v.get("timestep"))
        if v.get("ratio") is not None:
            kwargs["ratio"] = v["ratio"]
    return kwargs


def stem_seed(stem: StemSpec, set_spec: SetSpec) -> int:
    return stem.values["seed"] if stem.values.get("seed") is not None else derived_seed(set_spec.seed, stem.name)


def generate_seconds(stem: StemSpec, set_spec: SetSpec) -> float:
    v = stem.values
    if v.get("seconds") is not None:
        return float(v["seconds"])
    return set_spec.seconds - (v.get("start") or 0.0)


def check_with_pipeline(preset: Preset, pipe, stems: list[StemSpec] | None = None,
                        cache_dir: Path | None = None, write_cache: bool = True) -> dict[str, int]:
    """Read every stem's inputs and let the pipeline validate its arguments. Returns total steps per stem.

    The inputs read here are kept on the stem (`stem.inputs`) for the render that follows.
    """
    issues = Issues(preset.path)
    steps = {}
    for stem in stems if stems is not None else preset.stems:
        try:
            stem.inputs = load_inputs(stem, preset.set.sample_rate, cache_dir, write_cache)
        except ReverieError as exc:
            key = _key_for_field(stem, exc.field)
            issues.add(FileProblemError if exc.code == "bad_audio" else RejectedByModelError, key,
                       _lookup(stem, preset, key), exc.message)
            continue
        except Exception as exc:  # a file the melody or audio readers cannot parse
            key = f"{stem.key}.{next(k for k in ('midi', 'hum', 'source', 'sources') if k in stem.paths)}"
            issues.add(FileProblemError, key, _lookup(stem, preset, key), f"cannot read: {exc}")
            continue
        v = stem.values
        longest = pipe.defaults.get("max_seconds")
        for key in ("length", "start"):
            if longest and isinstance(v.get(key), (int, float)) and v[key] > longest:
                issues.add(OutOfRangeError, f"{stem.key}.{key}", v[key], "longer than the model allows",
                           f"at most {longest:g} seconds")
        try:
            melody, audio = stem.inputs
            clip = float(v["seconds"]) + float(v["crossfade"]) if v.get("loop") and stem.op == "generate" else None
            steps[stem.name] = pipe.total_steps(stem.op, **pipeline_kwargs(stem, preset.set, melody, audio, clip))
        except ReverieError as exc:
            key = _key_for_field(stem, exc.field)
            issues.add(RejectedByModelError, key, _lookup(stem, preset, key), exc.message)
    issues.raise_if_any()
    return steps


def _key_for_field(stem: StemSpec, field_name: str | None) -> str:
    name = FIELD_KEYS.get(field_name or "", field_name or "")
    if name == "midi" and "hum" in stem.paths:
        name = "hum"
    if field_name in (None, "") or (name not in STEM_KEYS and not name.startswith("sources")):
        # The melody package names MIDI details (track, channel) or the take itself.
        name = field_name if field_name in STEM_KEYS else ("midi" if "midi" in stem.paths else "hum" if "hum" in stem.paths else "op")
    if name == "seconds" and "seconds" not in stem.raw:
        return "set.seconds"
    return f"{stem.key}.{name}"


def _lookup(stem: StemSpec, preset: Preset, key: str):
    if key.startswith("set."):
        return preset.set.seconds
    tail = key[len(stem.key) + 1:]
    if tail.startswith("sources["):
        sources = stem.raw.get("sources") or []
        i = int(tail[8])
        return sources[i] if i < len(sources) else None
    return stem.raw.get(tail)


def load_presets(paths) -> list[Preset]:
    """Load several presets; every error of every file is reported together, and set names must differ."""
    errors, presets = [], []
    for path in paths:
        try:
            presets.append(load_preset(path))
        except PresetErrors as exc:
            errors.extend(exc.errors)
    names: dict[str, Path] = {}
    for p in presets:
        if p.set.name in names:
            errors.append(DuplicateError(p.path, "set.name", p.set.name, f"{names[p.set.name]} has the same set name",
                                         "a set name no other preset given has (each set gets its own folder)"))
        names.setdefault(p.set.name, p.path)
    if errors:
        raise PresetErrors(errors)
    return presets
