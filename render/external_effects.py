"""VST3 and Audio Unit plugins by path: loading one, the plugins a file holds, and checking an entry and its
parameters against the loaded plugin (what each parameter takes comes from the plugin host)."""

from __future__ import annotations

from pathlib import Path

from .effect_spec import EffectIssue, EffectSpec
from .errors import did_you_mean

ENTRY_KEYS = ("plugin", "path", "plugin_name")
EXTERNAL_SUFFIXES = (".vst3", ".component")


def check_external(entry: dict, key: str, base_dir: Path):
    """Validate an effects-list entry with `path`. Returns the spec (None if unusable) and every issue found."""
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
        plugin = load_external(EffectSpec(key, path=str(path), plugin_name=plugin_name))
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


def load_external(spec: EffectSpec):
    import pedalboard

    plugin = pedalboard.load_plugin(spec.path, plugin_name=spec.plugin_name)
    for name, value in spec.params.items():
        setattr(plugin, name, value)
    return plugin


def _one_line(text: str) -> str:
    """A plugin host's message of several lines ("... Errors were:" and a list) as one line."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip()) or "rejected"
