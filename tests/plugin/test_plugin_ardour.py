"""The Reverie plugin in a headless Ardour 7 (LV2 and VST3), against a real `reverie serve`
on the tests' model (tests/dummy_models.py).

ardour7-lua builds a session: one stereo track whose input is a constant (0.25 left, -0.125 right, from a
small Lua DSP, so every render feeds the same samples wherever Ardour splits its cycles), then Reverie with
strength 0.3 and seed 1. Snapshot "capture" automates `mode`: bypass, capture from 0.5 s, play from 1.5 s;
snapshot "play" holds `mode` at play. The plugin's `take` state names a file (written into Ardour's saved
plugin state). ardour7-export renders "capture" (the switch to play renders the capture on the server; an
export runs faster than real time, so play waits) and then "play", which loads the take file and must hold
the take at the transport positions it was captured at, the track's own samples elsewhere, bit for bit.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from bridge_helpers import ServeProcess, reverie_command
from dummy_models import TINY

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "plugin"
RATE = 48000
LEVELS = np.array([0.25, -0.125], np.float32)
CAPTURE_AT, PLAY_AT, END = RATE // 2, RATE * 3 // 2, RATE * 2
SUPERCLOCK = 282240000  # Ardour 7's superclock ticks per second (the session's TempoMap says so)
VST3_SCANNER = Path("/usr/lib/ardour7/ardour-vst3-scanner")

TOOLS = {"lua": shutil.which("ardour7-lua"), "export": shutil.which("ardour7-export")}
pytestmark = [
    pytest.mark.skipif(not all(TOOLS.values()), reason="needs Ardour 7 (scripts/install-daw)"),
    pytest.mark.skipif(
        not (BUILD / "Reverie.lv2").exists(), reason="the plugin is not built: run scripts/build-plugin"
    ),
]

TONE_LUA = """ardour { ["type"] = "dsp", name = "Reverie Test Level", category = "Utility", license = "MIT",
	author = "reverie tests", description = "0.25 left, -0.125 right, whatever the input" }
function dsp_ioconfig () return { { audio_in = 2, audio_out = 2 } } end
function dsp_run (ins, outs, n_samples)
	local levels = { 0.25, -0.125 }
	for c = 1, 2 do
		local a = {}
		for s = 1, n_samples do a[s] = levels[c] end
		outs[c]:set_table (a, n_samples)
	end
end
"""

SESSION_LUA = """
AudioEngine:set_backend ("None (Dummy)", "", "")
AudioEngine:set_sample_rate ({rate})
assert (AudioEngine:start (false) == 0, "engine did not start")
local s = assert (create_session ("{dir}", "s", {rate}), "create_session failed")
local t = s:new_audio_track (2, 2, nil, 1, "Take", ARDOUR.PresentationInfo.max_order,
	ARDOUR.TrackMode.Normal, true):front ()
for c = 0, 1 do
	t:output ():audio (c):disconnect_all ()
	t:output ():audio (c):connect (s:master_out ():input ():audio (c):name ())
end
local level = ARDOUR.LuaAPI.new_luaproc (s, "Reverie Test Level")
assert (not level:isnil (), "no test level processor")
t:add_processor_by_index (level, 0, nil, true)
local p = ARDOUR.LuaAPI.new_plugin (s, "{plugin_id}", ARDOUR.PluginType.{plugin_type}, "")
assert (not p:isnil (), "Ardour did not find the Reverie {plugin_type} plugin")
t:add_processor_by_index (p, 1, nil, true)
ARDOUR.LuaAPI.set_processor_param (p, 2, 0.3)  -- strength
ARDOUR.LuaAPI.set_processor_param (p, 3, 1)    -- seed
local plug = p:to_insert ():plugin (0)
local mode
for i = 0, plug:parameter_count () - 1 do
	if plug:parameter_label (i) == "mode" then mode = i end
end
local ac = p:to_insert ():to_automatable ():automation_control (
	Evoral.Parameter (ARDOUR.AutomationType.PluginAutomation, 0, mode), false)
