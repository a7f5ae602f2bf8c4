"""`render` end to end on the tiny pipeline: files, loudness, peaks, manifest, reuse, resume after a kill,
determinism."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf
from dummy_models import TINY
from render_presets import ASSETS, RATE, ROOT, manifest_of, preset_text, render

from reverie.render.manifest import sha256_file


def tiny_preset(hum: Path, source: Path) -> str:
    return preset_text(
        {
            "name": "tinyset",
            "sample_rate": RATE,
            "format": "flac",
            "bit_depth": 24,
            "seconds": 3,
            "seed": 5,
            "loudness_lufs": -20,
            "true_peak_dbtp": -1.5,
            "fade_in": 0.2,
            "fade_out": 0.5,
        },
        {
            "name": "pad",
            "style": "sleep",
            "steps": 2,
            "pan": -0.3,
            "effects": [
                {"plugin": "Reverb", "room_size": 0.8, "wet_level": 0.4},
                {"plugin": "LowpassFilter", "cutoff_frequency_hz": 4000},
            ],
        },
        {
            "name": "tune",
            "midi": ASSETS / "lullaby.mid",
            "track": 1,
            "steps": 2,
            "seconds": 2,
            "start": 0.5,
            "loudness_lufs": -26,
            "gain_db": -3,
            "effects": [{"plugin": "Delay", "delay_seconds": 0.2, "feedback": 0.3, "mix": 0.3}],
        },
        {"name": "hummed", "hum": hum.name, "steps": 2, "seconds": 1, "loop": True, "crossfade": 0.2},
        {"name": "restyled", "op": "transform", "source": source.name, "style": "calm", "strength": 0.4, "steps": 2},
        mix={"effects": [{"plugin": "Compressor", "threshold_db": -24, "ratio": 2}], "loudness_lufs": -18},
    )


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    from reverie.models.audio import Audio, load_audio, save_audio
    from reverie.models.melody import Melody, Note, synthesize_hum

    folder = tmp_path_factory.mktemp("preset")
    hum = synthesize_hum(Melody((Note(0.1, 0.8, 62), Note(0.8, 1.6, 66), Note(1.6, 2.4, 69))), RATE, seed=3)
    save_audio(hum, folder / "hum.ogg")
    box = load_audio(ASSETS / "music_box.ogg")
    save_audio(Audio(box.samples[:, : 2 * box.sample_rate], box.sample_rate), folder / "clip.wav")
    path = folder / "tiny.toml"
    path.write_text(tiny_preset(folder / "hum.ogg", folder / "clip.wav"))
    return path


@pytest.fixture(scope="module")
def rendered(preset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    render(preset, "-o", out)
    return out / "tinyset"


def true_peak_db(samples: np.ndarray) -> float:
    """Independent check: scipy's 4x polyphase oversampling."""
    return 20 * np.log10(np.abs(scipy.signal.resample_poly(samples, 4, 1, axis=0)).max())


def test_files_durations_rate_loudness_and_peaks(rendered):
    m = manifest_of(rendered)
    frames = m["set"]["frames"]
    assert frames == 3 * RATE  # no stem reaches past [set].seconds
    targets = {"pad": -20, "tune": -26, "hummed": -20, "restyled": -20, "mixdown": -18}
    for name, target in targets.items():
        path = rendered / f"{name}.flac"
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (RATE, 2, frames, "PCM_24")
        audio, _ = sf.read(path, always_2d=True)
        assert pyloudnorm.Meter(RATE).integrated_loudness(audio) == pytest.approx(target, abs=1.0), name
        assert true_peak_db(audio) <= -1.5 + 0.1, name
        assert np.abs(audio).max() < 1.0
        assert (rendered / f"{name}.png").stat().st_size > 10_000
    # Start offset and set fades: silence before `tune` starts, the set fades to zero at its end.
    tune, _ = sf.read(rendered / "tune.flac", always_2d=True)
    assert np.abs(tune[: int(0.5 * RATE) - 1]).max() == 0.0
    assert np.abs(tune[int(0.5 * RATE) :]).max() > 0.01
    pad, _ = sf.read(rendered / "pad.flac", always_2d=True)
    assert np.abs(pad[-10:]).max() < 1e-3 and np.abs(pad[:5]).max() < 0.01
    # pan -0.3 puts more of the pad on the left
    assert np.sqrt(np.mean(pad[:, 0] ** 2)) > np.sqrt(np.mean(pad[:, 1] ** 2))


