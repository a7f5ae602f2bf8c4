"""The [[stems]] tables of a preset checked: each stem's keys, the keys that go together or exclude each
other, the inputs its op needs, its files, and its length on the set's timeline."""

from __future__ import annotations

from pathlib import Path

from reverie.models.operations import ASKED, operation

from .errors import Issues, did_you_mean
from .preset_checks import check_effects, check_table, existing_file, loudness_target
from .preset_spec import SetSpec, StemSpec
from .schema import (
    DEFAULT_LUFS,
    MAX_IN_MEMORY_SECONDS,
    OPERATIONS,
    STEM_KEYS,
    input_key,
)


def check_stems(stems, issues: Issues, base: Path, set_spec: SetSpec) -> list[StemSpec]:
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
        v = check_table(table, key, STEM_KEYS, issues, op, checked=("op",))
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
        stem.target = loudness_target(
            table, v, key, issues, DEFAULT_LUFS, set_spec.target.ceiling_dbtp, set_spec.target
        )
        stem.effects = check_effects(v.get("effects"), f"{key}.effects", issues, base, set_spec.sample_rate)
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
            found = existing_file(base, v[pkey], f"{key}.{pkey}", issues)
            if found:
                stem.paths[pkey] = found
    if isinstance(v.get("sources"), list):
        if len(v["sources"]) != 2:
            issues.add(
                "range", f"{key}.sources", v["sources"], f"has {len(v['sources'])} files", "exactly two files, [A, B]"
            )
        else:
            found = [existing_file(base, p, f"{key}.sources[{i}]", issues) for i, p in enumerate(v["sources"])]
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
