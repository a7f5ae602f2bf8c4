"""Preset parsing and validation: one test per error class, each checking the whole message.

A message names the file, the key path, the bad value and what is allowed.
The presets shipped in presets/ must validate, and docs/presets.md must
document every key of the schema.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from reverie.render import preset as P
from reverie.render.cli import main
from reverie.render.effects import builtin_plugins

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "presets" / "assets"

GOOD = f"""
[set]
name = "ok"
sample_rate = 22050
seconds = 3

[[stems]]
name = "pad"
style = "sleep"
effects = [{{ plugin = "Reverb", room_size = 0.5 }}]

[[stems]]
name = "tune"
midi = "{ASSETS / 'lullaby.mid'}"
track = 1

[[stems]]
name = "xf"
op = "transform"
source = "{ASSETS / 'music_box.ogg'}"
strength = 0.3
effects = [{{ plugin = "LowpassFilter", cutoff_frequency_hz = 4000 }}, {{ plugin = "Delay", delay_seconds = 0.25 }}]
"""


def write(tmp_path: Path, text: str, name: str = "set.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(path: Path) -> list[P.PresetError]:
    with pytest.raises(P.PresetErrors) as info:
        P.load_preset(path)
    return info.value.errors


def only_error(path: Path, cls: type) -> P.PresetError:
    errors = errors_of(path)
    assert len(errors) == 1, [e.message for e in errors]
    assert type(errors[0]) is cls, errors[0].message
    return errors[0]


def test_good_preset_loads_with_defaults(tmp_path):
    preset = P.load_preset(write(tmp_path, GOOD))
    assert preset.set.name == "ok" and preset.set.sample_rate == 22050 and preset.set.format == "wav"
    assert preset.set.target.mode == "lufs" and preset.set.target.value == P.DEFAULT_LUFS
    assert [s.name for s in preset.stems] == ["pad", "tune", "xf"]
    assert preset.stems[1].paths["midi"] == str(ASSETS / "lullaby.mid")
    assert [e.plugin for e in preset.stems[2].effects] == ["LowpassFilter", "Delay"]
    assert preset.stems[0].target == preset.set.target


def test_relative_paths_resolve_against_the_preset(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tune.mid").write_bytes((ASSETS / "lullaby.mid").read_bytes())
    path = write(tmp_path, """
        [[stems]]
        name = "tune"
        midi = "sub/tune.mid"
    """, "rel.toml")
    preset = P.load_preset(path)
    assert preset.stems[0].paths["midi"] == str((tmp_path / "sub" / "tune.mid").resolve())
    assert preset.set.name == "rel"  # default: the file's name


def test_syntax_error(tmp_path):
    path = write(tmp_path, "[set]\nname = \"x\"\nseconds = = 3\n")
    e = only_error(path, P.PresetSyntaxError)
    assert e.message.startswith(f"{path}: not valid TOML")
    assert "line 3" in e.message and "allowed: TOML" in e.message


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write(tmp_path, GOOD.replace('style = "sleep"', 'stlye = "sleep"'))
    e = only_error(path, P.UnknownKeyError)
    assert e.key == "stems[0].stlye"
    assert e.message.startswith(f'{path}: stems[0].stlye = "sleep": unknown key; did you mean \'style\'?')
    assert "allowed: name, op, style," in e.message


def test_unknown_effect_parameter(tmp_path):
    path = write(tmp_path, GOOD.replace("room_size = 0.5", "room_sise = 0.5"))
    e = only_error(path, P.UnknownKeyError)
    assert e.message == (f"{path}: stems[0].effects[0].room_sise = 0.5: Reverb has no parameter 'room_sise'; "
                         "did you mean 'room_size'?; allowed: room_size, damping, wet_level, dry_level, width, freeze_mode")


def test_missing_key(tmp_path):
    path = write(tmp_path, GOOD.replace('name = "tune"\n', ""))
    e = only_error(path, P.MissingKeyError)
    assert e.message == (f"{path}: stems[1].name: missing (required); allowed: a name of letters, digits, '.', '_' "
                         "or '-' (up to 64, starting with a letter or digit)")


def test_missing_source_for_transform(tmp_path):
    path = write(tmp_path, GOOD.replace(f'source = "{ASSETS / "music_box.ogg"}"\n', ""))
    e = only_error(path, P.MissingKeyError)
    assert e.key == "stems[2].source"
    assert 'missing: op "transform" needs it; allowed: a file path (relative to the preset)' in e.message


def test_wrong_type(tmp_path):
    path = write(tmp_path, GOOD.replace("sample_rate = 22050", 'sample_rate = "22050"'))
    e = only_error(path, P.WrongTypeError)
    assert e.message == f'{path}: set.sample_rate = "22050": must be a whole number; allowed: one of 22050, 44100, 48000'


def test_out_of_range_effect_parameter_names_the_full_key_path(tmp_path):
    path = write(tmp_path, GOOD.replace('{ plugin = "Delay", delay_seconds = 0.25 }', '{ plugin = "Reverb", room_size = 1.5 }'))
    e = only_error(path, P.OutOfRangeError)
    assert e.key == "stems[2].effects[1].room_size"
    assert e.message == f"{path}: stems[2].effects[1].room_size = 1.5: Room Size value must be between 0.0 and 1.0."


def test_out_of_range_renderer_key(tmp_path):
    path = write(tmp_path, GOOD.replace('style = "sleep"', 'style = "sleep"\npan = 2'))
    e = only_error(path, P.OutOfRangeError)
    assert e.message == f"{path}: stems[0].pan = 2: out of range; allowed: a number from -1 to 1"


def test_cutoff_above_nyquist(tmp_path):
    path = write(tmp_path, GOOD.replace("cutoff_frequency_hz = 4000", "cutoff_frequency_hz = 12000"))
    e = only_error(path, P.OutOfRangeError)
    assert e.message == (f"{path}: stems[2].effects[0].cutoff_frequency_hz = 12000: out of range; "
                         "allowed: a number above 0 and at most 11025")


def test_not_an_allowed_choice(tmp_path):
    path = write(tmp_path, GOOD.replace('seconds = 3', 'seconds = 3\nformat = "mp3"'))
    e = only_error(path, P.NotAllowedError)
    assert e.message == f'{path}: set.format = "mp3": not allowed; allowed: one of wav, flac'


def test_unknown_operation(tmp_path):
    path = write(tmp_path, GOOD.replace('op = "transform"', 'op = "inpaint"'))
    errors = errors_of(path)
    assert type(errors[0]) is P.NotAllowedError
    assert errors[0].message == (f'{path}: stems[2].op = "inpaint": not an operation; '
                                 "allowed: generate, transform, interpolate, continue")


def test_missing_file(tmp_path):
    path = write(tmp_path, GOOD.replace(str(ASSETS / "lullaby.mid"), "nowhere/tune.mid"))
    e = only_error(path, P.FileProblemError)
    assert e.message == (f'{path}: stems[1].midi = "nowhere/tune.mid": file not found: '
                         f"{(tmp_path / 'nowhere/tune.mid').resolve()}; allowed: an existing file, relative to the preset")


def test_missing_preset_file(tmp_path):
    e = only_error(tmp_path / "absent.toml", P.FileProblemError)
    assert e.message == f"{tmp_path / 'absent.toml'}: preset file not found; allowed: a .toml preset file"


def test_unknown_plugin(tmp_path):
    path = write(tmp_path, GOOD.replace('plugin = "Reverb"', 'plugin = "Reverbb"'))
    e = only_error(path, P.PluginProblemError)
    assert e.message.startswith(f'{path}: stems[0].effects[0].plugin = "Reverbb": unknown plugin; '
                                "did you mean 'Reverb'?; allowed: ")
    assert e.allowed == ", ".join(builtin_plugins())


def test_external_plugin_must_be_a_plugin_file(tmp_path):
    (tmp_path / "verb.dll").write_text("")
    path = write(tmp_path, GOOD.replace('{ plugin = "Reverb", room_size = 0.5 }', '{ path = "verb.dll", mix = 0.2 }'))
    e = only_error(path, P.NotAllowedError)
    assert e.message == (f'{path}: stems[0].effects[0].path = "verb.dll": not a plugin file; '
                         "allowed: a VST3 (.vst3) or Audio Unit (.component) plugin")


def test_conflicting_keys(tmp_path):
    path = write(tmp_path, GOOD.replace('style = "sleep"', 'style = "sleep"\nstrength = 0.5'))
    e = only_error(path, P.ConflictError)
    assert e.message == (f'{path}: stems[0].strength = 0.5: `strength` is not used by op "generate"; '
                         "allowed: strength with op transform, interpolate")


def test_midi_and_hum_together(tmp_path):
    hum = ASSETS / "hum_lullaby.ogg"
    path = write(tmp_path, GOOD.replace("track = 1", f'track = 1\nhum = "{hum}"'))
    e = only_error(path, P.ConflictError)
    assert e.message == f'{path}: stems[1].hum = "{hum}": give midi or hum, not both; allowed: one of midi, hum'


def test_duplicate_stem_names(tmp_path):
    path = write(tmp_path, GOOD.replace('name = "xf"', 'name = "pad"'))
    e = only_error(path, P.DuplicateError)
    assert e.message == (f'{path}: stems[2].name = "pad": stems[0] has the same name; '
                         "allowed: a name no other stem in the set has")


def test_reserved_stem_name(tmp_path):
    path = write(tmp_path, GOOD.replace('name = "xf"', 'name = "mixdown"'))
    e = only_error(path, P.NotAllowedError)
    assert 'stems[2].name = "mixdown": is reserved' in e.message


def test_model_rejects_style_with_its_own_list(tmp_path, pipe):
    path = write(tmp_path, GOOD.replace('style = "sleep"', 'style = "jazz"'))
    preset = P.load_preset(path)  # stage 1 has no model: any string is a style
    with pytest.raises(P.PresetErrors) as info:
        P.check_with_pipeline(preset, pipe)
    (e,) = info.value.errors
    assert type(e) is P.RejectedByModelError
    assert e.message == (f'{path}: stems[0].style = "jazz": unknown style \'jazz\'; '
                         f"allowed: {', '.join(pipe.styles)}")


def test_model_rejects_strength_and_seconds(tmp_path, pipe):
    text = GOOD.replace("strength = 0.3", "strength = 1.5").replace("seconds = 3", "seconds = 99999")
    preset = P.load_preset(write(tmp_path, text))
    with pytest.raises(P.PresetErrors) as info:
        P.check_with_pipeline(preset, pipe)
    messages = [e.message for e in info.value.errors]
    assert any(m.startswith(f"{preset.path}: set.seconds = 99999.0: seconds must be above 0 and at most") for m in messages)
    assert f"{preset.path}: stems[2].strength = 1.5: strength must be between 0 and 1, got 1.5" in messages


def test_all_errors_are_reported_together(tmp_path):
    text = GOOD.replace("sample_rate = 22050", "sample_rate = 12345").replace('plugin = "Reverb"', 'plugin = "Verb"')
    errors = errors_of(write(tmp_path, text))
    assert {type(e) for e in errors} == {P.NotAllowedError, P.PluginProblemError}


def test_cli_prints_one_line_per_error_and_renders_nothing(tmp_path):
    path = write(tmp_path, GOOD.replace("room_size = 0.5", "room_size = 1.5"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(path), "-o", str(out), "--model", "tiny"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [f"error: {path}: stems[0].effects[0].room_size = 1.5: Room Size value must be between 0.0 and 1.0."]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_rejects_unknown_only_stem(tmp_path):
    path = write(tmp_path, GOOD)
    result = CliRunner().invoke(main, [str(path), "--only", "padd", "--model", "tiny", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.strip() == "error: --only padd: no stem of that name; allowed: pad, tune, xf"


def test_shipped_presets_validate():
    presets = sorted((ROOT / "presets").glob("*.toml"))
    assert len(presets) >= 4 and (ROOT / "presets" / "sleep_set.toml") in presets
    loaded = P.load_presets(presets)
    sleep = next(p for p in loaded if p.path.name == "sleep_set.toml")
    assert sleep.set.seconds >= 20 * 60 and len(sleep.stems) >= 4
    assert {"midi", "hum"} <= {k for s in sleep.stems for k in s.paths}
    assert all(s.effects for s in sleep.stems)


def test_shipped_assets_are_small():
    total = sum(p.stat().st_size for p in (ROOT / "presets").rglob("*") if p.is_file())
    assert total < 2 * 1024 * 1024


def test_docs_cover_every_key():
    doc = (ROOT / "docs" / "presets.md").read_text()
    for section, keys in P.SECTIONS.items():
        for key in keys:
            assert re.search(rf"`{key}`", doc), f"docs/presets.md does not document {section}.{key}"