local _, cl = ARDOUR.LuaAPI.plugin_automation (p, 0)
cl:add (Temporal.timepos_t (0), 0, false, false)
cl:add (Temporal.timepos_t ({capture_at}), 1, false, false)
cl:add (Temporal.timepos_t ({play_at}), 2, false, false)
ac:set_automation_state (ARDOUR.AutoState.Play)
s:save_state ("capture", false, false, false, false, false)
ac:set_automation_state (ARDOUR.AutoState.Off)
ARDOUR.LuaAPI.set_processor_param (p, 0, 2)  -- mode: play
s:save_state ("play", false, false, false, false, false)
close_session ()
"""


class InfraError(Exception):
    """Ardour failed; nothing was learnt about the plugin."""


def run(cmd: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{Path(cmd[0]).name} timed out after {timeout} s") from exc


def set_dpf_state(component: bytes, **values: str) -> bytes:
    """DPF's VST3 state: NUL-separated keys and values, its state keys and then its parameters' symbols."""
    words = component.split(b"\0")
    for key, value in values.items():
        i = words.index(key.encode())
        words[i + 1] = value.encode()
    return b"\0".join(words)


def set_vst3_chunk(chunk: str, **values: str) -> str:
    """Ardour keeps a VST3 plugin's state as a .vstpreset (header, the component's bytes, a chunk list)."""
    raw = base64.b64decode(chunk)
    list_at = struct.unpack("<q", raw[40:48])[0]
    assert raw[list_at : list_at + 4] == b"List" and struct.unpack("<i", raw[list_at + 4 : list_at + 8])[0] == 1
    name, offset, size = raw[list_at + 8 : list_at + 12], *struct.unpack("<qq", raw[list_at + 12 : list_at + 28])
    assert name == b"Comp"
    component = set_dpf_state(raw[offset : offset + size], **values)
    header = raw[:40] + struct.pack("<q", 48 + len(component))
    chunks = b"List" + struct.pack("<i", 1) + b"Comp" + struct.pack("<qq", 48, len(component))
    return base64.b64encode(header + component + chunks).decode()


def patch_session(session: Path, plugin_type: str, **state: str) -> None:
    """The session range (0 to 2 s), `mode` held between its automation points, the plugin's state."""
    location = (
        f'<Locations><Location id="90001" name="session" start="a0" end="a{END * SUPERCLOCK // RATE}" '
        'flags="IsSessionRange" locked="0" timestamp="0" cue="0"/></Locations>'
    )
    for snapshot in ("capture", "play"):
        path = session / f"{snapshot}.ardour"
        text = path.read_text().replace("<Locations/>", location)
        text = re.sub(
            r'(<AutomationList [^>]*)interpolation-style="Linear"([^>]*state="Play")',
            r'\1interpolation-style="Discrete"\2',
            text,
        )
        if plugin_type == "VST3":
            # ardour7-lua saved the VST3 chunk before any process cycle: it still holds the parameters'
            # defaults, and Ardour restores the chunk after the port values. Put the session's values in it.
            params = {"strength": "0.3", "seed": "1", "mode": "2" if snapshot == "play" else "0"}
            text = re.sub(
                r"<chunk>([^<]*)</chunk>",
                lambda m, p=params: f"<chunk>{set_vst3_chunk(m.group(1), **state, **p)}</chunk>",
                text,
            )
        path.write_text(text)
    if plugin_type == "LV2":
        for ttl in session.glob("plugins/*/state*/state.ttl"):
            text = ttl.read_text()
            for key, value in state.items():
                text = re.sub(rf'(<urn:reverie:plugin#{key}> )"[^"]*"', lambda m, v=value: f'{m.group(1)}"{v}"', text)
            ttl.write_text(text)


def export(session: Path, snapshot: str, out: Path, env: dict) -> tuple[np.ndarray, str]:
    done = run([TOOLS["export"], "-b", "float", "-o", str(out), str(session), snapshot], env, 90)
    log = done.stdout + done.stderr
    if not out.exists() or sf.info(out).frames != END:
        raise InfraError(f"ardour7-export {snapshot} failed ({done.returncode}): {log[-2000:]}")
    data, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == RATE
    return data.T, log


