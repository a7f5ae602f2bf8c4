"""The `reverie` command line: real processes, real files, one-line errors."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from reverie.models.audio import load_audio, save_audio

REVERIE = [sys.executable, "-c", "from reverie.cli.main import cli; cli()"]


def reverie(*args, cwd=None):
    return subprocess.run([*REVERIE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_every_command_without_importing_torch():
    code = "import sys; from click.testing import CliRunner; from reverie.cli.main import cli; " \
           "r = CliRunner().invoke(cli, ['--help']); print(r.output); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    for name in ("generate", "transform", "inpaint", "interpolate", "continue", "serve", "train", "corpus"):
        assert name in out
    assert out.strip().endswith("False")


def test_generate_writes_the_requested_file(tmp_path):
    result = reverie("generate", "-o", tmp_path / "g.flac", "--model", "tiny", "--seconds", "1.5",
                     "--sample-rate", "48000", "--channels", "1", "--style", "calm", "-q")
    assert result.returncode == 0, result.stderr
    info = sf.info(tmp_path / "g.flac")
    assert (info.samplerate, info.channels, info.frames) == (48000, 1, 72000)


def test_the_wrote_line_gives_the_level_and_warns_of_clipping(tmp_path):
    hot = tone(1.0, 44100)
    hot = type(hot)(hot.samples / np.abs(hot.samples).max() * 1.5, 44100)  # peak +3.5 dBFS, a float file
    save_audio(hot, tmp_path / "hot.wav", 32)
    for depth, clipped in (("16", True), ("32", False)):
        result = reverie("transform", tmp_path / "hot.wav", "-o", tmp_path / f"out{depth}.wav", "--strength", "0",
                         "--model", "tiny", "--bit-depth", depth)
        assert result.returncode == 0, result.stderr
        assert "peak 3.5 dBFS" in result.stderr, result.stderr
        assert ("samples above full scale were clipped in the 16-bit file" in result.stderr) == clipped


def test_inpaint_cli_keeps_outside_samples(tmp_path):
    clip = tone(3.0, 44100)
    save_audio(clip, tmp_path / "in.wav", 32)
    result = reverie("inpaint", tmp_path / "in.wav", "-o", tmp_path / "out.wav", "--start", "1", "--end", "2",
                     "--model", "tiny", "--bit-depth", "32", "-q")
    assert result.returncode == 0, result.stderr
    out = load_audio(tmp_path / "out.wav")
    assert np.array_equal(out.samples[:, :44100], clip.samples[:, :44100])
    assert np.array_equal(out.samples[:, 88200:], clip.samples[:, 88200:])


@pytest.mark.parametrize("args,message", [
    (["transform", "{missing}", "-o", "{out}"], "input file not found"),
    (["transform", "{text}", "-o", "{out}"], "is not readable audio"),
    (["transform", "{nan}", "-o", "{out}"], "NaN or infinite samples"),
    (["inpaint", "{wav}", "-o", "{out}", "--start", "1", "--end", "9"], "end must be after start (1 s) and at most 2.000 s"),
    (["transform", "{wav}", "-o", "{out}", "--strength", "1.5"], "strength must be between 0 and 1, got 1.5"),
    (["generate", "-o", "{out}", "--style", "jazz"], "unknown style 'jazz'; allowed: sleep, calm, happy, sad, tense"),
    (["generate", "-o", "{tmp}/x.mp3"], "must end in .wav, .flac, .ogg"),
    (["generate", "-o", "{out}", "--seconds", "-2"], "seconds must be above 0"),
])
def test_bad_input_is_one_line_and_no_traceback(tmp_path, args, message):
    save_audio(tone(2.0, 22050), tmp_path / "in.wav")
    (tmp_path / "notes.txt").write_text("hello")
    nan = np.zeros((100, 1), np.float32)
    nan[5] = np.inf
    sf.write(tmp_path / "nan.wav", nan, 22050, subtype="FLOAT")
    paths = dict(missing=tmp_path / "nope.wav", out=tmp_path / "o.wav", text=tmp_path / "notes.txt",
                 nan=tmp_path / "nan.wav", wav=tmp_path / "in.wav", tmp=tmp_path)
    model = [] if "style" in args else ["--model", "tiny"]
    result = reverie(*[a.format(**paths) for a in args], *model)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not Path(paths["out"]).exists()
