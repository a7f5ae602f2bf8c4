"""The checks every section of a preset shares: a table's keys against the schema (known, typed, in range,
used by the stem's op), its loudness target, its effects list and the files it names."""

from __future__ import annotations

import math
from pathlib import Path

from reverie.models.errors import ReverieError
from reverie.models.grid import tempo_text
from reverie.models.mood import as_text

from .effects import EffectSpec, check_effect
from .errors import Issues, did_you_mean
from .loudness import Target
from .schema import (
    NAME_PATTERN,
    RESERVED_NAMES,
    STEM_KEYS,
    Key,
)

# Keys whose TOML form may be a list of [seconds, value] pairs; the pipeline takes their text form.
TEXT_FORMS = {"mood": as_text, "tempo": tempo_text}


def check_table(
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


def loudness_target(
    table: dict, v: dict, section: str, issues: Issues, default_lufs, ceiling, inherit: Target | None = None
):
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


def existing_file(base: Path, value: str, where: str, issues: Issues) -> str | None:
    path = (base / value).resolve()
    if not path.exists():
        issues.add("file", where, value, f"file not found: {path}", "an existing file, relative to the preset")
        return None
    if not path.is_file():
        issues.add("file", where, value, f"is a folder: {path}", "a file, relative to the preset")
        return None
    return str(path)


def check_effects(entries, where: str, issues: Issues, base: Path, sample_rate: int) -> list[EffectSpec]:
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
