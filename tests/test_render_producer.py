"""Producer conveniences: file-name prefix, TPDF dither, file tags, a mixdown progress bar, a warning when the
limiter holds an output below its loudness target, and preset-relative paths in the manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from render_presets import ASSETS, RATE, manifest_of, preset_text, render

from reverie.render.bwf import read_bext
from reverie.render.dither import LSB_16, TPDFDither

DRONE = {
    "name": "drone",
    "steps": 2,
    "effects": [{"plugin": "Convolution", "impulse_response_filename": "irs/room.ogg", "mix": 0.3}],
}


def make(tmp_path: Path, format: str = "flac", **set_keys) -> Path:
    """The sleep_set preset with its impulse response beside it, in `format`, with more `set_keys`."""
    (tmp_path / "irs").mkdir(exist_ok=True)
    shutil.copy(ASSETS / "music_box.ogg", tmp_path / "irs" / "room.ogg")
    path = tmp_path / "sleep_set.toml"
    keys = {"name": "sleep_set", "sample_rate": RATE, "format": format, "bit_depth": 16, "seconds": 1, **set_keys}
    path.write_text(preset_text(keys, DRONE))
    return path


def test_prefix_names_every_file_after_the_set(tmp_path):
    preset = make(tmp_path)
    render(preset, "-o", tmp_path / "out", "--prefix")
    folder = tmp_path / "out" / "sleep_set"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == [
        "manifest.json",
        "sleep_set-drone.flac",
        "sleep_set-drone.png",
        "sleep_set-mixdown.flac",
        "sleep_set-mixdown.png",
    ]
    # the same from the preset, and switching it off renames (renders again, removing the prefixed files)
    preset.write_text(preset.read_text().replace("seconds = 1", "seconds = 1\nprefix = true"))
    assert "reuse  sleep_set-drone.flac" in render(preset, "-o", tmp_path / "out", "--dry-run", quiet=False)
    preset.write_text(preset.read_text().replace("prefix = true", ""))
    render(preset, "-o", tmp_path / "out")
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == ["drone.flac", "drone.png", "manifest.json", "mixdown.flac", "mixdown.png"]


def test_tags_relative_paths_and_the_mixdown_progress(tmp_path):
    preset = make(tmp_path, "wav")
    output = render(preset, "-o", tmp_path / "out", quiet=False)
    # Captured, not a terminal: one line per finished file and no bars redrawn over each other in the log.
    assert "\r" not in output and "all stems:" not in output, output
    assert "sleep_set/mixdown.wav: " in output and "LUFS" in output, output
    folder = tmp_path / "out" / "sleep_set"
    for name, comment in (("drone", "stem drone of set sleep_set"), ("mixdown", "mixdown of set sleep_set")):
        with sf.SoundFile(folder / f"{name}.wav") as f:
            tags = f.copy_metadata()
        assert tags["title"] == f"sleep_set - {name}" and tags["album"] == "sleep_set"
        assert tags["comment"].startswith(comment)
    m = manifest_of(folder)
    # WAV files carry a Broadcast Wave bext chunk: what the file is, its cache key, what it was mastered to.
    for name, entry in (("drone", m["stems"]["drone"]), ("mixdown", m["mixdown"])):
        bext = read_bext(folder / f"{name}.wav")
        assert bext["version"] == 2 and bext["originator"] == "Reverie render"
        assert bext["description"].startswith(f"{'stem drone' if name == 'drone' else 'mixdown'} of set sleep_set")
        assert bext["reference"] == entry["key"][:32]
        assert bext["loudness_lufs"] == pytest.approx(entry["measured"]["loudness_lufs"], abs=0.01)
        assert bext["true_peak_dbtp"] == pytest.approx(entry["measured"]["true_peak_dbtp"], abs=0.01)
        assert entry["dither"] == "tpdf" and entry["bit_depth"] == 16
        assert sf.info(folder / f"{name}.wav").frames == entry["frames"]  # still a WAV every reader reads
    seed, key = m["stems"]["drone"]["seed"], m["stems"]["drone"]["key"]
    assert f"seed {seed}, key {key[:16]}" in sf.SoundFile(folder / "drone.wav").copy_metadata()["comment"]
    assert m["stems"]["drone"]["params"]["effects"][0]["impulse_response_filename"] == "irs/room.ogg"


def test_tpdf_dither_turns_rounding_into_noise():
    # A level of a quarter step rounds to silence without dither; with TPDF it survives, on average, exactly.
    quiet = np.full((2, 200_000), 0.25 * LSB_16, np.float32)
    undithered = np.round(quiet / LSB_16)
    dithered = np.round(TPDFDither()(quiet) / LSB_16)
    assert not undithered.any()
    assert abs(dithered.mean() - 0.25) < 0.01
    assert np.abs(dithered).max() <= 2  # at most one step either side, plus the rounding
    assert (TPDFDither()(quiet) == TPDFDither()(quiet)).all()  # seeded: renders stay bit-identical


def test_16_bit_files_are_dithered(tmp_path):
    preset = make(tmp_path, fade_out=0.5)
    render(preset, "-o", tmp_path / "out")
    audio, _ = sf.read(tmp_path / "out" / "sleep_set" / "mixdown.flac", dtype="int16")
    # The set fades to zero at its end: undithered, its last samples are exactly 0; dithered, +-1 steps remain.
    tail = audio[-200:]
    assert np.abs(tail).max() <= 2 and np.count_nonzero(tail) > 50


def test_a_warning_when_the_limiter_holds_an_output_below_its_target(tmp_path):
    preset = make(tmp_path, loudness_lufs=-3, true_peak_dbtp=-6)
    output = render(preset, "-o", tmp_path / "out")  # seen even with -q
    lines = [line for line in output.splitlines() if line.startswith("warning:")]
    assert lines and lines[0].startswith("warning: sleep_set/drone.flac: the true-peak limiter holds it at ")
    assert lines[0].endswith("below its target -3; lower loudness_lufs or raise true_peak_dbtp (-6)")