def round_trip(tmp: Path, plugin_type: str, endpoint: str) -> tuple[np.ndarray, np.ndarray, str, Path]:
    home = tmp / "home"
    (home / ".config" / "ardour7" / "scripts").mkdir(parents=True)
    (home / ".config" / "ardour7" / ".a7").touch()
    (home / ".config" / "ardour7" / "scripts" / "reverie_test_level.lua").write_text(TONE_LUA)
    env = dict(os.environ, HOME=str(home), LV2_PATH=str(BUILD))
    env.pop("REVERIE_SERVER", None)
    if plugin_type == "VST3":
        (home / ".vst3").mkdir()
        (home / ".vst3" / "Reverie.vst3").symlink_to(BUILD / "Reverie.vst3")
        scan_env = dict(env, LD_LIBRARY_PATH=str(VST3_SCANNER.parent))
        scanned = run([str(VST3_SCANNER), "-f", str(home / ".vst3" / "Reverie.vst3")], scan_env, 60)
        if "Found Plugin: Reverie" not in scanned.stdout + scanned.stderr:
            raise InfraError(f"ardour-vst3-scanner: {scanned.stdout}{scanned.stderr}")
    session = tmp / "session"
    plugin_id = "urn:reverie:plugin" if plugin_type == "LV2" else "Reverie"
    script = tmp / "session.lua"
    script.write_text(
        SESSION_LUA.replace("{rate}", str(RATE))
        .replace("{dir}", str(session))
        .replace("{plugin_id}", plugin_id)
        .replace("{plugin_type}", plugin_type)
        .replace("{capture_at}", str(CAPTURE_AT))
        .replace("{play_at}", str(PLAY_AT))
    )
    made = run([TOOLS["lua"], str(script)], env, 90)
    if not (session / "play.ardour").exists():
        raise InfraError(f"ardour7-lua made no session ({made.returncode}): {made.stdout[-2000:]}{made.stderr[-2000:]}")
    take = tmp / "take.reverie"
    patch_session(session, plugin_type, server=endpoint, take=str(take))
    captured, log = export(session, "capture", tmp / "capture.wav", env)
    played, play_log = export(session, "play", tmp / "play.wav", env)
    return captured, played, log + play_log, take


@pytest.fixture(scope="module")
def server():
    proc = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    yield proc
    proc.kill()


@pytest.mark.parametrize("plugin_type", ["LV2", "VST3"])
def test_ardour_export_captures_renders_and_plays_the_take_back(tmp_path, server, plugin_type):
    if plugin_type == "VST3" and not VST3_SCANNER.exists():
        pytest.skip("no ardour-vst3-scanner in this Ardour")
    for attempt in range(2):
        try:
            captured, played, log, take = round_trip(tmp_path / f"try{attempt}", plugin_type, server.endpoint)
            break
        except InfraError:
            if attempt == 1:
                raise
    pattern = r"ready: transform, (\d+) frames at host positions (\d+) to (\d+) \(the transport's\), seed 1,"
    ready = re.search(pattern, log)
    assert ready, log[-3000:]
    frames, first, last = map(int, ready.groups())
    # Ardour applies the automation's step in the process cycle after its point at the latest.
    assert CAPTURE_AT <= first <= CAPTURE_AT + 1024 and PLAY_AT <= last <= PLAY_AT + 1024, ready.group(0)
    assert frames == last - first and take.is_file()
    assert "loaded the take" in log
    dc = LEVELS[:, None]
    assert np.all(captured == dc)  # capture passes the track through; the take lies behind the switch
    assert np.all(played[:, :first] == dc) and np.all(played[:, last:] == dc)
    src, dst = tmp_path / "level.wav", tmp_path / "expected.wav"
    sf.write(src, np.repeat(dc, frames, axis=1).T, RATE, subtype="FLOAT")
    cmd = reverie_command("transform", str(src), "-o", str(dst), "--model", TINY, "--strength", "0.3", "--seed", "1")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected, _ = sf.read(dst, dtype="float32", always_2d=True)
    assert np.abs(played[:, first:last] - expected.T).max() <= 1e-4
