"""Interrupted and repeated runs: no stale file under a final name, publishing order, pending entries, pictures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from render_presets import RATE, manifest_of, preset_text, render

from reverie.render import manifest as manifest_module
from reverie.render import renderer

PRESET = preset_text(
    {"name": "resume", "sample_rate": RATE, "format": "wav", "seconds": 1},
    {"name": "first", "steps": 2},
    {"name": "second", "steps": 2, "seed": 1},
)


@pytest.fixture
def rendered(tmp_path) -> tuple[Path, Path]:
    preset = tmp_path / "resume.toml"
    preset.write_text(PRESET)
    render(preset, "-o", tmp_path / "out")
    return preset, tmp_path / "out" / "resume"


def test_an_interrupted_rerender_leaves_no_stale_file(rendered, monkeypatch):
    preset, folder = rendered
    preset.write_text(PRESET.replace("seed = 1", "seed = 2"))
    real = renderer.render_stem

    def interrupted(pipe, preset, stem, *args, **kwargs):
        if stem.name == "second":
            raise KeyboardInterrupt  # Ctrl-C while the changed stem renders
        return real(pipe, preset, stem, *args, **kwargs)

    monkeypatch.setattr(renderer, "render_stem", interrupted)
    render(preset, "-o", folder.parent, code=130)
    names = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert names == {"first.wav", "first.png", "manifest.json"}  # the old second stem and old mixdown are gone
    assert set(manifest_of(folder)["stems"]) == {"first"}


def test_a_stem_dropped_from_the_preset_loses_its_files(rendered):
    preset, folder = rendered
    preset.write_text(PRESET.split('[[stems]]\nname = "second"')[0])
    render(preset, "-o", folder.parent)
    assert not (folder / "second.wav").exists() and not (folder / "second.png").exists()
    assert set(manifest_of(folder)["stems"]) == {"first"}


def test_a_kill_between_rename_and_manifest_update_is_reused(tmp_path, monkeypatch):
    preset = tmp_path / "resume.toml"
    preset.write_text(PRESET)
    real = manifest_module.Manifest.set_stem

    def killed(self, name, entry):
        if name == "second":
            raise KeyboardInterrupt  # the file is in place, the manifest not yet updated
        real(self, name, entry)

    monkeypatch.setattr(manifest_module.Manifest, "set_stem", killed)
    render(preset, "-o", tmp_path / "out", code=130)
    folder = tmp_path / "out" / "resume"
    assert (folder / "second.wav").is_file() and "second" not in manifest_of(folder)["stems"]
    monkeypatch.setattr(manifest_module.Manifest, "set_stem", real)
    render(preset, "-o", tmp_path / "out")
    m = manifest_of(folder)
    assert m["run"]["rendered"] == [] and sorted(m["run"]["reused"]) == ["first", "second"]
    assert not m["pending"]


def test_a_deleted_spectrogram_is_drawn_again(rendered):
    preset, folder = rendered
    (folder / "first.png").unlink()
    (folder / "mixdown.png").unlink()
    render(preset, "-o", folder.parent)
    m = manifest_of(folder)
    assert m["run"]["rendered"] == [] and m["run"]["mixdown"] == "reuse"
    assert (folder / "first.png").stat().st_size > 10_000 and (folder / "mixdown.png").stat().st_size > 10_000


def test_audio_is_renamed_into_place_before_its_picture(tmp_path, monkeypatch):
    preset = tmp_path / "resume.toml"
    preset.write_text(PRESET)
    finals: list[str] = []
    real = os.replace

    def replace(src, dst):
        if not Path(dst).name.startswith("."):
            finals.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    render(preset, "-o", tmp_path / "out")
    for name in ("first", "second", "mixdown"):
        assert finals.index(f"{name}.wav") < finals.index(f"{name}.png"), finals
