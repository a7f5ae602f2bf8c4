"""Validation the review found missing: plugins, impulse responses, fades, a BOM, op types, ceilings, cache writes."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner
from dummy_models import TINY
from render_presets import ASSETS, RATE, only_error, preset_text, write

from reverie.cli.render import main
from reverie.render import external_effects
from reverie.render import preset as P

BASE = preset_text({"name": "checks", "sample_rate": RATE, "seconds": 3}, {"name": "pad"})


# --- external plugins ------------------------------------------------------------------------


class Parameter:
    """What the renderer reads of pedalboard's AudioProcessorParameter (no VST3 ships with pedalboard's wheel)."""

    def __init__(self, type, min_value=None, max_value=None, valid_values=(), units=None):
        self.type, self.min_value, self.max_value = type, min_value, max_value
        self.valid_values, self.units = list(valid_values), units


class Plugin:
    """A loaded external plugin as pedalboard exposes it: `parameters`, and setattr refusing what they do not take."""

    def __init__(self):
        object.__setattr__(
            self,
            "parameters",
            {"mix": Parameter(float, 0.0, 100.0, units="%"), "freeze": Parameter(bool, False, True, [False, True])},
        )

    def __setattr__(self, name, value):
        param = self.parameters[name]
        if param.type is float and not param.min_value <= value <= param.max_value:
            raise ValueError("Value out of range")
        object.__setattr__(self, name, value)


@pytest.fixture
def mverb(tmp_path, monkeypatch):
    (tmp_path / "plugins" / "MVerb.vst3").mkdir(parents=True)  # a VST3 is a bundle folder
    monkeypatch.setattr(external_effects, "plugin_names", lambda path: ["MVerb"], raising=False)
    monkeypatch.setattr(external_effects, "load_external", lambda spec: Plugin() if not spec.params else 1 / 0)
    return tmp_path


@pytest.mark.parametrize(
    "entry, kind, message",
    [
        ("mix = 150.0", "range", "mix = 150.0: out of range; allowed: a number from 0 to 100 %"),
        ("mix = true", "type", "mix = true: must be a number; allowed: a number from 0 to 100 %"),
        ("freeze = 1", "type", "freeze = 1: must be true or false; allowed: true or false"),
        (
            'plugin_name = "Nope"',
            "choice",
            "plugin_name = \"Nope\": MVerb.vst3 has no plugin of that name; allowed: one of 'MVerb'",
        ),
    ],
)
def test_external_plugin_values_are_blamed_on_the_parameter(mverb, entry, kind, message):
    path = write(mverb, BASE + f'effects = [{{ path = "plugins/MVerb.vst3", {entry} }}]\n')
    e = only_error(path, kind)
    assert e.message == f"{path}: stems[0].effects[0].{message}"


@pytest.mark.parametrize(
    "file, effect, kind, message",
    [
        pytest.param(
            "fake.vst3",
            '{ path = "fake.vst3" }',
            "plugin",
            '{path}: stems[0].effects[0].path = "fake.vst3": cannot load plugin: Failed to load plugin '
            "as VST3Plugin. Errors were: VST3Plugin: Unable to scan plugin "
            "{file}: unsupported plugin format or scan failure.; "
            "allowed: a VST3/AU effect this machine can load",
            id="a-file-that-is-not-a-plugin-is-reported-whole",
        ),
        pytest.param(
            "room.wav",
            '{ plugin = "Convolution", impulse_response_filename = "room.wav" }',
            "file",
            '{path}: stems[0].effects[0].impulse_response_filename = "room.wav": not an audio file: {file}; '
            "allowed: an audio file pedalboard reads (wav, flac, ogg, mp3, aiff)",
            id="an-impulse-response-that-is-not-audio-is-refused",
        ),
    ],
)
def test_a_file_of_the_wrong_kind_is_refused(tmp_path, file, effect, kind, message):
    (tmp_path / file).write_text("neither a plugin nor audio")
    path = write(tmp_path, BASE + f"effects = [{effect}]\n")
    e = only_error(path, kind)
    assert e.message == message.format(path=path, file=tmp_path / file)


# --- built-in effects and the set --------------------------------------------------------------


def test_an_impulse_response_that_is_audio_is_accepted(tmp_path):
    good = write(
        tmp_path,
        BASE + f'effects = [{{ plugin = "Convolution", impulse_response_filename = "{ASSETS / "music_box.ogg"}" }}]\n',
        "good.toml",
    )
    assert P.load_preset(good).stems[0].effects[0].plugin == "Convolution"


def test_set_fades_longer_than_the_set_are_refused(tmp_path):
    path = write(tmp_path, BASE.replace("seconds = 3", "seconds = 3\nfade_in = 1\nfade_out = 2.5"))
    e = only_error(path, "conflict")
    assert e.message == (
        f"{path}: set.fade_out = 2.5: the set's fades (1 s in, 2.5 s out) are longer than the set "
        "(3 s); allowed: fade_in + fade_out at most set.seconds (3)"
    )


def test_a_ceiling_of_0_dbtp_is_kept(tmp_path):
    path = write(tmp_path, BASE.replace("seconds = 3", "seconds = 3\ntrue_peak_dbtp = 0\npeak_dbfs = -0.5"))
    preset = P.load_preset(path)
    assert preset.set.target.ceiling_dbtp == 0.0 and preset.set.target.value == -0.5


def test_op_of_the_wrong_type_is_one_line(tmp_path):
    e = only_error(write(tmp_path, BASE + "op = 3\n"), "type")
    assert e.message.endswith(
        "stems[0].op = 3: must be a string; allowed: one of generate, transform, interpolate, continue"
    )


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + textwrap.dedent(BASE).encode())
    assert P.load_preset(path).set.name == "checks"


# --- nothing is written before everything is valid -------------------------------------------


def test_an_invalid_preset_writes_no_hum_cache(tmp_path):
    hummed = write(tmp_path, BASE + f'hum = "{ASSETS / "hum_lullaby.ogg"}"\nsteps = 2\n', "hummed.toml")
    bad = write(tmp_path, BASE.replace('"checks"', '"bad"') + 'style = "jazz"\n', "bad.toml")
    out = tmp_path / "out"
    for presets in ([hummed.with_name("both.toml")], [hummed, bad]):
        if presets[0].name == "both.toml":  # a hummed stem and, later in the same preset, a stem the model refuses
            presets[0].write_text(hummed.read_text() + '\n[[stems]]\nname = "odd"\nstyle = "jazz"\n')
        result = CliRunner().invoke(main, [*map(str, presets), "-o", str(out), "--model", TINY, "-q"])
        assert result.exit_code == 1 and "unknown style 'jazz'" in result.output, result.output
        assert not out.exists()


def test_a_bad_key_is_blamed_on_key_not_on_hum_key(tmp_path):
    # The embedded model: it was trained with tempo and key, so the pipeline reads the key itself.
    path = write(tmp_path, BASE + 'bpm = 96\nkey = "H minor"\n')
    result = CliRunner().invoke(main, [str(path), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1, result.output
    assert "stems[0].key = \"H minor\": key 'H minor' is not a key name" in result.output, result.output
    assert "hum_key" not in result.output
