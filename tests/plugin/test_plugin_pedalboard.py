"""The Reverie plugin (build/plugin/Reverie.vst3, from scripts/build-plugin) in pedalboard, against a real
`reverie serve` on the tests' model (tests/dummy_models.py) on a free loopback port.

pedalboard gives the plugin no transport, so the plugin places its capture by a sample counter from the
last reset (every `process` call resets it), and pedalboard runs faster than real time, so `play` waits
for the take (the plugin's `wait` = auto sees an offline host).
"""

from __future__ import annotations

import gc
import importlib.util
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from bridge_helpers import ServeProcess, cli_answer, reverie_command
from dummy_models import TINY

ROOT = Path(__file__).resolve().parents[2]
VST3 = ROOT / "build" / "plugin" / "Reverie.vst3"
EXAMPLE = ROOT / "examples" / "plugin_roundtrip.py"

pedalboard = pytest.importorskip("pedalboard")
pytestmark = pytest.mark.skipif(
    not VST3.exists(), reason="build/plugin/Reverie.vst3 is not built: run scripts/build-plugin"
)

_spec = importlib.util.spec_from_file_location("plugin_roundtrip", EXAMPLE)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

RATES = [44100, 48000, 96000]


@pytest.fixture(scope="module")
def server():
    proc = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    yield proc
    proc.kill()


