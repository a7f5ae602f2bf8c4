"""Preset files, stage 1 of validation: TOML syntax, known keys, types, ranges, choices, files, effects, names.

`load_preset(path)` needs no model and imports no torch. Stage 2, the
pipeline's own checks of every stem's call, is `model_check.check_with_pipeline`.
Every problem becomes a `PresetError` naming the file, the key path, the bad
value and what is allowed; all problems of a file are raised together as
`PresetErrors`. The keys and what they allow are in `schema`. The checks every
section shares are in preset_checks.py, the stems' own in preset_stems.py, and
what a file validates to (`Preset`, `SetSpec`, `StemSpec`, `MixSpec`) in
preset_spec.py; those types are importable from here too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .errors import Issues, PresetError, PresetErrors, did_you_mean
from .preset_checks import check_effects, check_table, loudness_target
from .preset_spec import MixSpec, Preset, SetSpec
from .preset_spec import StemSpec as StemSpec
from .preset_stems import check_stems
from .schema import (
    DEFAULT_CEILING,
    DEFAULT_LUFS,
    DEFAULT_SET_SECONDS,
    FORMAT_SUBTYPES,
    MIX_KEYS,
    NAME_PATTERN,
    SECTIONS,
    SET_KEYS,
)

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
    stems = check_stems(data.get("stems"), issues, base, set_spec)
    mix = _check_mix(data.get("mix", {}), issues, base, set_spec)
    issues.raise_if_any()
    return Preset(path, set_spec, stems, mix, text)


def _check_set(table, issues: Issues, path: Path) -> SetSpec:
    if not isinstance(table, dict):
        issues.add("type", "set", table, "must be a table", "[set] with keys " + ", ".join(SET_KEYS))
        table = {}
    v = check_table(table, "set", SET_KEYS, issues)
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
    target = loudness_target(table, v, "set", issues, DEFAULT_LUFS, ceiling)
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


def _check_mix(table, issues: Issues, base: Path, set_spec: SetSpec) -> MixSpec:
    if not isinstance(table, dict):
        issues.add("type", "mix", table, "must be a table", "[mix] with keys " + ", ".join(MIX_KEYS))
        table = {}
    v = check_table(table, "mix", MIX_KEYS, issues)
    ceiling = v["true_peak_dbtp"] if v["true_peak_dbtp"] is not None else set_spec.target.ceiling_dbtp
    target = loudness_target(table, v, "mix", issues, DEFAULT_LUFS, ceiling, set_spec.target)
    effects = check_effects(v.get("effects"), "mix.effects", issues, base, set_spec.sample_rate)
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
