"""The examples run as their docstrings say, on the inputs that ship in presets/assets/, against a real server."""

from __future__ import annotations

import ast
import shlex
import subprocess
import sys
from pathlib import Path

import soundfile as sf
from bridge_helpers import ServeProcess
from dummy_models import TINY

ROOT = Path(__file__).resolve().parents[1]


def documented_command(path: Path) -> list[str]:
    """The one `.venv/bin/python examples/...` line of the example's docstring, as words."""
    doc = ast.get_docstring(ast.parse(path.read_text()))
    lines = [line.strip() for line in doc.splitlines() if line.strip().startswith(".venv/bin/python examples/")]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def test_the_pedalboard_chain_runs_as_documented(tmp_path):
    words = documented_command(ROOT / "examples" / "pedalboard_chain.py")
    assert words[2] == "presets/assets/music_box.ogg" and (ROOT / words[2]).is_file()
    server = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    try:
        out = tmp_path / words[3]
        command = [sys.executable, words[1], words[2], str(out), *words[4:], "--server", server.endpoint]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        server.kill()
    assert done.returncode == 0, done.stderr
    source, result = sf.info(ROOT / words[2]), sf.info(out)
    assert result.samplerate == source.samplerate and result.frames == source.frames