def signal(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Two different harmonic tones and a little noise, (2, frames) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    tones = [0.3 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(2 * np.pi * 2 * f * t) for f in (220.0, 331.0)]
    return (np.stack(tones) + 0.01 * rng.standard_normal((2, len(t)))).astype(np.float32)


def load(endpoint: str | None = None, **params):
    plugin = pedalboard.load_plugin(str(VST3))
    if endpoint is not None:
        example.set_plugin_state(plugin, server=endpoint)
    for name, value in params.items():
        example.set_parameter(plugin, name, value)
    return plugin


def status(plugin) -> str:
    return example.plugin_state(plugin)["status"]


def wait_status(plugin, prefix: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = status(plugin)
        if text.startswith(prefix):
            return text
        time.sleep(0.05)
    raise AssertionError(f"status never began with {prefix!r}; last: {status(plugin)!r}")


def test_numbers_set_through_the_normalised_value_are_exact():
    plugin = load(seed=12345, seconds=0.5, start=1.25, strength=0.3)
    assert (plugin.seed, plugin.seconds, plugin.start, plugin.strength) == (12345, 0.5, 1.25, 0.3)


def test_the_contract_parameters_and_their_defaults():
    plugin = load()
    names = set(plugin.parameters)
    assert {"mode", "operation", "strength", "seed", "variation", "style", "start", "end"} <= names
    assert plugin.mode == "bypass"
    assert plugin.operation == "transform"
    assert plugin.style == "none"
    # the CLI's defaults (models/operations.py): strength 0.5, seed 0, variation 0.5
    assert plugin.strength == pytest.approx(0.5) and plugin.seed == 0 and plugin.variation == pytest.approx(0.5)
    assert example.plugin_state(plugin)["server"] == "tcp://127.0.0.1:5555"


@pytest.mark.parametrize("rate", RATES)
def test_bypass_passes_the_input_bit_for_bit(rate):
    rng = np.random.default_rng(rate)
    audio = (rng.standard_normal((2, rate)) * 2.0).astype(np.float32)  # over full scale too
    audio[:, :7] = [[0.0, -0.0, 1e-38, -1e-45, 3.4e38, -1.0, 1.0]] * 2
    plugin = load()
    out = plugin.process(audio, rate)
    assert out.dtype == np.float32 and np.array_equal(out.view(np.uint32), audio.view(np.uint32))


@pytest.mark.parametrize("rate", RATES)
def test_the_round_trip_equals_reverie_transform(server, tmp_path, rate):
    audio = signal(1.5, rate)
    out = example.roundtrip(audio, rate, server.endpoint, VST3, operation="transform", strength=0.3, seed=1)
    expected = cli_answer(tmp_path, "transform", audio, rate, "--strength", "0.3", "--seed", "1")
    assert out.shape == audio.shape
    assert np.abs(out - expected).max() <= 1e-4
    assert np.abs(out - audio).max() > 0.01  # it is a new take, not the dry input


def test_the_example_script_writes_what_reverie_transform_writes(server, tmp_path):
    """Issue 41 item 2 as a user runs it: the example's OUTPUT against the CLI's, on a mono 22.05 kHz file."""
    src = ROOT / "presets" / "assets" / "music_box.ogg"
    out = tmp_path / "plugin_out.wav"
    cmd = [sys.executable, str(EXAMPLE), str(src), str(out), "--server", server.endpoint]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected_path = tmp_path / "cli.wav"
    cmd = reverie_command("transform", str(src), "-o", str(expected_path), "--model", TINY)
    cmd += ["--strength", "0.3", "--seed", "1", "--bit-depth", "32"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got, got_rate = sf.read(out, dtype="float32", always_2d=True)
    expected, rate = sf.read(expected_path, dtype="float32", always_2d=True)
    info = sf.info(str(src))
    assert got_rate == rate == info.samplerate and got.shape == (info.frames, info.channels)
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.parametrize("rate", [44100, 48000])
def test_inpaint_keeps_every_sample_outside_the_region(server, tmp_path, rate):
    audio = signal(2.0, rate, seed=3)
    start, end = 0.5, 1.25
    out = example.roundtrip(audio, rate, server.endpoint, VST3, operation="inpaint", start=start, end=end, seed=7)
    first, last = int(np.ceil(start * rate)), int(np.ceil(end * rate))
    outside = np.r_[0:first, last : audio.shape[1]]
    assert np.array_equal(out[:, outside].view(np.uint32), audio[:, outside].view(np.uint32))
    assert np.abs(out[:, first:last] - audio[:, first:last]).max() > 0.01
    expected = cli_answer(tmp_path, "inpaint", audio, rate, "--start", "0.5", "--end", "1.25", "--seed", "7")
    assert np.abs(out - expected).max() <= 1e-4


def test_play_outside_the_capture_is_dry(server):
    rate = 48000
    audio = signal(1.0, rate)
    plugin = load(server.endpoint, strength=0.3, seed=1)
    plugin.mode = "capture"
    plugin.process(audio, rate)
    plugin.mode = "play"
    longer = np.concatenate([audio, signal(0.5, rate, seed=9)], axis=1)
    out = plugin.process(longer, rate)
    assert status(plugin).startswith("ready")
    assert np.abs(out[:, : audio.shape[1]] - audio).max() > 0.01
    assert np.array_equal(out[:, audio.shape[1] :], longer[:, audio.shape[1] :])


def test_no_server_plays_dry_and_says_why():
    rate = 44100
    audio = signal(1.0, rate)
    plugin = load("tcp://127.0.0.1:9", strength=0.3)  # nothing listens on the discard port
    plugin.mode = "capture"
    plugin.process(audio, rate)
    plugin.mode = "play"
    started = time.monotonic()
    out = plugin.process(audio, rate)
    assert time.monotonic() - started < 15
    assert np.array_equal(out, audio)
    assert status(plugin).startswith("error unreachable")
    assert "playing dry" in status(plugin)


def long_render(plugin, audio, rate):
    """Settings that keep the tiny model busy for seconds: 1000 steps from pure noise over 30 s of audio
    (6 s on 2 idle CPU cores)."""
    example.set_parameter(plugin, "strength", 1.0)
    example.set_parameter(plugin, "steps", 1000)
    plugin.mode = "capture"
    plugin.process(audio, rate)


def test_a_server_killed_mid_render_leaves_the_host_running_and_dry():
    rate = 44100
    audio = signal(30.0, rate)
    proc = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    try:
        plugin = load(proc.endpoint)
        long_render(plugin, audio, rate)
        plugin.mode = "play"
        killer = threading.Timer(1.5, proc.proc.kill)
        killer.start()
        started = time.monotonic()
        out = plugin.process(audio, rate)  # offline: waits for the take, which never comes
        took = time.monotonic() - started
        killer.join()
    finally:
        proc.kill()
    assert not any("op=transform" in line and " ok" in line for line in proc.lines), proc.log()  # mid-render
    assert 1.5 <= took < 20, took
    assert np.array_equal(out, audio)
    text = status(plugin)
    assert text.startswith("error ") and ("went away" in text or "stopped answering" in text), text
    assert np.array_equal(plugin.process(audio, rate), audio)  # and it stays dry


def test_cancel_mid_render(server):
    rate = 48000
    audio = signal(30.0, rate)
    plugin = load(server.endpoint, wait="never")
    long_render(plugin, audio, rate)
    plugin.mode = "play"
    first = plugin.process(audio[:, :4800], rate)  # real time: dry until the take is ready
    assert np.array_equal(first, audio[:, :4800])
    wait_status(plugin, "rendering")
    time.sleep(1.0)
    plugin.cancel = 1
    plugin.process(audio[:, :4800], rate)
    text = wait_status(plugin, "error", timeout=40)
    assert text.startswith("error cancelled"), text
    step, total = map(int, re.search(r"at step (\d+) of (\d+)", text).groups())
    assert 0 < step < total == 1000, text
    assert np.array_equal(plugin.process(audio, rate), audio)


def test_a_sample_rate_change_drops_the_take_and_plays_dry(server):
    audio44 = signal(1.0, 44100)
    plugin = load(server.endpoint, strength=0.3)
    plugin.mode = "capture"
    plugin.process(audio44, 44100)
    plugin.mode = "play"
    assert np.abs(plugin.process(audio44, 44100) - audio44).max() > 0.01
    audio48 = signal(1.0, 48000)
    out = plugin.process(audio48, 48000)
    assert np.array_equal(out, audio48)
    assert "sample rate changed to 48000" in status(plugin)
    # capture and render again at the new rate: a take again
    plugin.mode = "capture"
    plugin.process(audio48, 48000)
    plugin.mode = "play"
    assert np.abs(plugin.process(audio48, 48000) - audio48).max() > 0.01


def test_the_take_file_in_the_state_plays_the_same_take_without_a_server(tmp_path):
    rate = 48000
    audio = signal(1.0, rate)
    take = tmp_path / "song.reverie-take"
    proc = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    try:
        plugin = load(proc.endpoint, strength=0.3, seed=2)
        example.set_plugin_state(plugin, take=str(take))
        plugin.mode = "capture"
        plugin.process(audio, rate)
        plugin.mode = "play"
        first = plugin.process(audio, rate)
        saved = plugin.raw_state
    finally:
        proc.kill()
    assert take.is_file() and np.abs(first - audio).max() > 0.01
    reopened = pedalboard.load_plugin(str(VST3))
    reopened.raw_state = saved  # a project opened again: mode play, the take file named
    assert reopened.mode == "play"
    wait_status(reopened, "loaded the take")
    assert np.array_equal(reopened.process(audio, rate), first)


def test_removing_the_plugin_mid_render_cancels_the_job_and_returns_at_once(server):
    rate = 48000
    audio = signal(30.0, rate)
    plugin = load(server.endpoint, wait="never")
    long_render(plugin, audio, rate)
    plugin.mode = "play"
    plugin.process(audio[:, :4800], rate)
    wait_status(plugin, "rendering")
    time.sleep(1.0)

    def cancelled() -> int:
        return sum(bool(re.search(r"op=transform.*error:cancelled", line)) for line in list(server.lines))

    before = cancelled()
    started = time.monotonic()
    del plugin  # a project closed, or the plugin removed from the track
    gc.collect()
    assert time.monotonic() - started < 2.0
    deadline = time.monotonic() + 10
    while cancelled() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cancelled() == before + 1, server.log()


def test_continue_plays_on_past_the_capture(server, tmp_path):
    rate = 44100
    audio = signal(1.0, rate, seed=4)
    plugin = load(server.endpoint, operation="continue", seconds=0.5, seed=3)
    plugin.mode = "capture"
    plugin.process(audio, rate)
    plugin.mode = "play"
    longer = np.concatenate([audio, np.zeros((2, rate), np.float32)], axis=1)  # the song goes on, silent
    out = plugin.process(longer, rate)
    assert status(plugin).startswith("ready"), status(plugin)
    expected = cli_answer(tmp_path, "continue", audio, rate, "--seconds", "0.5", "--seed", "3")
    assert expected.shape[1] == rate + rate // 2
    assert np.array_equal(out[:, :rate], audio)  # continue keeps its input bit for bit
    assert np.abs(out[:, : expected.shape[1]] - expected).max() <= 1e-4
    assert np.array_equal(out[:, expected.shape[1] :], longer[:, expected.shape[1] :])  # dry after the take


def test_interpolate_blends_this_capture_with_the_one_before(server, tmp_path):
    rate = 48000
    first, second = signal(1.0, rate, seed=5), signal(1.0, rate, seed=6)[::-1].copy()  # channels swapped
    plugin = load(server.endpoint, strength=0.4, seed=2)
    for take in (first, second):
        plugin.mode = "capture"
        plugin.process(take, rate)
        plugin.mode = "play"
        plugin.operation = "interpolate"  # the first render has no earlier capture: an error, played dry
        out = plugin.process(take, rate)
    assert status(plugin).startswith("ready"), status(plugin)
    src_b = tmp_path / "b.wav"
    sf.write(src_b, first.T, rate, subtype="FLOAT")
    expected = cli_answer(
        tmp_path, "interpolate", second, rate, str(src_b), "--ratio", "0.5", "--strength", "0.4", "--seed", "2"
    )
    assert np.abs(out - expected).max() <= 1e-4


@pytest.mark.parametrize("block", [64, 1000, 4096])
def test_the_take_does_not_depend_on_the_block_size(server, block):
    rate = 48000
    audio = signal(1.0, rate)
    plugin = load(server.endpoint, strength=0.3, seed=1)
    plugin.mode = "capture"
    plugin.process(audio, rate)  # pedalboard's default: blocks of 8192
    plugin.mode = "play"
    reference = plugin.process(audio, rate)
    assert status(plugin).startswith("ready")
    assert np.array_equal(plugin.process(audio, rate, buffer_size=block), reference)
