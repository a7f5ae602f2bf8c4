"""Effect chains from preset tables: pedalboard's built-in plugins by class name, VST3/AU plugins by path.

A preset entry is a table: `{ plugin = "Reverb", room_size = 0.8 }` for a
built-in, `{ path = "MyVerb.vst3", plugin_name = "...", mix = 0.3 }` for an
external plugin; every other key is a parameter. `check_effect` checks an
entry: a built-in here, against what builtin_effects.py reads from pedalboard
(`LIMITS` adds the ranges pedalboard accepts but that make no sound sense), an
external plugin in external_effects.py, against the loaded plugin.

Chains run block by block with `reset=False`, so reverb and delay tails
carry across blocks exactly as in one long pass.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .builtin_effects import FREQUENCY_PARAMS as FREQUENCY_PARAMS
from .builtin_effects import LIMITS as LIMITS
from .builtin_effects import NOT_EFFECTS as NOT_EFFECTS
from .builtin_effects import Param, builtin_plugins, limits, plugin_params
from .effect_spec import EffectIssue, EffectSpec
from .errors import did_you_mean
from .external_effects import ENTRY_KEYS as ENTRY_KEYS
from .external_effects import EXTERNAL_SUFFIXES as EXTERNAL_SUFFIXES
from .external_effects import check_external, load_external
from .external_effects import check_external_params as check_external_params
from .external_effects import external_allowed as external_allowed
from .external_effects import plugin_names as plugin_names

AUDIO_PARAMS = ("impulse_response_filename",)  # file parameters that must hold audio
AUDIO_FILES = "an audio file pedalboard reads (wav, flac, ogg, mp3, aiff)"


def check_effect(entry, key: str, sample_rate: int, base_dir: Path) -> tuple[EffectSpec | None, list[EffectIssue]]:
    """Validate one effects-list entry. Returns the spec (None if unusable) and every issue found."""
    if not isinstance(entry, dict):
        return None, [
            EffectIssue(
                "type",
                key,
                entry,
                "an effect must be a table",
                '{ plugin = "Reverb", room_size = 0.5 } or { path = "Plugin.vst3" }',
            )
        ]
    if "plugin" in entry and "path" in entry:
        return None, [
            EffectIssue(
                "conflict",
                f"{key}.path",
                entry["path"],
                "give `plugin` (a built-in) or `path` (a VST3/AU file), not both",
            )
        ]
    if "path" in entry:
        return check_external(entry, key, base_dir)
    if "plugin" not in entry:
        return None, [
            EffectIssue(
                "missing",
                f"{key}.plugin",
                None,
                "missing: every effect needs `plugin` or `path`",
                "plugin = one of " + ", ".join(builtin_plugins()),
            )
        ]
    return _check_builtin(entry, key, sample_rate, base_dir)


def _check_builtin(entry: dict, key: str, sample_rate: int, base_dir: Path):
    name = entry["plugin"]
    plugins = builtin_plugins()
    if not isinstance(name, str) or name not in plugins:
        hint = did_you_mean(name, plugins)
        return None, [EffectIssue("plugin", f"{key}.plugin", name, f"unknown plugin{hint}", ", ".join(plugins))]
    params = plugin_params(name)
    issues, values = [], {}
    for pname, value in entry.items():
        if pname in ("plugin", "plugin_name"):
            if pname == "plugin_name":
                issues.append(
                    EffectIssue(
                        "conflict", f"{key}.plugin_name", value, "plugin_name is for external plugins (with `path`)"
                    )
                )
            continue
        where = f"{key}.{pname}"
        if pname not in params:
            allowed = ", ".join(params) or "none (this plugin takes no parameters)"
            problem = f"{name} has no parameter {pname!r}{did_you_mean(pname, params)}"
            issues.append(EffectIssue("unknown", where, value, problem, allowed))
            continue
        issue, converted = _check_value(params[pname], value, where, sample_rate, base_dir)
        if issue:
            issues.append(issue)
        else:
            values[pname] = converted
    if issues:
        return None, issues
    spec = EffectSpec(key, plugin=name, params={k: entry[k] if params[k].type != "path" else values[k] for k in values})
    try:  # pedalboard's own range checks
        make_plugin(spec, sample_rate)
    except (ValueError, TypeError, RuntimeError) as exc:
        pname = _param_named_in(str(exc), values) or next(iter(values), "plugin")
        allowed = params[pname].allowed(sample_rate) if pname in params else None
        return None, [EffectIssue("range", f"{key}.{pname}", entry.get(pname, name), _first_line(str(exc)), allowed)]
    return spec, []


def _check_value(param: Param, value, where: str, sample_rate: int, base_dir: Path):
    if param.type == "bool":
        if not isinstance(value, bool):
            return EffectIssue("type", where, value, "must be true or false", "true or false"), None
        return None, value
    if param.type == "enum":
        members = list(param.enum.__members__)
        if not isinstance(value, str) or value not in members:
            return EffectIssue(
                "choice", where, value, f"not a {param.name}{did_you_mean(value, members)}", ", ".join(members)
            ), None
        return None, value
    if param.type in ("path", "str"):
        if not isinstance(value, str):
            return EffectIssue("type", where, value, "must be a string (a file path)", "a file path"), None
        path = (base_dir / value).resolve()
        if not path.is_file():
            return EffectIssue("file", where, value, f"file not found: {path}", "an existing file"), None
        if param.name in AUDIO_PARAMS and not _readable_audio(path):  # Convolution would pass the sound through
            return EffectIssue("file", where, value, f"not an audio file: {path}", AUDIO_FILES), None
        return None, str(path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return EffectIssue("type", where, value, "must be a number", param.allowed(sample_rate) or "a number"), None
    lo, hi, open_lo = limits(param.name, sample_rate)
    if (lo is not None and (value < lo or (open_lo and value == lo))) or (hi is not None and value > hi):
        return EffectIssue("range", where, value, "out of range", param.allowed(sample_rate)), None
    return None, value


def _readable_audio(path: Path) -> bool:
    """Does pedalboard, which reads the impulse response, read this file as audio with at least one frame?"""
    from pedalboard.io import AudioFile

    try:
        with AudioFile(str(path)) as f:
            return f.frames > 0
    except Exception:  # pedalboard's reader raises ValueError/RuntimeError for what it cannot decode
        return False


def make_plugin(spec: EffectSpec, sample_rate: int):
    if spec.path:
        return load_external(spec)
    params = plugin_params(spec.plugin)
    kwargs = {}
    for name, value in spec.params.items():
        if params[name].type == "enum":
            value = getattr(params[name].enum, value)
        kwargs[name] = value
    return builtin_plugins()[spec.plugin](**kwargs)


class EffectChain:
    """A pedalboard chain run block by block; state (tails) carries across blocks."""

    def __init__(self, specs: list[EffectSpec], sample_rate: int):
        import pedalboard

        self.sample_rate = sample_rate
        self.board = pedalboard.Pedalboard([make_plugin(s, sample_rate) for s in specs]) if specs else None

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if self.board is None or block.shape[1] == 0:
            return block
        out = self.board.process(np.ascontiguousarray(block, dtype=np.float32), self.sample_rate, reset=False)
        if out.shape != block.shape:  # pedalboard keeps the length with reset=False; guard the contract
            from reverie.models.audio import fit_length

            out = fit_length(out, block.shape[1])
        return out


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "rejected"


def _param_named_in(message: str, values: dict) -> str | None:
    """Which parameter a pedalboard range message is about ("Room Size value must be ..." -> room_size)."""
    squashed = message.lower().replace(" ", "_")
    for name in values:
        stem = name.rsplit("_", 1)[0] if name.endswith(("_hz", "_ms", "_db")) else name
        if name in squashed or stem in squashed:
            return name
    return None
