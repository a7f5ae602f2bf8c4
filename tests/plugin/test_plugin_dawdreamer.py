"""The Reverie VST3 in DawDreamer, a host with a transport, against a real `reverie serve`
on the tests' model (tests/dummy_models.py).

The plugin's `mode` is automated: bypass for 0.5 s, capture for 1 s, then play. The capture lands at
the transport's positions 0.5 s to 1.5 s; the switch to play renders it (DawDreamer runs offline, so
play waits); a second pass in play puts the take at exactly those positions, dry audio elsewhere.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from bridge_helpers import ServeProcess, cli_answer
from dummy_models import TINY

ROOT = Path(__file__).resolve().parents[2]
VST3 = ROOT / "build" / "plugin" / "Reverie.vst3"
EXAMPLE = ROOT / "examples" / "plugin_roundtrip.py"

daw = pytest.importorskip("dawdreamer")
pytestmark = pytest.mark.skipif(
    not VST3.exists(), reason="build/plugin/Reverie.vst3 is not built: run scripts/build-plugin"
)

_spec = importlib.util.spec_from_file_location("plugin_roundtrip", EXAMPLE)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

MODE, STRENGTH, SEED = 0, 2, 3  # parameter indices (their names are checked below)
SEED_MAX = 16777215


def signal(seconds: float, rate: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    t = np.arange(round(seconds * rate)) / rate
    tones = [0.3 * np.sin(2 * np.pi * f * t) for f in (220.0, 331.0)]
    return (np.stack(tones) + 0.01 * rng.standard_normal((2, len(t)))).astype(np.float32)


@pytest.mark.parametrize("rate,block", [(44100, 441), (48000, 480), (96000, 960)])
def test_the_take_plays_at_the_transport_positions_it_was_captured_at(tmp_path, monkeypatch, rate, block):
    server = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    try:
        monkeypatch.setenv("REVERIE_SERVER", server.endpoint)  # the plugin's default server
        audio = signal(2.0, rate)
        first, last = rate // 2, rate * 3 // 2  # 0.5 s and 1.5 s: whole blocks
        engine = daw.RenderEngine(rate, block)
        plugin = engine.make_plugin_processor("reverie", str(VST3))
        names = [plugin.get_parameter_name(i) for i in (MODE, STRENGTH, SEED)]
        assert names == ["mode", "strength", "seed"]
        playback = engine.make_playback_processor("input", audio)
        engine.load_graph([(playback, []), (plugin, ["input"])])
        plugin.set_parameter(STRENGTH, 0.3)
        plugin.set_parameter(SEED, 1 / SEED_MAX)
        mode = np.zeros(audio.shape[1], np.float32)  # normalised: bypass 0, capture 0.5, play 1
        mode[first:last] = 0.5
        mode[last:] = 1.0
        plugin.set_automation(MODE, mode)
        engine.render(2.0)
        capture_pass = engine.get_audio()
        plugin.set_automation(MODE, np.ones(audio.shape[1], np.float32))
        engine.render(2.0)
        play_pass = engine.get_audio()
        state = tmp_path / "state.bin"
        plugin.save_state(str(state))
    finally:
        server.kill()
    status = example.state_keys(state.read_bytes())["status"]
    assert status.startswith("ready") and f"host positions {first} to {last} (the transport's)" in status, status
    assert np.array_equal(capture_pass, audio)  # capture passes the input; the take lies behind the switch
    assert np.array_equal(play_pass[:, :first], audio[:, :first])
    assert np.array_equal(play_pass[:, last:], audio[:, last:])
    expected = cli_answer(tmp_path, "transform", audio[:, first:last], rate, "--strength", "0.3", "--seed", "1")
    assert np.abs(play_pass[:, first:last] - expected).max() <= 1e-4
