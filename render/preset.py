"""Preset files, stage 1 of validation: TOML syntax, known keys, types, ranges, choices, files, effects, names.

`load_preset(path)` needs no model and imports no torch. Stage 2, the
pipeline's own checks of every stem's call, is `model_check.check_with_pipeline`.
Every problem becomes a `PresetError` naming the file, the key path, the bad
value and what is allowed; all problems of a file are raised together as
`PresetErrors`. The keys and what they allow are in `schema`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from reverie.models.errors import ReverieError
from reverie.models.grid import tempo_text
from reverie.models.mood import as_text
from reverie.models.operations import ASKED, operation

from .effects import EffectSpec, check_effect
from .errors import Issues, PresetError, PresetErrors, did_you_mean
from .loudness import Target
from .schema import (
    DEFAULT_CEILING,
    DEFAULT_LUFS,
    DEFAULT_SET_SECONDS,
    FORMAT_SUBTYPES,
    MAX_IN_MEMORY_SECONDS,
    MIX_KEYS,
    NAME_PATTERN,
    OPERATIONS,
    RESERVED_NAMES,
    SECTIONS,
    SET_KEYS,
    STEM_KEYS,
    Key,
    input_key,
)

# Keys whose TOML form may be a list of [seconds, value] pairs; the pipeline takes their text form.
TEXT_FORMS = {"mood": as_text, "tempo": tempo_text}

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
    prefix: bool = False

    def file_stem(self, name: str) -> str:
        """The file name (without extension) of output `name`, a stem or the mixdown."""
        return f"{self.name}-{name}" if self.prefix else name


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
        issues.add("file", "", None, "preset file not found", "a .toml preset file")
        issues.raise_if_any()
    if not path.is_file():
        issues.add("file", "", None, "is a folder, not a preset file", "a .toml preset file")
        issues.raise_if_any()
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as some Windows editors write, is fine
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        issues.add("syntax", "", None, "not a text file", "a UTF-8 TOML file")
        issues.raise_if_any()
    except tomllib.TOMLDecodeError as exc:
        issues.add("syntax", "", None, f"not valid TOML: {exc}", "TOML (https://toml.io)")
        issues.raise_if_any()

    for key, value in data.items():
        if key not in SECTIONS:
            hint = did_you_mean(key, SECTIONS)
            issues.add("unknown", key, value, f"unknown section{hint}", "[set], [[stems]], [mix]")
    base = path.resolve().parent
    set_spec = _check_set(data.get("set", {}), issues, path)
    stems = _check_stems(data.get("stems"), issues, base, set_spec)
    mix = _check_mix(data.get("mix", {}), issues, base, set_spec)
    issues.raise_if_any()
    return Preset(path, set_spec, stems, mix, text)


def _check_table(
    table, section: str, keys: dict[str, Key], issues: Issues, op: str | None = None, checked: tuple = ()
) -> dict:
    """Type/range/choice checks of one table; returns values with defaults (None where a check failed).

    Keys in `checked` were checked by the caller: they are taken as they are.
    """
    values = {}
    for key, value in table.items():
        where = f"{section}.{key}"
        if key in checked:
            values[key] = value
            continue
        if key not in keys:
            issues.add("unknown", where, value, f"unknown key{did_you_mean(key, keys)}", ", ".join(keys))
            continue
        spec = keys[key]
        if op is not None and spec.ops is not None and op not in spec.ops:
            issues.add(
                "conflict", where, value, f'`{key}` is not used by op "{op}"', f"{key} with op " + ", ".join(spec.ops)
            )
            continue
        if spec.kind in TEXT_FORMS:  # a trajectory may be a TOML list: the pipeline takes its text form
            value = _text_form(key, value, where, issues)
            if value is None:
                values[key] = None
                continue
        if _check_value(spec, value, where, issues):
            values[key] = value
    for key, spec in keys.items():
        if key not in table:
            if spec.required:
                issues.add("missing", f"{section}.{key}", None, "missing (required)", spec.allowed())
            values[key] = spec.default
        elif key not in values:
            values[key] = None
    return values


def _text_form(key: str, value, where: str, issues: Issues) -> str | None:
    try:
        return TEXT_FORMS[STEM_KEYS[key].kind](value)
    except ReverieError as exc:
        issues.add("type", where, value, exc.message, STEM_KEYS[key].allowed())
        return None


def _check_value(spec: Key, value, where: str, issues: Issues) -> bool:
    kind = spec.kind
    if kind in ("str", "name", "path"):
        if not isinstance(value, str):
            issues.add("type", where, value, "must be a string", spec.allowed())
            return False
        if kind == "name" and (not NAME_PATTERN.match(value) or value in RESERVED_NAMES):
            problem = "is reserved" if value in RESERVED_NAMES else "is not a usable file name"
            issues.add("choice", where, value, problem, spec.allowed() + (f", other than {', '.join(RESERVED_NAMES)}"))
            return False
    elif kind == "paths":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            issues.add("type", where, value, "must be a list of file paths", spec.allowed())
            return False
    elif kind == "bool":
        if not isinstance(value, bool):
            issues.add("type", where, value, "must be true or false", spec.allowed())
            return False
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            issues.add("type", where, value, "must be a whole number", spec.allowed())
            return False
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            issues.add("type", where, value, "must be a number", spec.allowed())
            return False
    elif kind == "effects":
        if not isinstance(value, list):
            issues.add(
                "type", where, value, "must be a list of effect tables", '[{ plugin = "Reverb", room_size = 0.5 }, ...]'
            )
            return False
    if spec.param is not None:  # a pipeline parameter: refused here as the pipeline would refuse it
        try:
            spec.param.check(value)
        except ReverieError as exc:
            issues.add("choice" if spec.choices is not None else "range", where, value, exc.message)
            return False
        return True
    if spec.choices is not None and value not in spec.choices:
        issues.add("choice", where, value, f"not allowed{did_you_mean(value, spec.choices)}", spec.allowed())
        return False
    if kind in ("int", "number"):
        too_low = spec.lo is not None and (value < spec.lo or (spec.lo_open and value == spec.lo))
        too_high = spec.hi is not None and value > spec.hi
        if too_low or too_high:
            issues.add("range", where, value, "out of range", spec.allowed())
            return False
    return True


def _check_set(table, issues: Issues, path: Path) -> SetSpec:
    if not isinstance(table, dict):
        issues.add("type", "set", table, "must be a table", "[set] with keys " + ", ".join(SET_KEYS))
        table = {}
    v = _check_table(table, "set", SET_KEYS, issues)
    name = v["name"] if "name" in table else path.stem
    if "name" not in table and not NAME_PATTERN.match(name):
        issues.add(
            "missing",
            "set.name",
            None,
            f"missing, and the file name {path.stem!r} is not usable as one",
            SET_KEYS["name"].allowed(),
        )
    depths = FORMAT_SUBTYPES.get(v["format"])
    if depths and v["bit_depth"] is not None and v["bit_depth"] not in depths:
        issues.add(
            "conflict",
            "set.bit_depth",
            v["bit_depth"],
            f"{v['format']} cannot hold this bit depth",
            ", ".join(map(str, depths)) + f' with format "{v["format"]}"',
        )
    ceiling = v["true_peak_dbtp"] if v["true_peak_dbtp"] is not None else DEFAULT_CEILING  # 0 dBTP is a ceiling
    target = _target(table, v, "set", issues, DEFAULT_LUFS, ceiling)
    seconds = float(v["seconds"] or DEFAULT_SET_SECONDS)
    fade_in, fade_out = float(v["fade_in"] or 0.0), float(v["fade_out"] or 0.0)
    if fade_in + fade_out > seconds:
        culprit = "fade_out" if "fade_out" in table else "fade_in"
        issues.add(
            "conflict",
            f"set.{culprit}",
            table[culprit],
            f"the set's fades ({fade_in:g} s in, {fade_out:g} s out) are longer than the set ({seconds:g} s)",
            f"fade_in + fade_out at most set.seconds ({seconds:g})",
        )
    return SetSpec(
        name,
        v["sample_rate"] or 44100,
        v["bit_depth"] or 24,
        v["format"] or "wav",
        seconds,
        v["seed"] if v["seed"] is not None else 0,
        target,
        fade_in,
        fade_out,
        bool(v["prefix"]),
    )


def _target(table: dict, v: dict, section: str, issues: Issues, default_lufs, ceiling, inherit: Target | None = None):
    if "loudness_lufs" in table and "peak_dbfs" in table:
        issues.add(
            "conflict",
            f"{section}.peak_dbfs",
            table["peak_dbfs"],
            "give loudness_lufs or peak_dbfs, not both",
            "one of loudness_lufs, peak_dbfs",
        )
    if v.get("peak_dbfs") is not None:
        peak = float(v["peak_dbfs"])
        if peak > ceiling:
            issues.add(
                "conflict",
                f"{section}.peak_dbfs",
                v["peak_dbfs"],
                "is above the true-peak ceiling",
                f"at most true_peak_dbtp ({ceiling:g})",
            )
        return Target("peak", peak, ceiling)
    if v.get("loudness_lufs") is not None:
        return Target("lufs", float(v["loudness_lufs"]), ceiling)
    if inherit is not None:
        return Target(inherit.mode, inherit.value, ceiling)
    return Target("lufs", default_lufs, ceiling)


def _check_stems(stems, issues: Issues, base: Path, set_spec: SetSpec) -> list[StemSpec]:
    if stems is None:
        issues.add("missing", "stems", None, "missing: a preset needs at least one [[stems]] table", "[[stems]] tables")
        return []
    if not isinstance(stems, list) or not all(isinstance(s, dict) for s in stems) or not stems:
        issues.add("type", "stems", stems, "must be one or more [[stems]] tables", "[[stems]] tables")
        return []
    seen: dict[str, int] = {}
    out = []
    for index, table in enumerate(stems):
        key = f"stems[{index}]"
        op = table.get("op", "generate")
        if op not in OPERATIONS:  # one line: a wrong type is not also reported as a wrong choice
            if isinstance(op, str):
                issues.add(
                    "choice", f"{key}.op", op, f"not an operation{did_you_mean(op, OPERATIONS)}", ", ".join(OPERATIONS)
                )
            else:
                issues.add("type", f"{key}.op", op, "must be a string", "one of " + ", ".join(OPERATIONS))
            op = None
        v = _check_table(table, key, STEM_KEYS, issues, op, checked=("op",))
        name = v.get("name")
        if isinstance(name, str):
            if name in seen:
                issues.add(
                    "duplicate",
                    f"{key}.name",
                    name,
                    f"stems[{seen[name]}] has the same name",
                    "a name no other stem in the set has",
                )
            seen.setdefault(name, index)
        stem = StemSpec(index, name or f"stem{index}", op or "generate", table, v)
        _check_stem_rules(stem, table, v, issues, base, set_spec)
        stem.target = _target(table, v, key, issues, DEFAULT_LUFS, set_spec.target.ceiling_dbtp, set_spec.target)
        stem.effects = _check_effects(v.get("effects"), f"{key}.effects", issues, base, set_spec.sample_rate)
        out.append(stem)
    return out


def _check_stem_rules(stem: StemSpec, table: dict, v: dict, issues: Issues, base: Path, set_spec: SetSpec) -> None:
    key, op = stem.key, stem.op
    spec = operation(op)
    # Two ways to say one thing: a melody from MIDI or a take; the spec's alternatives (strength, timestep).
    for a, b in (("midi", "hum"), *((p.name, p.replaced_by) for p in spec.params if p.replaced_by)):
        if a in table and b in table:
            issues.add("conflict", f"{key}.{b}", table[b], f"give {a} or {b}, not both", f"one of {a}, {b}")
    for needs, what in (
        ("track", "midi"),
        ("channel", "midi"),
        ("hum_key", "hum"),
        ("crossfade", "loop"),
        ("length", "loop"),
    ):
        if needs in table and not table.get(what):
            issues.add(
                "conflict",
                f"{key}.{needs}",
                table[needs],
                f"`{needs}` needs `{what}`",
                f"{needs} together with {what}" + (" = true" if what == "loop" else ""),
            )
    required = input_key(op)
    if required and required not in table:
        issues.add("missing", f"{key}.{required}", None, f'missing: op "{op}" needs it', STEM_KEYS[required].allowed())
    for name in spec.required:
        if name not in table:
            issues.add(
                "missing",
                f"{key}.{name}",
                None,
                f'missing: op "{op}" needs `{name}`: {spec.param(name).help}',
                STEM_KEYS[name].allowed(),
            )
    for pkey in ("midi", "hum", "source"):
        if isinstance(v.get(pkey), str):
            found = _existing(base, v[pkey], f"{key}.{pkey}", issues)
            if found:
                stem.paths[pkey] = found
    if isinstance(v.get("sources"), list):
        if len(v["sources"]) != 2:
            issues.add(
                "range", f"{key}.sources", v["sources"], f"has {len(v['sources'])} files", "exactly two files, [A, B]"
            )
        else:
            found = [_existing(base, p, f"{key}.sources[{i}]", issues) for i, p in enumerate(v["sources"])]
            if all(found):
                stem.paths["sources"] = found
    # Lengths on the set's timeline.
    start = v.get("start") or 0.0
    new_audio = spec.length == ASKED  # lasts its seconds, by default to the end of the set
    if new_audio and not v.get("loop") and "seconds" not in table and start >= set_spec.seconds:
        issues.add(
            "conflict",
            f"{key}.start",
            start,
            "starts at or after the end of the set, so it has no length",
            f"a start before set.seconds ({set_spec.seconds:g}) or an explicit seconds",
        )
    if v.get("loop"):
        length = v.get("length") or (set_spec.seconds - start)
        if length <= 0:
            issues.add(
                "conflict",
                f"{key}.start",
                start,
                "a looped stem starting here has no length",
                f"a start before set.seconds ({set_spec.seconds:g}) or an explicit length",
            )
        clip = v.get("seconds")
        if new_audio and clip is None and v.get("bars") is None:
            issues.add(
                "missing",
                f"{key}.seconds",
                None,
                "missing: a looped generate stem needs the clip length (seconds, or bars with bpm)",
                STEM_KEYS["seconds"].allowed(),
            )
        if v.get("bars") is not None and "crossfade" in table:
            issues.add(
                "conflict",
                f"{key}.crossfade",
                table["crossfade"],
                "a clip of whole bars loops on the bar, end into start, so it repeats without a crossfade",
                "leave crossfade out with bars",
            )
        if clip and v.get("crossfade") and v["crossfade"] * 2 > clip:
            issues.add(
                "conflict",
                f"{key}.crossfade",
                v["crossfade"],
                "is longer than half the looped clip",
                f"at most {clip / 2:g} (half of seconds)",
            )
    in_memory = not new_audio or v.get("loop")
    if in_memory and isinstance(v.get("seconds"), (int, float)) and v["seconds"] > MAX_IN_MEMORY_SECONDS:
        issues.add(
            "range",
            f"{key}.seconds",
            v["seconds"],
            "too long for a stem made in memory (continue, or loop clip)",
            f'at most {MAX_IN_MEMORY_SECONDS:g}; longer beds stream with op "generate"',
        )


def _existing(base: Path, value: str, where: str, issues: Issues) -> str | None:
    path = (base / value).resolve()
    if not path.exists():
        issues.add("file", where, value, f"file not found: {path}", "an existing file, relative to the preset")
        return None
    if not path.is_file():
        issues.add("file", where, value, f"is a folder: {path}", "a file, relative to the preset")
        return None
    return str(path)


def _check_effects(entries, where: str, issues: Issues, base: Path, sample_rate: int) -> list[EffectSpec]:
    if not entries:
        return []
    out = []
    for index, entry in enumerate(entries):
        spec, found = check_effect(entry, f"{where}[{index}]", sample_rate, base)
        for issue in found:  # the effect checker's kinds are the preset's own
            issues.add(issue.kind, issue.key, issue.value, issue.problem, issue.allowed)
        if spec is not None:
            out.append(spec)
    return out


def _check_mix(table, issues: Issues, base: Path, set_spec: SetSpec) -> MixSpec:
    if not isinstance(table, dict):
        issues.add("type", "mix", table, "must be a table", "[mix] with keys " + ", ".join(MIX_KEYS))
        table = {}
    v = _check_table(table, "mix", MIX_KEYS, issues)
    ceiling = v["true_peak_dbtp"] if v["true_peak_dbtp"] is not None else set_spec.target.ceiling_dbtp
    target = _target(table, v, "mix", issues, DEFAULT_LUFS, ceiling, set_spec.target)
    effects = _check_effects(v.get("effects"), "mix.effects", issues, base, set_spec.sample_rate)
    return MixSpec(v["enabled"] if v["enabled"] is not None else True, effects, target)


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
            errors.append(
                PresetError(
                    "duplicate",
                    p.path,
                    "set.name",
                    p.set.name,
                    f"{names[p.set.name]} has the same set name",
                    "a set name no other preset given has (each set gets its own folder)",
                )
            )
        names.setdefault(p.set.name, p.path)
    if errors:
        raise PresetErrors(errors)
    return presets