def test_manifest_records_what_was_made(rendered, pipe):
    m = manifest_of(rendered)
    assert m["model"]["hash"] == pipe.model_hash
    assert m["set"]["sample_rate"] == RATE and m["set"]["name"] == "tinyset"
    assert set(m["stems"]) == {"pad", "tune", "hummed", "restyled"}
    for entry in m["stems"].values():
        assert entry["sha256"] == sha256_file(rendered / entry["file"])
        assert entry["seconds"] == pytest.approx(3.0)
        assert entry["measured"]["loudness_lufs"] == pytest.approx(entry["target"]["loudness_lufs"], abs=1.0)
        assert entry["measured"]["true_peak_dbtp"] <= -1.5
        assert set(entry["timings"]) >= {"render_s", "master_s", "total_s"}
        assert isinstance(entry["seed"], int) and entry["params"]["seed"] == entry["seed"]
        assert entry["params"]["steps"] == 2
    assert m["stems"]["tune"]["params"]["inputs"]["midi"] == sha256_file(ASSETS / "lullaby.mid")
    assert m["stems"]["restyled"]["params"]["strength"] == 0.4
    assert m["stems"]["pad"]["params"]["guidance"] == pipe.defaults["guidance"]  # defaults resolved
    assert m["stems"]["hummed"]["params"]["seconds"] == pytest.approx(1.2)  # clip + crossfade
    assert m["mixdown"]["sha256"] == sha256_file(rendered / "mixdown.flac")
    assert m["mixdown"]["stems"]["tune"]["gain_db"] == -3
    assert m["run"]["rendered"] == ["pad", "tune", "hummed", "restyled"]
    assert not [p.name for p in rendered.iterdir() if ".partial" in p.name]


def test_bit_identical_across_runs(rendered, preset, tmp_path):
    render(preset, "-o", tmp_path, "--force")
    again = tmp_path / "tinyset"
    for path in rendered.glob("*.flac"):
        assert sha256_file(again / path.name) == sha256_file(path), path.name


def test_second_run_reuses_everything_and_a_change_rerenders_one_stem(rendered, preset, tmp_path):
    before = {p.name: sha256_file(p) for p in rendered.glob("*.flac")}
    render(preset, "-o", rendered.parent)
    m = manifest_of(rendered)
    assert m["run"]["rendered"] == [] and m["run"]["mixdown"] == "reuse"
    assert sorted(m["run"]["reused"]) == ["hummed", "pad", "restyled", "tune"]
    assert {p.name: sha256_file(p) for p in rendered.glob("*.flac")} == before
    # A changed copy of the preset in another folder: only the changed stem and the mix are made again.
    changed = tmp_path / "tiny.toml"
    changed.write_text(preset.read_text().replace("strength = 0.4", "strength = 0.5"))
    for asset in ("hum.ogg", "clip.wav"):
        (tmp_path / asset).write_bytes((preset.parent / asset).read_bytes())
    render(changed, "-o", rendered.parent)
    m = manifest_of(rendered)
    assert m["run"]["rendered"] == ["restyled"] and m["run"]["mixdown"] == "render"
    # gain_db is a mix setting: changing it re-mixes without re-rendering any stem.
    changed.write_text(changed.read_text().replace("gain_db = -3", "gain_db = -6"))
    render(changed, "-o", rendered.parent)
    m = manifest_of(rendered)
    assert m["run"]["rendered"] == [] and m["run"]["mixdown"] == "render"


def test_dry_run_writes_nothing(preset, tmp_path):
    output = render(preset, "-o", tmp_path / "dry", "--dry-run")
    assert "render pad.flac" in output and "render mixdown.flac" in output
    assert not (tmp_path / "dry" / "tinyset").exists()


def test_only_renders_the_named_stem(preset, tmp_path):
    render(preset, "-o", tmp_path, "--only", "tune")
    folder = tmp_path / "tinyset"
    assert sorted(p.name for p in folder.glob("*.flac")) == ["tune.flac"]
    assert manifest_of(folder)["run"]["mixdown"] == "skipped"


KILL_PRESET = preset_text(
    {"name": "killed", "sample_rate": RATE, "format": "wav", "seconds": 2},
    {"name": "first", "steps": 2},
    {"name": "second", "steps": 2, "style": "calm"},
    {"name": "third", "steps": 2, "style": "tense"},
)


def test_resume_after_kill(tmp_path):
    """SIGKILL mid-run keeps finished stems, leaves no partial file under a final name; the rerun reuses them."""
    preset = tmp_path / "killed.toml"
    preset.write_text(KILL_PRESET)
    out = tmp_path / "out"
    folder = out / "killed"
    cmd = [sys.executable, "-m", "reverie.cli.render", str(preset), "-o", str(out), "--model", TINY, "-q"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while "first" not in (manifest_of(folder)["stems"] if (folder / "manifest.json").exists() else {}):
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = manifest_of(folder)["stems"]
    assert "first" in finished and len(finished) < 3
    for path in folder.iterdir():
        if path.suffix == ".wav" and not path.name.startswith("."):
            # every file under a final name is complete and recorded
            assert path.stem in finished, path.name
            assert sha256_file(path) == finished[path.stem]["sha256"]
    kept = {name: sha256_file(folder / e["file"]) for name, e in finished.items()}

    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    m = manifest_of(folder)
    assert sorted(m["run"]["reused"]) == sorted(finished)
    assert sorted(m["run"]["rendered"]) == sorted(set(m["stems"]) - set(finished))
    assert {name: sha256_file(folder / m["stems"][name]["file"]) for name in kept} == kept
    assert not [p.name for p in folder.iterdir() if ".partial" in p.name]
