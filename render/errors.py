"""Preset problems: one error type, told apart by `kind`, and the collector that reports a file's problems together.

A message names the file, the key path (`stems[2].effects[0].room_size`), the
bad value, what is wrong and what is allowed, in that order, one line each.
"""

from __future__ import annotations

from pathlib import Path

from reverie.models.errors import ReverieError

# kind -> what went wrong
KINDS = {
    "syntax": "the file is not UTF-8 TOML",
    "unknown": "a section, key or effect parameter that does not exist",
    "missing": "a required key is absent",
    "type": "a value of the wrong type",
    "range": "a number outside its range",
    "choice": "a value that is not one of the allowed ones",
    "file": "a file that is absent or unreadable",
    "plugin": "an unknown effect plugin",
    "conflict": "keys that do not go together",
    "duplicate": "a name given twice",
    "model": "the pipeline's own validation refused a value (style, steps, strength, ...)",
}


class PresetError(ReverieError):
    """One problem in a preset: file, key path, value, what is wrong and what is allowed."""

    code = "bad_preset"

    def __init__(self, kind: str, file, key: str, value=None, problem: str = "", allowed: str | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown preset error kind {kind!r}")
        self.kind, self.file, self.key, self.value = kind, str(file), key, value
        self.problem, self.allowed = problem, allowed
        where = f"{self.file}: {key}" if key else self.file
        # A missing key has no value to show.
        shown = f" = {show(value)}" if key and kind != "missing" else ""
        text = f"{where}{shown}: {problem}"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(text, field=key or None)


class PresetErrors(ReverieError):
    """Every problem found, one line each."""

    code = "bad_preset"

    def __init__(self, errors: list[PresetError]):
        self.errors = list(errors)
        super().__init__("\n".join(e.message for e in self.errors), field=self.errors[0].field if errors else None)


def show(value) -> str:
    """A value as the preset's TOML would spell it (long tables and lists elided)."""
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
    """Collects the PresetErrors of one file."""

    def __init__(self, file: Path):
        self.file = file
        self.errors: list[PresetError] = []

    def add(self, kind: str, key: str, value=None, problem: str = "", allowed: str | None = None) -> None:
        self.errors.append(PresetError(kind, self.file, key, value, problem, allowed))

    def raise_if_any(self) -> None:
        if self.errors:
            unique = list({e.message: e for e in self.errors}.values())  # inherited keys may repeat
            raise PresetErrors(unique)


def did_you_mean(value, options) -> str:
    """ "; did you mean 'x'?" for the option closest to a wrong `value`, or "" when none is close."""
    import difflib

    match = difflib.get_close_matches(str(value), [str(o) for o in options], n=1)
    return f"; did you mean {match[0]!r}?" if match else ""
