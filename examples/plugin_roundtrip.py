"""The Reverie plugin (VST3) in pedalboard: capture a file, render it on the bridge, play the take back.

Build the plugin first (`./scripts/build-plugin`), then, from the repository's root:

    .venv/bin/python examples/plugin_roundtrip.py presets/assets/music_box.ogg plugin_out.wav

It starts a `reverie serve` on a free loopback port (or uses the server in REVERIE_SERVER or
--server), loads build/plugin/Reverie.vst3, sets operation transform, strength 0.3 and seed 1
(every other parameter at its default), plays INPUT through the plugin in capture mode, switches
to play (which renders the capture on the server and, pedalboard rendering offline, waits for the
take) and plays INPUT through it again. OUTPUT has INPUT's rate, channels and length, and equals

    .venv/bin/reverie transform INPUT -o OUTPUT --strength 0.3 --seed 1

within 1e-4 (the same model on both sides: --model for the server this script starts).
The plugin is stereo: a mono INPUT goes in on both channels, which the plugin sends as one.
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "build" / "plugin" / "Reverie.vst3"

# pedalboard (JUCE) wraps a VST3 plugin's state as "VC2!", a length and an XML text whose
# <IComponent> is the plugin's own bytes in JUCE's base64 (this alphabet, bits least significant
# first, after "SIZE."). DPF's bytes are NUL-separated key/value pairs: the plugin's state keys
# (server, status, take) and then its parameters.
_JUCE64 = ".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"


def _juce_decode(text: str) -> bytes:
    size, _, data = text.partition(".")
    bits = 0
    for i, ch in enumerate(data):
        bits |= _JUCE64.index(ch) << (6 * i)
    return bits.to_bytes((6 * len(data) + 7) // 8, "little")[: int(size)]


def _juce_encode(data: bytes) -> str:
    bits = int.from_bytes(data, "little")
    chars = (8 * len(data) + 5) // 6
    return f"{len(data)}." + "".join(_JUCE64[(bits >> (6 * i)) & 63] for i in range(chars))


def _split(raw: bytes) -> tuple[str, str, bytes]:
    if raw[:4] != b"VC2!":
        raise ValueError("not a JUCE VST3 state")
    size = struct.unpack("<I", raw[4:8])[0]
    xml = raw[8 : 8 + size].decode()
    found = re.search(r"<IComponent>([^<]*)</IComponent>", xml)
    if not found:
        raise ValueError("no IComponent in the VST3 state")
    return xml, found.group(1), _juce_decode(found.group(1))


def plugin_state(plugin) -> dict[str, str]:
    """The plugin's state keys (server, status, take) as pedalboard's raw_state holds them."""
    return state_keys(plugin.raw_state)


def state_keys(raw: bytes) -> dict[str, str]:
    """The plugin's state keys in a JUCE host's VST3 state (pedalboard's raw_state, DawDreamer's save_state)."""
    _, _, component = _split(raw)
    words = component.split(b"\0")
    start, end = words.index(b"__dpf_state_begin__"), words.index(b"__dpf_state_end__")
    pairs = words[start + 1 : end]
    return {pairs[i].decode(): pairs[i + 1].decode() for i in range(0, len(pairs) - 1, 2)}


def set_plugin_state(plugin, **values: str) -> None:
    """Set state keys (server=..., take=...) through pedalboard's raw_state, as a host restores a project."""
    xml, encoded, component = _split(plugin.raw_state)
    words = component.split(b"\0")
    start, end = words.index(b"__dpf_state_begin__"), words.index(b"__dpf_state_end__")
    for key, value in values.items():
        for i in range(start + 1, end, 2):
            if words[i] == key.encode():
                words[i + 1] = value.encode()
                break
        else:
            raise KeyError(key)
    xml = xml.replace(encoded, _juce_encode(b"\0".join(words)))
    body = xml.encode()
    plugin.raw_state = b"VC2!" + struct.pack("<I", len(body)) + body + b"\0"


class Server:
    """`reverie serve` on a free loopback port, stopped on exit."""

    def __init__(self, model: str | None = None, timeout: float = 180.0):
        command = [sys.executable, "-c", "import sys; from reverie.cli.main import cli; sys.exit(cli())", "serve"]
        command += ["--bind", "tcp://127.0.0.1:*"] + (["--model", model] if model else [])
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        self.endpoint = None
        while self.endpoint is None:
            for line in list(self.lines):
                if found := re.search(r"listening on (\S+)", line):
                    self.endpoint = found.group(1)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("reverie serve did not start:\n" + "\n".join(self.lines))
            time.sleep(0.05)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def set_parameter(plugin, name: str, value) -> None:
    """Set a plugin parameter exactly. pedalboard snaps a number to the nearest of about 1000 values it
    sampled over the range (seed 12345 becomes 16777, seconds 0.5 becomes 0.6999), so numbers go in as
    the normalised value; names (mode="play") as they are."""
    parameter = plugin.parameters[name]
    if isinstance(value, str) or parameter.type is not float:
        setattr(plugin, name, value)
        return
    low, high = parameter.min_value, parameter.max_value
    if not low <= value <= high:
        raise ValueError(f"{name} = {value} is outside [{low}, {high}]")
    parameter.raw_value = (value - low) / (high - low)


def roundtrip(audio: np.ndarray, rate: int, endpoint: str, plugin_path: Path = PLUGIN, **params) -> np.ndarray:
    """Capture `audio` (channels, frames) in the plugin, render, play it back; the plugin's output.
    `params` are plugin parameters (operation="transform", strength=0.3, ...)."""
    from pedalboard import load_plugin

    plugin = load_plugin(str(plugin_path))
    set_plugin_state(plugin, server=endpoint)
    for name, value in params.items():
        set_parameter(plugin, name, value)
    stereo = np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio
    plugin.mode = "capture"
    plugin.process(stereo, rate)
    plugin.mode = "play"  # renders the capture; pedalboard runs offline, so play waits for the take
    out = plugin.process(stereo, rate)
    status = plugin_state(plugin)["status"]
    if not status.startswith("ready"):
        raise RuntimeError(f"the plugin played dry: {status}")
    return out[:1] if audio.shape[0] == 1 else out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="audio file (wav, flac, ogg): mono or stereo, at most 120 s")
    parser.add_argument("output", help="where to write the take (float WAV, or as the extension says)")
    parser.add_argument("--server", default=os.environ.get("REVERIE_SERVER"), help="use this server")
    parser.add_argument("--model", default=None, help="the model of the server this script starts")
    parser.add_argument("--plugin", default=str(PLUGIN))
    args = parser.parse_args()

    if not Path(args.plugin).exists():
        raise SystemExit(f"{args.plugin} is not built: run ./scripts/build-plugin")
    samples, rate = sf.read(args.input, dtype="float32", always_2d=True)
    audio = np.ascontiguousarray(samples.T)
    if audio.shape[0] > 2:
        raise SystemExit(f"{args.input} has {audio.shape[0]} channels; the plugin takes mono or stereo")
    try:
        if args.server:
            out = roundtrip(audio, rate, args.server, Path(args.plugin), operation="transform", strength=0.3, seed=1)
        else:
            with Server(args.model) as server:
                out = roundtrip(
                    audio, rate, server.endpoint, Path(args.plugin), operation="transform", strength=0.3, seed=1
                )
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    subtype = "FLOAT" if Path(args.output).suffix.lower() == ".wav" else None
    sf.write(args.output, out.T, rate, subtype=subtype)
    print(f"wrote {args.output}: {out.shape[1]} frames, {out.shape[0]} ch, {rate} Hz", file=sys.stderr)


if __name__ == "__main__":
    main()
