"""A validated effects-list entry (`EffectSpec`) and a problem found in one (`EffectIssue`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .builtin_effects import plugin_params


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


class EffectIssue(Exception):
    """A problem with one key of an effect entry; the preset validator turns it into a PresetError."""

    def __init__(self, kind: str, key: str, value, problem: str, allowed: str | None = None):
        super().__init__(problem)
        self.kind, self.key, self.value, self.problem, self.allowed = kind, key, value, problem, allowed
