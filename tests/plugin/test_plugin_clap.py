"""The Reverie CLAP (build/plugin/Reverie.clap) in a small CLAP host compiled here (clap_host.cpp, on DPF's
bundled CLAP headers), with a playing transport, against a real `reverie serve`
on the tests' model (tests/dummy_models.py)."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from bridge_helpers import ServeProcess, cli_answer
from dummy_models import TINY

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
    server = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    try:
        audio = signal(2.0, rate)
        first, last = rate // 2, rate * 3 // 2
        capture = f"strength=0.3,seed=1,mode=1@{first},mode=2@{last}"  # bypass, capture 0.5-1.5 s, play
        out, state = run_host(host, tmp_path, audio, rate, block, server.endpoint, capture, "-")
    finally:
        server.kill()
    assert f"host positions {first} to {last} (the transport's)" in state["status"], state["status"]
    assert np.array_equal(out[:, :first], audio[:, :first]) and np.array_equal(out[:, last:], audio[:, last:])
    expected = cli_answer(tmp_path, "transform", audio[:, first:last], rate, "--strength", "0.3", "--seed", "1")
    assert np.abs(out[:, first:last] - expected).max() <= 1e-4


def test_clap_with_no_server_plays_dry(host, tmp_path):
    audio = signal(1.0, 48000)
    out, state = run_host(host, tmp_path, audio, 48000, 480, "tcp://127.0.0.1:9", "mode=1", "mode=2")
    assert np.array_equal(out, audio)
    assert state["status"].startswith("error unreachable"), state["status"]


def xvfb_display():
    """An Xvfb server on a free display: (process, ":N")."""
    xvfb = subprocess.Popen(
        [shutil.which("Xvfb"), "-displayfd", "1", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ready, _, _ = select.select([xvfb.stdout], [], [], 30)
    number = xvfb.stdout.readline().strip() if ready else ""
    if not number:
        xvfb.kill()
        raise RuntimeError("Xvfb did not start")
    return xvfb, f":{number}"


def grab(display: str) -> np.ndarray:
    from PIL import ImageGrab

    return np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB")).astype(int)


def colour_box(image: np.ndarray, colour: tuple[int, int, int]):
    """(x0, y0, x1, y1) of the pixels of exactly this colour, or None."""
    ys, xs = np.nonzero(np.all(image == colour, axis=2))
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if len(xs) else None


BACKGROUND, BLUE, GREEN = (24, 26, 33), (92, 120, 220), (70, 150, 130)  # plugin/ReverieUI.cpp's colours


def window_checks(shot: np.ndarray) -> dict[str, bool]:
    """What the window must show after a finished transform at strength 0.3 (plugin/ReverieUI.cpp's layout)."""
    window = colour_box(shot, BACKGROUND)
    if window is None:
        return {"window open": False}
    x0, y0, x1, y1 = window
    slider = np.all(shot[y0 + 140, x0 + 20 : x0 + 310] == GREEN, axis=1).sum()  # under its label
    return {
        "640 x 330": (x1 - x0, y1 - y0) == (640, 330),
        "progress bar full": bool(np.all(shot[y0 + 259, x0 + 22 : x0 + 618] == BLUE)),
        "transform tab lit": bool(np.all(shot[y0 + 70 : y0 + 74, x0 + 24 : x0 + 40] == BLUE)),
        "strength slider at 0.30": abs(int(slider) - 87) <= 3,
        "Render lit (mode play)": bool(np.all(shot[y0 + 206 : y0 + 210, x0 + 180 : x0 + 200] == GREEN)),
        # light text pixels in the status line and in the model card line
        "status text": int((shot[y0 + 272 : y0 + 292, x0 + 20 : x0 + 620].sum(axis=2) > 300).sum()) > 200,
        "model card text": int((shot[y0 + 305 : y0 + 325, x0 + 20 : x0 + 620].sum(axis=2) > 300).sum()) > 200,
    }


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb (scripts/install-daw)")
def test_the_window_opens_and_shows_the_take_the_progress_and_the_model_card(host, tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image, features

    if not features.check("xcb"):
        pytest.skip("this Pillow cannot grab an X display")
    server = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    xvfb, display = xvfb_display()
    try:
        rate = 48000
        audio = signal(1.0, rate)
        src, dst, state = tmp_path / "in.f32", tmp_path / "out.f32", tmp_path / "state.bin"
        audio.tofile(src)
        env = dict(os.environ, REVERIE_SERVER=server.endpoint, DISPLAY=display, REVERIE_CLAP_GUI_SECONDS="15")
        cmd = [str(host), str(CLAP), str(rate), "480", str(src), str(dst), str(state), "strength=0.3,seed=1,mode=1"]
        proc = subprocess.Popen([*cmd, "mode=2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            checks, shot = {"window open": False}, None
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and proc.poll() is None:
                image = grab(display)
                found = window_checks(image)
                if found.get("window open", True):  # keep the last picture of the open window
                    checks, shot = found, image
                    if all(checks.values()):
                        break
                time.sleep(0.25)
            if shot is not None:
                Image.fromarray(shot.astype(np.uint8)).save(tmp_path / "window.png")
        finally:
            out, err = proc.communicate(timeout=60)
    finally:
        xvfb.kill()
        server.kill()
    assert proc.returncode == 0, out + err
    assert "window 640x330" in out
    assert checks and all(checks.values()), (checks, tmp_path / "window.png")
