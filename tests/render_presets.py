"""What the render tests share: where the shipped assets are, preset text built from tables, the checks of a
preset that must not load, and running the `render` command on the tiny model."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from dummy_models import TINY

from reverie.cli.render import main
from reverie.render import preset as P

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "presets" / "assets"
RATE = 22050


def toml_value(value) -> str:
    """A TOML value as a preset author writes it: inline tables `{ plugin = "Reverb", mix = 0.3 }`, flat arrays."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_table(header: str, keys: dict) -> str:
    return "\n".join([header, *(f"{key} = {toml_value(value)}" for key, value in keys.items())]) + "\n"


def preset_text(set_keys: dict, *stems: dict, mix: dict | None = None) -> str:
    """A preset: the [set] table, one [[stems]] table per dict, then [mix]; a `key = value` line per key, in order."""
    tables = [toml_table("[set]", set_keys), *(toml_table("[[stems]]", stem) for stem in stems)]
    if mix is not None:
        tables.append(toml_table("[mix]", mix))
    return "\n".join(tables)


def write(tmp_path: Path, text: str, name: str = "set.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(path: Path) -> list[P.PresetError]:
    with pytest.raises(P.PresetErrors) as info:
        P.load_preset(path)
    return info.value.errors


def only_error(path: Path, kind: str) -> P.PresetError:
    errors = errors_of(path)
    assert len(errors) == 1, [e.message for e in errors]
    assert errors[0].kind == kind, errors[0].message
    return errors[0]


def render(*args, code: int = 0, quiet: bool = True) -> str:
    """`render ARGS --model tiny` (with -q unless `quiet` is false); fails the test unless it exits with `code`."""
    result = CliRunner().invoke(
        main, [*map(str, args), "--model", TINY, *(["-q"] if quiet else [])], catch_exceptions=False
    )
    assert result.exit_code == code, result.output
    return result.output


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())
