"""Offline General MIDI rendering with tinysoundfont and the soundfont pretty_midi ships.

tinysoundfont's `Synth.generate(n)` returns the next n stereo frames, so a
performance is rendered by advancing from one note event to the next. A
fresh Synth per clip keeps clips independent of each other (no voices left
over), which is what makes a clip bit-identical whatever else a worker did.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from ..errors import ReverieError
from .arrange import BASS, CHORDS, MELODY, Performance

# Channel volume (MIDI CC 7): the melody sits on top of the mix.
CHANNEL_VOLUME = {MELODY: 112, CHORDS: 80, BASS: 92}


def soundfont_path() -> str:
    import pretty_midi

    path = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
    if not os.path.isfile(path):
        raise ReverieError(f"the General MIDI soundfont is missing: {path} (reinstall pretty_midi)")
    return path


@lru_cache(maxsize=1)
def _soundfont_bytes() -> bytes:
    with open(soundfont_path(), "rb") as f:
        return f.read()


def render(
    performance: Performance, seconds: float, sample_rate: int, channels: tuple[int, ...] = (MELODY, CHORDS, BASS)
) -> np.ndarray:
    """Mono float32, exactly round(seconds * sample_rate) frames, of the notes on `channels`."""
    import tinysoundfont

    frames = int(round(seconds * sample_rate))
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(_soundfont_bytes())
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
