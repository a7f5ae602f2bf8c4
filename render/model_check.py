"""Preset validation, stage 2: read every stem's inputs and let the pipeline check the stem's call.

Styles, steps, guidance, schedulers, strength, timestep, ratio and lengths
are checked by the same code that would run them (`pipe.total_steps`), on
the same call the renderer will make (`call.stem_call`). The pipeline's
messages are kept and pointed at the preset key that gave the value.
"""

from __future__ import annotations

from pathlib import Path

from reverie.models.errors import ReverieError

from .call import stem_call
from .errors import Issues
from .inputs import load_inputs
from .preset import Preset, StemSpec
from .schema import STEM_KEYS

# pipeline argument name -> the preset key that holds it
FIELD_KEYS = {"audio": "source", "a": "sources[0]", "b": "sources[1]", "melody": "midi"}
INPUT_KEYS = ("midi", "hum", "source", "sources")


def check_with_pipeline(
    preset: Preset,
    pipe,
    stems: list[StemSpec] | None = None,
    cache_dir: Path | None = None,
    write_cache: bool = True,
    deferred: list | None = None,
) -> dict[str, int]:
    """Read every stem's inputs and let the pipeline validate its call. Returns total steps per stem.

    The inputs read here are kept on the stem (`stem.inputs`) for the render that follows. With `deferred`,
    new hum-cache entries are appended there instead of written (see `inputs.write_cache_entries`).
    """
    issues = Issues(preset.path)
    steps = {}
    for stem in stems if stems is not None else preset.stems:
        try:
            stem.inputs = load_inputs(stem, preset.set.sample_rate, cache_dir, write_cache, deferred)
        except ReverieError as exc:
            key = _key_for_field(stem, exc.field)
            issues.add("file" if exc.code == "bad_audio" else "model", key, _lookup(stem, preset, key), exc.message)
            continue
        except Exception as exc:  # a file the melody or audio readers cannot parse
            key = f"{stem.key}.{next(k for k in INPUT_KEYS if k in stem.paths)}"
            issues.add("file", key, _lookup(stem, preset, key), f"cannot read: {exc}")
            continue
        v = stem.values
        longest = pipe.defaults.get("max_seconds")
        for key in ("length", "start"):
            if longest and isinstance(v.get(key), (int, float)) and v[key] > longest:
                issues.add(
                    "range", f"{stem.key}.{key}", v[key], "longer than the model allows", f"at most {longest:g} seconds"
                )
        try:
            call = stem_call(stem, preset.set, pipe.defaults)
            steps[stem.name] = pipe.total_steps(call.op, **call.kwargs)
        except ReverieError as exc:
            key = _key_for_field(stem, exc.field)
            issues.add("model", key, _lookup(stem, preset, key), exc.message)
    _check_set_length(preset, pipe.defaults.get("max_seconds"), issues)
    issues.raise_if_any()
    return steps


def _check_set_length(preset: Preset, longest: float | None, issues: Issues) -> None:
    """Every file spans the whole set: hold the set to the model's limit even when no stem asks it for that length."""
    if not longest or any(e.key == "set.seconds" for e in issues.errors):  # the pipeline already said so
        return
    if preset.set.seconds > longest:
        issues.add(
            "range", "set.seconds", preset.set.seconds, "longer than the model allows", f"at most {longest:g} seconds"
        )
    elif not issues.errors:
        from .stems import set_frames

        seconds = set_frames(preset) / preset.set.sample_rate
        if seconds > longest:
            issues.add(
                "range",
                "set.seconds",
                preset.set.seconds,
                f"a stem reaches past the set's end, making it {seconds:g} s long, longer than the model allows",
                f"a set of at most {longest:g} seconds",
            )


def _key_for_field(stem: StemSpec, field_name: str | None) -> str:
    name = FIELD_KEYS.get(field_name or "", field_name or "")
    if name == "key" and "key" not in stem.raw and "hum_key" in stem.raw:  # the key a hum's notes snap to
        name = "hum_key"
    if name == "midi" and "hum" in stem.paths:
        name = "hum"
    if field_name in (None, "") or (name not in STEM_KEYS and not name.startswith("sources")):
        # The melody package names MIDI details (track, channel) or the take itself.
        melody_key = "midi" if "midi" in stem.paths else "hum" if "hum" in stem.paths else "op"
        name = field_name if field_name in STEM_KEYS else melody_key
    if name == "seconds" and "seconds" not in stem.raw:
        return "set.seconds"
    return f"{stem.key}.{name}"


def _lookup(stem: StemSpec, preset: Preset, key: str):
    if key.startswith("set."):
        return preset.set.seconds
    tail = key[len(stem.key) + 1 :]
    if tail.startswith("sources["):
        sources = stem.raw.get("sources") or []
        i = int(tail[8])
        return sources[i] if i < len(sources) else None
    return stem.raw.get(tail)
