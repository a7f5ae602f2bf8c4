"""Every operation a preset may use renders, with the parameters its spec declares: a continue stem lasts its
source and the seconds it adds and takes `variation`, an interpolate stem takes `mix`, a transform stem
`inversion`; the manifest records each value the audio was made with, defaults included."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from click.testing import CliRunner
from render_presets import ASSETS, RATE, manifest_of, preset_text, render

from reverie.cli.render import main
from reverie.models.audio import load_audio
from reverie.models.operations import OPERATIONS
from reverie.render.schema import OPERATIONS as PRESET_OPS


def _preset(folder) -> str:
    from reverie.models.audio import Audio, save_audio

    box = load_audio(ASSETS / "music_box.ogg")
    save_audio(Audio(box.samples[:, : 2 * box.sample_rate], box.sample_rate), folder / "clip.wav")
    save_audio(load_audio(ASSETS / "music_box_sad.ogg"), folder / "other.ogg")
    common = {"steps": 2}
    return preset_text(
        {"name": "ops", "sample_rate": RATE, "seconds": 2, "format": "wav", "bit_depth": 32},
        {"name": "bed", "seconds": 1, **common},
        {"name": "moved", "op": "transform", "source": "clip.wav", "inversion": True, "strength": 0.3, **common},
        {"name": "blend", "op": "interpolate", "sources": ["clip.wav", "other.ogg"], "mix": "lerp", **common},
        {"name": "more", "op": "continue", "source": "clip.wav", "seconds": 1.5, **common},
    )


def test_every_preset_operation_renders_with_its_declared_parameters(tmp_path):
    (tmp_path / "a").mkdir()
    path = tmp_path / "a" / "ops.toml"
    path.write_text(_preset(tmp_path / "a"))
    render(path, "-o", tmp_path / "out")
    m = manifest_of(tmp_path / "out" / "ops")
    made = {entry["params"]["op"] for entry in m["stems"].values()}
    assert made == set(PRESET_OPS)
    for entry in m["stems"].values():
        params, spec = entry["params"], OPERATIONS[entry["params"]["op"]]
        # Every declared parameter with a value is recorded: a changed default is a new cache key.
        recorded = {name for name in spec.names if name in params}
        assert recorded >= {p.name for p in spec.params if p.default is not None and not p.replaced_by}
    stems = m["stems"]
    assert stems["moved"]["params"]["inversion"] is True and stems["moved"]["params"]["strength"] == 0.3
    assert stems["blend"]["params"]["mix"] == "lerp" and stems["blend"]["params"]["ratio"] == 0.5
    assert stems["more"]["params"]["variation"] == 0.5 and stems["more"]["params"]["seconds"] == 1.5
    # A continuation lasts its source and what it adds, so the set reaches past its 2 s.
    assert m["set"]["frames"] == 2 * RATE + round(1.5 * RATE)
    more, rate = sf.read(tmp_path / "out" / "ops" / "more.wav", always_2d=True)
    assert rate == RATE and len(more) == m["set"]["frames"] and np.abs(more[-RATE // 2 :]).max() > 1e-3


def test_a_continue_stems_variation_changes_its_new_audio_and_its_cache_key(tmp_path):
    # The embedded model: it finds the music box's period, so variation decides how far the new bars move.
    outputs = {}
    for variation in (0.5, 1.0):
        folder = tmp_path / str(variation)
        folder.mkdir()
        path = folder / "more.toml"
        stem = {"name": "more", "op": "continue", "source": ASSETS / "music_box.ogg", "seconds": 1.5}
        path.write_text(
            preset_text({"name": "more", "sample_rate": RATE, "seconds": 1}, {**stem, "variation": variation})
        )
        result = CliRunner().invoke(main, [str(path), "-o", str(folder / "out"), "-q"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        entry = manifest_of(folder / "out" / "more")["stems"]["more"]
        outputs[variation] = sf.read(folder / "out" / "more" / "more.wav", always_2d=True)[0], entry
    (low, low_entry), (high, high_entry) = outputs[0.5], outputs[1.0]
    assert low_entry["params"]["variation"] == 0.5 and high_entry["params"]["variation"] == 1.0
    assert low_entry["key"] != high_entry["key"]
    source = round(load_audio(ASSETS / "music_box.ogg").seconds * RATE)
    assert low.shape == high.shape == (source + round(1.5 * RATE), 2)
    new_low, new_high = low[source:], high[source:]
    # Mastered to one loudness, the two continuations still differ by a fair share of their level.
    assert np.sqrt(np.mean((new_low - new_high) ** 2)) > 0.2 * np.sqrt(np.mean(new_high**2))
