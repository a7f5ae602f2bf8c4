"""Limits and failures of a run: set length, free disk space, an output path that is a file, a full disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from dummy_models import TINY
from render_presets import RATE, preset_text

from reverie.cli.render import main
from reverie.render import space


def looped(seconds: float) -> str:
    """A set of `seconds` made of one looped 1-second stem."""
    return preset_text(
        {"name": "limits", "sample_rate": RATE, "format": "flac", "seconds": seconds},
        {"name": "bed", "steps": 2, "seconds": 1, "loop": True, "crossfade": 0.2},
    )


THREE = preset_text(
    {"name": "full", "sample_rate": RATE, "format": "flac", "seconds": 8},
    {"name": "a", "steps": 2},
    {"name": "b", "steps": 2, "style": "calm"},
    {"name": "c", "steps": 2, "style": "sad"},
)


def invoke(*args):
    return CliRunner().invoke(main, [*map(str, args), "--model", TINY, "-q"])


def test_set_seconds_is_held_to_the_models_limit_when_no_stem_asks_for_it(tmp_path):
    preset = tmp_path / "limits.toml"
    preset.write_text(looped(1e6))
    result = invoke(preset, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {preset}: set.seconds = 1000000.0: longer than the model allows; allowed: at most 14400 seconds"
    ]
    assert not (tmp_path / "out").exists()


def test_free_disk_space_is_checked_before_rendering(tmp_path, monkeypatch):
    preset = tmp_path / "limits.toml"
    preset.write_text(looped(600))
    monkeypatch.setattr(space.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10 << 30, 10 << 30, 50 << 20))
    result = invoke(preset, "-o", tmp_path / "out")
    assert result.exit_code == 1
    # 600 s of 24-bit stereo at 22050 Hz: a stem and a mixdown (75.7 MB each), the float temp file (100.9 MB), 1 MB
    assert result.output.strip() == (
        f"error: not enough disk space for {tmp_path}: the render needs about 253.3 MB, "
        "50.0 MB is free; free some space, shorten the set or use another -o folder"
    )
    assert not (tmp_path / "out").exists()


def test_output_that_is_a_file_is_one_line(tmp_path):
    preset = tmp_path / "limits.toml"
    preset.write_text(looped(2))
    for output, culprit in ((preset, "is"), (preset / "sub", f"{preset} is")):
        result = invoke(preset, "-o", output)
        assert result.exit_code == 1
        assert result.output.strip() == (
            f"error: -o {output}: {culprit} a file, not a folder; allowed: a folder (made when missing)"
        )


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (needs root; skipped elsewhere)."""
    where = tmp_path / "disk"
    where.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_is_one_line_and_keeps_finished_stems(tmp_path, small_disk, monkeypatch):
    preset = tmp_path / "full.toml"
    preset.write_text(THREE)
    monkeypatch.setattr(space, "check_free_space", lambda plans, jobs: None)  # let it run into the full disk
    result = invoke(preset, "-o", small_disk)
    assert result.exit_code == 1
    folder = small_disk / "full"
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith(f"error: cannot write {folder}/b.flac: System error (")
    assert result.output.strip().endswith(
        f"finished stems are kept under {small_disk}/ and a new run continues from them"
    )
    finished = json.loads((folder / "manifest.json").read_text())["stems"]
    assert list(finished) == ["a"] and (folder / "a.flac").is_file()
    assert sorted(p.name for p in folder.iterdir()) == [".render.lock", "a.flac", "a.png", "manifest.json"]


def test_a_ceiling_the_loudness_cannot_meet_wins_and_is_said_once_per_file(tmp_path):
    """-3 LUFS under -6 dBTP: every file stays under -6 dBTP (read back from the file), one warning line
    each, and the manifest says the same. The tiny model makes white noise with full power at Nyquist, where
    independent resamplers disagree by 0.7 dB (16x polyphase -6.0, 8x FFT -5.3 on the same noise): so the
    file is read back with the renderer's meter, which test_render_dsp holds to them on band-limited audio."""
    import soundfile as sf

    from reverie.render.loudness import TruePeakMeter

    (tmp_path / "loud.toml").write_text(
        preset_text(
            {"name": "loud", "sample_rate": RATE, "seconds": 4, "loudness_lufs": -3, "true_peak_dbtp": -6},
            {"name": "a", "steps": 2, "style": "tense"},
            {"name": "b", "steps": 2, "style": "calm"},
        )
    )
    result = invoke(tmp_path / "loud.toml", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "loud" / "manifest.json").read_text())
    entries = [*manifest["stems"].values(), manifest["mixdown"]]
    for entry in entries:
        samples, _ = sf.read(tmp_path / "out" / "loud" / entry["file"], always_2d=True)
        meter = TruePeakMeter(2)
        meter.push(samples.T)
        meter.finish()
        assert meter.peak_db <= -6.0 + 0.01, entry["file"]
        assert entry["measured"]["true_peak_dbtp"] <= -6.0
        assert entry["warning"].startswith(f"{entry['file']}: the true-peak limiter holds it at ")
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3 and all("lower loudness_lufs or raise true_peak_dbtp (-6)" in w for w in warnings)
