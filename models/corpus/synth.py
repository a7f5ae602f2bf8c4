"""Offline General MIDI rendering with tinysoundfont and the best General MIDI soundfont installed.

Soundfonts, best first (`SOUNDFONTS`): FluidR3 (Debian's `fluid-soundfont-gm`, 141 MB of multi-sampled
instruments recorded at 44.1 kHz), then the 6 MB TimGM6mb that pretty_midi ships, which is always there.

tinysoundfont's `Synth.generate(n)` returns the next n stereo frames, so a
performance is rendered by advancing from one note event to the next. A
fresh Synth per clip keeps clips independent of each other (no voices left
over), which is what makes a clip bit-identical whatever else a worker did.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import numpy as np

from ..errors import ReverieError
from .arrange import BASS, CHORDS, MELODY, Performance

# Channel volume (MIDI CC 7): the melody sits on top of the mix.
CHANNEL_VOLUME = {MELODY: 112, CHORDS: 80, BASS: 92}


def _pretty_midi_soundfont() -> str:
    spec = importlib.util.find_spec("pretty_midi")  # its folder, without the cost of importing it
    return os.path.join(os.path.dirname(spec.origin), "TimGM6mb.sf2") if spec and spec.origin else ""


# name -> (path, how to install it)
SOUNDFONTS = {
    "fluid": ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "apt-get install fluid-soundfont-gm"),
    "pretty_midi": (_pretty_midi_soundfont(), "pip install pretty_midi"),
}


def installed_soundfonts() -> dict[str, bool]:
    return {name: os.path.isfile(path) for name, (path, _) in SOUNDFONTS.items()}


def soundfont_path(choice: str = "auto") -> str:
    """The soundfont file for `choice`: a name in SOUNDFONTS, "auto" (the best installed) or a .sf2 path."""
    if choice == "auto":
        choice = next((name for name, ok in installed_soundfonts().items() if ok), "pretty_midi")
    if choice in SOUNDFONTS:
        path, install = SOUNDFONTS[choice]
        if not os.path.isfile(path):
            raise ReverieError(f"soundfont {choice!r} is not installed ({path}); {install}", field="soundfont")
        return path
    if choice.lower().endswith(".sf2") and os.path.isfile(choice):
        return choice
    raise ReverieError(
        f"soundfont must be auto, {', '.join(SOUNDFONTS)} or the path of a .sf2 file, got {choice!r}",
        field="soundfont",
    )


@lru_cache(maxsize=2)
def _soundfont_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def render(
    performance: Performance,
    seconds: float,
    sample_rate: int,
    channels: tuple[int, ...] = (MELODY, CHORDS, BASS),
    soundfont: str | None = None,
) -> np.ndarray:
    """Mono float32, exactly round(seconds * sample_rate) frames, of the notes on `channels`
    (`soundfont`: a file; default the best installed)."""
    import tinysoundfont

    frames = int(round(seconds * sample_rate))
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(_soundfont_bytes(soundfont or soundfont_path()))
    for channel, program in zip((MELODY, CHORDS, BASS), performance.programs):
        synth.program_select(channel, sfid, 0, program)
        synth.control_change(channel, 7, CHANNEL_VOLUME[channel])

    # (frame, 0 = off before 1 = on at the same frame, channel, key, velocity)
    events = []
    for n in performance.notes:
        if n.channel not in channels:
            continue
        on = int(round(n.start * sample_rate))
        off = int(round(n.end * sample_rate))
        if on < frames:
            events.append((on, 1, n.channel, n.midi, n.velocity))
            events.append((min(off, frames), 0, n.channel, n.midi, 0))
    events.sort()

    out = np.zeros((frames, 2), dtype=np.float32)
    done = 0
    for frame, is_on, channel, key, velocity in events:
        if frame > done:
            out[done:frame] = np.frombuffer(synth.generate(frame - done), dtype=np.float32).reshape(-1, 2)
            done = frame
        if is_on:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    if done < frames:
        out[done:] = np.frombuffer(synth.generate(frames - done), dtype=np.float32).reshape(-1, 2)
    return out.mean(axis=1)
