"""The Reverie CLAP (build/plugin/Reverie.clap) in a small CLAP host compiled here (clap_host.cpp, on DPF's
bundled CLAP headers), with a playing transport, against a real `reverie serve --model tiny`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from bridge_helpers import ServeProcess, reverie_command

ROOT = Path(__file__).resolve().parents[2]
CLAP = ROOT / "build" / "plugin" / "Reverie.clap"
HOST_SOURCE = Path(__file__).with_name("clap_host.cpp")
DPF_SOURCES = (ROOT / "build" / "dpf" / "distrho" / "src", Path("/usr/share/dpf/distrho/src"))
CLAP_HEADERS = next((p for p in DPF_SOURCES if (p / "clap").is_dir()), None)

pytestmark = [
    pytest.mark.skipif(not CLAP.exists(), reason="build/plugin/Reverie.clap is not built: run scripts/build-plugin"),
    pytest.mark.skipif(
        shutil.which("g++") is None or CLAP_HEADERS is None, reason="needs g++ and DPF's CLAP headers (dpf-source)"
    ),
]


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("clap") / "clap_host"
    cmd = ["g++", "-std=c++17", "-O1", "-Wall", f"-I{CLAP_HEADERS}", "-o", str(exe), str(HOST_SOURCE), "-ldl"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return exe


def signal(seconds: float, rate: int) -> np.ndarray:
    rng = np.random.default_rng(11)
    t = np.arange(round(seconds * rate)) / rate
    tones = [0.3 * np.sin(2 * np.pi * f * t) + 0.05 * np.sin(2 * np.pi * 3 * f * t) for f in (196.0, 294.0)]
    return (np.stack(tones) + 0.01 * rng.standard_normal((2, len(t)))).astype(np.float32)


def run_host(host: Path, tmp_path: Path, audio: np.ndarray, rate: int, block: int, endpoint: str, *passes: str):
    """The last pass's output and the plugin's state keys."""
    src, dst, state = tmp_path / "in.f32", tmp_path / "out.f32", tmp_path / "state.bin"
    np.ascontiguousarray(audio, dtype=np.float32).tofile(src)
    env = dict(os.environ, REVERIE_SERVER=endpoint)
    cmd = [str(host), str(CLAP), str(rate), str(block), str(src), str(dst), str(state), *passes]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("done")
    out = np.fromfile(dst, np.float32).reshape(2, -1)
    words = state.read_bytes().split(b"\0")
    pairs = words[words.index(b"__dpf_state_begin__") + 1 : words.index(b"__dpf_state_end__")]
    return out, {pairs[i].decode(): pairs[i + 1].decode() for i in range(0, len(pairs) - 1, 2)}


def test_clap_bypass_is_bit_exact(host, tmp_path):
    audio = signal(1.0, 44100)
    audio[:, :3] = [[3.4e38, -0.0, 1e-45]] * 2
    out, state = run_host(host, tmp_path, audio, 44100, 512, "tcp://127.0.0.1:9", "-")
    assert np.array_equal(out.view(np.uint32), audio.view(np.uint32))
    assert state["status"] == "idle"


@pytest.mark.parametrize("rate,block", [(44100, 441), (48000, 480), (96000, 960)])
def test_clap_take_lands_at_the_transport_positions(host, tmp_path, rate, block):
    server = ServeProcess("--model", "tiny", "--bind", "tcp://127.0.0.1:*")
    try:
        audio = signal(2.0, rate)
        first, last = rate // 2, rate * 3 // 2
        capture = f"strength=0.3,seed=1,mode=1@{first},mode=2@{last}"  # bypass, capture 0.5-1.5 s, play
        out, state = run_host(host, tmp_path, audio, rate, block, server.endpoint, capture, "-")
    finally:
        server.kill()
    assert f"host positions {first} to {last} (the transport's)" in state["status"], state["status"]
    assert np.array_equal(out[:, :first], audio[:, :first]) and np.array_equal(out[:, last:], audio[:, last:])
    src, dst = tmp_path / "slice.wav", tmp_path / "expected.wav"
    sf.write(src, audio[:, first:last].T, rate, subtype="FLOAT")
    cmd = reverie_command("transform", str(src), "-o", str(dst), "--model", "tiny", "--strength", "0.3", "--seed", "1")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected, _ = sf.read(dst, dtype="float32", always_2d=True)
    assert np.abs(out[:, first:last] - expected.T).max() <= 1e-4


def test_clap_with_no_server_plays_dry(host, tmp_path):
    audio = signal(1.0, 48000)
    out, state = run_host(host, tmp_path, audio, 48000, 480, "tcp://127.0.0.1:9", "mode=1", "mode=2")
    assert np.array_equal(out, audio)
    assert state["status"].startswith("error unreachable"), state["status"]
