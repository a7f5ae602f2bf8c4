"""Preset parsing and validation: one test per kind of error, each checking the whole message.

A message names the file, the key path, the bad value and what is allowed.
The presets shipped in presets/ must validate, and docs/presets.md must
document every key of the schema.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from dummy_models import TINY
from render_presets import ASSETS, ROOT, errors_of, only_error, preset_text, write

from reverie.cli.render import main
from reverie.render import preset as P
from reverie.render.effects import builtin_plugins
from reverie.render.model_check import check_with_pipeline

GOOD = preset_text(
    {"name": "ok", "sample_rate": 22050, "seconds": 3},
    {"name": "pad", "style": "sleep", "effects": [{"plugin": "Reverb", "room_size": 0.5}]},
    {"name": "tune", "midi": ASSETS / "lullaby.mid", "track": 1},
    {
        "name": "xf",
        "op": "transform",
        "source": ASSETS / "music_box.ogg",
        "strength": 0.3,
        "effects": [
            {"plugin": "LowpassFilter", "cutoff_frequency_hz": 4000},
            {"plugin": "Delay", "delay_seconds": 0.25},
        ],
    },
)
HUM = ASSETS / "hum_lullaby.ogg"


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
    path = write(
        tmp_path,
        """
        [[stems]]
        name = "tune"
        midi = "sub/tune.mid"
    """,
        "rel.toml",
    )
    preset = P.load_preset(path)
    assert preset.stems[0].paths["midi"] == str((tmp_path / "sub" / "tune.mid").resolve())
    assert preset.set.name == "rel"  # default: the file's name


def test_syntax_error(tmp_path):
    path = write(tmp_path, '[set]\nname = "x"\nseconds = = 3\n')
    e = only_error(path, "syntax")
    assert e.message.startswith(f"{path}: not valid TOML")
    assert "line 3" in e.message and "allowed: TOML" in e.message


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write(tmp_path, GOOD.replace('style = "sleep"', 'stlye = "sleep"'))
    e = only_error(path, "unknown")
    assert e.key == "stems[0].stlye"
    assert e.message.startswith(f"{path}: stems[0].stlye = \"sleep\": unknown key; did you mean 'style'?")
    assert "allowed: name, op, style," in e.message


# One error each: (what GOOD says, what it says instead, kind, key, the whole message). {path} is the preset,
# {tmp} its folder and {hum} the hummed melody.
ONE_ERROR = [
    pytest.param(
        "room_size = 0.5",
        "room_sise = 0.5",
        "unknown",
        "stems[0].effects[0].room_sise",
        "{path}: stems[0].effects[0].room_sise = 0.5: Reverb has no parameter 'room_sise'; did you mean 'room_size'?; "
        "allowed: room_size, damping, wet_level, dry_level, width, freeze_mode",
        id="unknown-effect-parameter",
    ),
    pytest.param(
        'name = "tune"\n',
        "",
        "missing",
        "stems[1].name",
        "{path}: stems[1].name: missing (required); allowed: a name of letters, digits, '.', '_' "
        "or '-' (up to 64, starting with a letter or digit)",
        id="missing-key",
    ),
    pytest.param(
        "sample_rate = 22050",
        'sample_rate = "22050"',
        "type",
        "set.sample_rate",
        '{path}: set.sample_rate = "22050": must be a whole number; allowed: one of 22050, 44100, 48000',
        id="wrong-type",
    ),
    pytest.param(
        '{ plugin = "Delay", delay_seconds = 0.25 }',
        '{ plugin = "Reverb", room_size = 1.5 }',
        "range",
        "stems[2].effects[1].room_size",
        "{path}: stems[2].effects[1].room_size = 1.5: Room Size value must be between 0.0 and 1.0.",
        id="out-of-range-effect-parameter-names-the-full-key-path",
    ),
    pytest.param(
        'style = "sleep"',
        'style = "sleep"\npan = 2',
        "range",
        "stems[0].pan",
        "{path}: stems[0].pan = 2: out of range; allowed: a number from -1 to 1",
        id="out-of-range-renderer-key",
    ),
    pytest.param(
        "cutoff_frequency_hz = 4000",
        "cutoff_frequency_hz = 12000",
        "range",
        "stems[2].effects[0].cutoff_frequency_hz",
        "{path}: stems[2].effects[0].cutoff_frequency_hz = 12000: out of range; "
        "allowed: a number above 0 and at most 11025",
        id="cutoff-above-nyquist",
    ),
    pytest.param(
        "seconds = 3",
        'seconds = 3\nformat = "mp3"',
        "choice",
        "set.format",
        '{path}: set.format = "mp3": not allowed; allowed: one of wav, flac',
        id="not-an-allowed-choice",
    ),
    pytest.param(
        str(ASSETS / "lullaby.mid"),
        "nowhere/tune.mid",
        "file",
        "stems[1].midi",
        '{path}: stems[1].midi = "nowhere/tune.mid": file not found: {tmp}/nowhere/tune.mid; '
        "allowed: an existing file, relative to the preset",
        id="missing-file",
    ),
    pytest.param(
        '{ plugin = "Reverb", room_size = 0.5 }',
        '{ path = "verb.dll", mix = 0.2 }',
        "choice",
        "stems[0].effects[0].path",
        '{path}: stems[0].effects[0].path = "verb.dll": not a plugin file; '
        "allowed: a VST3 (.vst3) or Audio Unit (.component) plugin",
        id="external-plugin-must-be-a-plugin-file",
    ),
    pytest.param(
        'style = "sleep"',
        'style = "sleep"\nstrength = 0.5',
        "conflict",
        "stems[0].strength",
        '{path}: stems[0].strength = 0.5: `strength` is not used by op "generate"; '
        "allowed: strength with op transform, interpolate",
        id="conflicting-keys",
    ),
    pytest.param(
        "track = 1",
        f'track = 1\nhum = "{HUM}"',
        "conflict",
        "stems[1].hum",
        '{path}: stems[1].hum = "{hum}": give midi or hum, not both; allowed: one of midi, hum',
        id="midi-and-hum-together",
    ),
    pytest.param(
        "strength = 0.3",
        "strength = 0.3\ntimestep = 400",
        "conflict",
        "stems[2].timestep",
        "{path}: stems[2].timestep = 400: give strength or timestep, not both; allowed: one of strength, timestep",
        id="strength-and-timestep-together",
    ),
    pytest.param(
        "strength = 0.3",
        "strength = 0.3\nvariation = 0.2",
        "conflict",
        "stems[2].variation",
        '{path}: stems[2].variation = 0.2: `variation` is not used by op "transform"; '
        "allowed: variation with op continue",
        id="a-parameter-of-another-operation",
    ),
    pytest.param(
        'name = "xf"',
        'name = "pad"',
        "duplicate",
        "stems[2].name",
        '{path}: stems[2].name = "pad": stems[0] has the same name; allowed: a name no other stem in the set has',
        id="duplicate-stem-names",
    ),
]


@pytest.mark.parametrize("old, new, kind, key, message", ONE_ERROR)
def test_one_error_names_the_file_key_value_and_what_is_allowed(tmp_path, old, new, kind, key, message):
    (tmp_path / "verb.dll").write_text("")  # a file that is not a plugin, for an effect to name
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    e = only_error(path, kind)
    assert e.key == key
    assert e.message == message.format(path=path, tmp=tmp_path.resolve(), hum=HUM)


def test_missing_source_for_transform(tmp_path):
    path = write(tmp_path, GOOD.replace(f'source = "{ASSETS / "music_box.ogg"}"\n', ""))
    e = only_error(path, "missing")
    assert e.key == "stems[2].source"
    assert 'missing: op "transform" needs it; allowed: a file path (relative to the preset)' in e.message


def test_unknown_operation(tmp_path):
    path = write(tmp_path, GOOD.replace('op = "transform"', 'op = "inpaint"'))
    errors = errors_of(path)
    assert errors[0].kind == "choice"
    assert errors[0].message == (
        f'{path}: stems[2].op = "inpaint": not an operation; allowed: generate, transform, interpolate, continue'
    )


def test_missing_preset_file(tmp_path):
    e = only_error(tmp_path / "absent.toml", "file")
    assert e.message == f"{tmp_path / 'absent.toml'}: preset file not found; allowed: a .toml preset file"


def test_unknown_plugin(tmp_path):
    path = write(tmp_path, GOOD.replace('plugin = "Reverb"', 'plugin = "Reverbb"'))
    e = only_error(path, "plugin")
    assert e.message.startswith(
        f"{path}: stems[0].effects[0].plugin = \"Reverbb\": unknown plugin; did you mean 'Reverb'?; allowed: "
    )
    assert e.allowed == ", ".join(builtin_plugins())


def test_reserved_stem_name(tmp_path):
    path = write(tmp_path, GOOD.replace('name = "xf"', 'name = "mixdown"'))
    e = only_error(path, "choice")
    assert 'stems[2].name = "mixdown": is reserved' in e.message


def test_model_rejects_style_with_its_own_list(tmp_path, pipe):
    path = write(tmp_path, GOOD.replace('style = "sleep"', 'style = "jazz"'))
    preset = P.load_preset(path)  # stage 1 has no model: any string is a style
    with pytest.raises(P.PresetErrors) as info:
        check_with_pipeline(preset, pipe)
    (e,) = info.value.errors
    assert e.kind == "model"
    assert e.message == (f"{path}: stems[0].style = \"jazz\": unknown style 'jazz'; allowed: {', '.join(pipe.styles)}")


def test_pipeline_parameters_are_checked_before_the_model_loads_in_the_pipelines_words(tmp_path):
    # strength, steps, scheduler, ... are declared once in reverie.models.operations: stage 1 refuses what the
    # pipeline would refuse, with the pipeline's own message.
    path = write(tmp_path, GOOD.replace("strength = 0.3", "strength = 1.5"))
    e = only_error(path, "range")
    assert e.message == f"{path}: stems[2].strength = 1.5: strength must be between 0 and 1, got 1.5"
    path = write(tmp_path, GOOD.replace('style = "sleep"', 'style = "sleep"\nscheduler = "euler"\nsteps = 0'))
    assert [(e.kind, e.message) for e in errors_of(path)] == [
        ("choice", f"{path}: stems[0].scheduler = \"euler\": unknown scheduler 'euler'; allowed: ddim, dpm, ddpm"),
        ("range", f"{path}: stems[0].steps = 0: steps must be between 1 and 1000, got 0"),
    ]


def test_model_rejects_seconds_past_its_limit(tmp_path, pipe):
    preset = P.load_preset(write(tmp_path, GOOD.replace("seconds = 3", "seconds = 99999")))
    with pytest.raises(P.PresetErrors) as info:
        check_with_pipeline(preset, pipe)
    messages = [e.message for e in info.value.errors]
    expected = f"{preset.path}: set.seconds = 99999.0: seconds must be above 0 and at most"
    assert any(m.startswith(expected) for m in messages)


def test_validation_does_not_import_torch(tmp_path):
    # The schema reads the operations from the torch-free reverie.models.operations: a preset validates in
    # a fraction of a second, without the model.
    path = write(tmp_path, GOOD)
    code = (
        "import sys\nfrom reverie.render.preset import load_presets\n"
        f"load_presets([{str(path)!r}, {str(ROOT / 'presets' / 'sleep_set.toml')!r}])\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_all_errors_are_reported_together(tmp_path):
    text = GOOD.replace("sample_rate = 22050", "sample_rate = 12345").replace('plugin = "Reverb"', 'plugin = "Verb"')
    errors = errors_of(write(tmp_path, text))
    assert {e.kind for e in errors} == {"choice", "plugin"}


def test_cli_prints_one_line_per_error_and_renders_nothing(tmp_path):
    path = write(tmp_path, GOOD.replace("room_size = 0.5", "room_size = 1.5"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(path), "-o", str(out), "--model", TINY])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        f"error: {path}: stems[0].effects[0].room_size = 1.5: Room Size value must be between 0.0 and 1.0."
    ]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_rejects_unknown_only_stem(tmp_path):
    path = write(tmp_path, GOOD)
    result = CliRunner().invoke(main, [str(path), "--only", "padd", "--model", TINY, "-o", str(tmp_path / "o")])
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
