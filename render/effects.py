"""Effect chains from preset tables: pedalboard's built-in plugins by class name, VST3/AU plugins by path.

A preset entry is a table: `{ plugin = "Reverb", room_size = 0.8 }` for a
built-in, `{ path = "MyVerb.vst3", plugin_name = "...", mix = 0.3 }` for an
external plugin; every other key is a parameter. What is allowed comes from
pedalboard itself: the plugin names from its classes, the parameter names,
types and defaults from each constructor's signature, and ranges from the
checks its constructors make. `LIMITS` adds the ranges pedalboard accepts but
that make no sound sense (a negative cutoff, a mix above 1).

Chains run block by block with `reset=False`, so reverb and delay tails
carry across blocks exactly as in one long pass.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import did_you_mean

ENTRY_KEYS = ("plugin", "path", "plugin_name")
EXTERNAL_SUFFIXES = (".vst3", ".component")
# pedalboard classes that are containers, abstract bases or loaders, not effects to name in a preset.
NOT_EFFECTS = {
    "Plugin",
    "PluginContainer",
    "Pedalboard",
    "Chain",
    "Mix",
    "ExternalPlugin",
    "VST3Plugin",
    "AudioUnitPlugin",
    "IIRFilter",
}
AUDIO_PARAMS = ("impulse_response_filename",)  # file parameters that must hold audio
AUDIO_FILES = "an audio file pedalboard reads (wav, flac, ogg, mp3, aiff)"
FREQUENCY_PARAMS = ("cutoff_frequency_hz", "cutoff_hz", "centre_frequency_hz")
# name -> (lowest, highest, lowest excluded); None = unbounded. Applies to every built-in with that parameter.
LIMITS: dict[str, tuple[float | None, float | None, bool]] = {
    **dict.fromkeys(("mix", "depth", "resonance"), (0.0, 1.0, False)),
    "feedback": (-1.0, 1.0, False),
    **dict.fromkeys(("rate_hz", "q"), (0.0, 100.0, True)),
    **dict.fromkeys(("attack_ms", "release_ms"), (0.0, 10000.0, False)),
    **dict.fromkeys(("lookahead_ms", "centre_delay_ms"), (0.0, 100.0, False)),
    **dict.fromkeys(("ratio", "drive"), (1.0, 100.0, False)),
    "gain_db": (-60.0, 24.0, False),
    "drive_db": (0.0, 60.0, False),
    "threshold_db": (-100.0, 0.0, False),
    "ceiling_db": (-60.0, 0.0, False),
    "bit_depth": (1.0, 32.0, False),
    "vbr_quality": (0.0, 10.0, False),
    "target_sample_rate": (1000.0, 384000.0, False),
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "float", "int", "bool", "str", "path" or "enum"
    default: str | None  # as pedalboard prints it
    enum: type | None = None

    def allowed(self, sample_rate: int) -> str | None:
        """What the value may be, in words; None for a number only pedalboard bounds."""
        if self.type == "enum":
            return "one of " + ", ".join(self.enum.__members__)
        if self.type == "bool":
            return "true or false"
        if self.type == "path":
            return "a file path"
        lo, hi, open_lo = limits(self.name, sample_rate)
        if lo is None and hi is None:
            return None
        if open_lo:
            return f"a number above {lo:g} and at most {hi:g}"
        return f"a number from {lo:g} to {hi:g}"


@dataclass
class EffectSpec:
    """One validated entry of an effects list."""

    key: str  # e.g. "stems[2].effects[0]"
    plugin: str | None = None  # built-in class name
    path: str | None = None  # external plugin file (absolute)
    plugin_name: str | None = None
    params: dict = field(default_factory=dict)

    def describe(self, base: Path | None = None) -> dict:
        """The entry as recorded (manifest, cache keys): files under `base`, the preset's folder, relative to it,
        so a project folder can move without its records changing (file contents are hashed separately)."""
        out = {"plugin": self.plugin} if self.plugin else {"path": _relative(self.path, base)}
        if self.plugin_name:
            out["plugin_name"] = self.plugin_name
        for name, value in self.params.items():
            file = self.plugin and plugin_params(self.plugin)[name].type == "path"
            out[name] = _relative(value, base) if file else value
        return out


def _relative(path: str, base: Path | None) -> str:
    if base is None:
        return path
    try:
        return Path(path).relative_to(Path(base).resolve()).as_posix()
    except ValueError:  # outside the preset's folder: absolute
        return path


def limits(name: str, sample_rate: int) -> tuple[float | None, float | None, bool]:
    if name in FREQUENCY_PARAMS:
        return 0.0, sample_rate / 2.0, True
    return LIMITS.get(name, (None, None, False))


@functools.cache
def builtin_plugins() -> dict[str, type]:
    import pedalboard

    out = {}
    for name in dir(pedalboard):
        cls = getattr(pedalboard, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, pedalboard.Plugin)
            and not name.startswith("_")
            and name not in NOT_EFFECTS
        ):
            out[name] = cls
    return dict(sorted(out.items()))


_SIGNATURE_PARAM = re.compile(r"(\w+): ([\w.\[\], ]+?)(?: = (<[^>]*>|[^,]+))?(?:, |$)")


@functools.cache
def plugin_params(name: str) -> dict[str, Param]:
    """Parameters of a built-in plugin, read from the signature pybind11 prints for its constructor."""
    cls = builtin_plugins()[name]
    doc = (cls.__init__.__doc__ or "").strip().splitlines()[0]
    inside = doc[doc.index("(") + 1 : doc.rindex(")")]
    params = {}
    for pname, ptype, default in _SIGNATURE_PARAM.findall(inside):
        if pname == "self":
            continue
        if pname.endswith("_filename"):
            kind, enum = "path", None
        elif "." in ptype and "numpy" not in ptype:
            kind, enum = "enum", _enum_type(cls, ptype)
        else:
            kind, enum = (
                {"float": "float", "int": "int", "bool": "bool", "str": "str"}.get(
                    ptype.replace("Optional[", "").rstrip("]"), "float"
                ),
                None,
            )
        params[pname] = Param(pname, kind, default or None, enum)
    return params


def _enum_type(cls: type, dotted: str):
    import pedalboard

    owner_name, enum_name = dotted.split(".")[-2:]
    owner = getattr(pedalboard, owner_name, cls)
    return getattr(owner, enum_name)


class EffectIssue(Exception):
    """A problem with one key of an effect entry; the preset validator turns it into a PresetError."""

    def __init__(self, kind: str, key: str, value, problem: str, allowed: str | None = None):
        super().__init__(problem)
        self.kind, self.key, self.value, self.problem, self.allowed = kind, key, value, problem, allowed


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
        return _check_external(entry, key, base_dir)
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


def _check_external(entry: dict, key: str, base_dir: Path):
    raw = entry["path"]
    if not isinstance(raw, str):
        return None, [
            EffectIssue(
                "type", f"{key}.path", raw, "must be a string (a plugin file path)", "a .vst3 or .component path"
            )
        ]
    path = (base_dir / raw).resolve()
    if path.suffix.lower() not in EXTERNAL_SUFFIXES:
        return None, [
            EffectIssue(
                "choice", f"{key}.path", raw, "not a plugin file", "a VST3 (.vst3) or Audio Unit (.component) plugin"
            )
        ]
    if not path.exists():
        return None, [EffectIssue("file", f"{key}.path", raw, f"plugin not found: {path}", "an existing plugin file")]
    plugin_name = entry.get("plugin_name")
    if plugin_name is not None and not isinstance(plugin_name, str):
        return None, [EffectIssue("type", f"{key}.plugin_name", plugin_name, "must be a string", "a plugin name")]
    params = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
    spec = EffectSpec(key, path=str(path), plugin_name=plugin_name, params=params)
    if plugin_name is not None:
        try:
            names = plugin_names(spec.path)
        except Exception as exc:  # the plugin host says why in several lines
            return None, [_unloadable(key, raw, exc)]
        if plugin_name not in names:
            return None, [
                EffectIssue(
                    "choice",
                    f"{key}.plugin_name",
                    plugin_name,
                    f"{path.name} has no plugin of that name{did_you_mean(plugin_name, names)}",
                    "one of " + ", ".join(map(repr, names)),
                )
            ]
    try:  # the bare plugin: a refused parameter value is the parameter's problem, not the file's
        plugin = _load_external(EffectSpec(key, path=str(path), plugin_name=plugin_name))
    except Exception as exc:  # pedalboard raises ImportError/RuntimeError/ValueError from the plugin host
        return None, [_unloadable(key, raw, exc)]
    issues = check_external_params(plugin, params, key)
    return (None if issues else spec), issues


def _unloadable(key: str, raw: str, exc: Exception) -> EffectIssue:
    """The plugin host could not load the file (it says why in several lines)."""
    return EffectIssue(
        "plugin",
        f"{key}.path",
        raw,
        f"cannot load plugin: {_one_line(str(exc))}",
        "a VST3/AU effect this machine can load",
    )


def plugin_names(path: str) -> list[str]:
    """The plugins a VST3 or Audio Unit file holds."""
    import pedalboard

    host = pedalboard.AudioUnitPlugin if path.lower().endswith(".component") else pedalboard.VST3Plugin
    return list(host.get_plugin_names_for_file(path))


def check_external_params(plugin, params: dict, key: str) -> list[EffectIssue]:
    """Set each parameter on a loaded external plugin, refusing what its parameter does not take.

    `plugin.parameters` maps names to pedalboard's AudioProcessorParameter: its `type` (float, bool or str),
    `min_value`/`max_value` and `valid_values` say what it allows. pedalboard would take true for a number
    (as 1.0) and any number for a switch: those are refused here.
    """
    issues = []
    for pname, value in params.items():
        where = f"{key}.{pname}"
        if pname not in plugin.parameters:
            issues.append(
                EffectIssue(
                    "unknown",
                    where,
                    value,
                    f"the plugin has no parameter {pname!r}{did_you_mean(pname, plugin.parameters)}",
                    ", ".join(plugin.parameters),
                )
            )
            continue
        param = plugin.parameters[pname]
        allowed = external_allowed(param)
        kind = getattr(param, "type", float)
        if kind is bool and not isinstance(value, bool):
            issues.append(EffectIssue("type", where, value, "must be true or false", allowed))
            continue
        if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            issues.append(EffectIssue("type", where, value, "must be a number", allowed))
            continue
        if kind is str and not isinstance(value, str):
            issues.append(EffectIssue("type", where, value, "must be a string", allowed))
            continue
        try:
            setattr(plugin, pname, value)
        except Exception as exc:
            issues.append(EffectIssue("range", where, value, _refusal(str(exc)), allowed))
    return issues


def external_allowed(param) -> str:
    """What an external plugin's parameter takes, in words."""
    kind = getattr(param, "type", float)
    if kind is bool:
        return "true or false"
    if kind is str:
        return "one of " + ", ".join(repr(v) for v in getattr(param, "valid_values", []))
    lo, hi = getattr(param, "min_value", None), getattr(param, "max_value", None)
    units = f" {param.units}" if getattr(param, "units", None) else ""
    if lo is not None and hi is not None:
        return f"a number from {lo:g} to {hi:g}{units}"
    return "a number"


def _refusal(message: str) -> str:
    text = _one_line(message)
    return "out of range" if "out of range" in text.lower() or "must be between" in text.lower() else text


def _load_external(spec: EffectSpec):
    import pedalboard

    plugin = pedalboard.load_plugin(spec.path, plugin_name=spec.plugin_name)
    for name, value in spec.params.items():
        setattr(plugin, name, value)
    return plugin


def make_plugin(spec: EffectSpec, sample_rate: int):
    if spec.path:
        return _load_external(spec)
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


def _one_line(text: str) -> str:
    """A plugin host's message of several lines ("... Errors were:" and a list) as one line."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip()) or "rejected"


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
