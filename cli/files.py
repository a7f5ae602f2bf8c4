"""The files a command reads and writes: inputs, melodies, the result and the line that describes it.

Each check runs before torch is imported, so a wrong path or option answers at once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import click

from reverie.models.errors import ReverieError


def check_output(output: str) -> None:
    from reverie.models.audio import WRITABLE

    if Path(output).suffix.lower() not in WRITABLE:
        raise ReverieError(f"cannot write {output}: the output must end in {', '.join(WRITABLE)}", field="output")


def check_paths(inputs: dict[str, str], melody: MelodyFiles, output: str) -> None:
    """Nothing the user gave is overwritten: --write-midi names neither an input nor -o, and -o names no
    melody file. `inputs`: each audio input by the name --help gives it (IN, A, B). -o may be the
    operation's own audio input: inpaint edits a file in place, atomically."""
    melodies = {flag: path for flag, path in (("--midi", melody.midi), ("--hum", melody.hum)) if path}
    if melody.write_midi:
        for name, path in {**inputs, **melodies, "-o": output}.items():
            if _same_file(melody.write_midi, path):
                raise ReverieError(
                    f"--write-midi {melody.write_midi} is also {name}; give it a path of its own", field="write_midi"
                )
    for flag, path in melodies.items():
        if _same_file(output, path):
            raise ReverieError(f"-o {output} is also {flag}; write the result to a path of its own", field="output")


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (through links and relative paths), existing or not."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return pa.samefile(pb)
    return pa.resolve() == pb.resolve()


def bar_off(asked_off: bool) -> bool | None:
    """tqdm's `disable`: off when asked, and (None) off where stderr is no terminal, whose log a redrawn bar
    would fill with overwritten lines."""
    return True if asked_off else None


def source_bit_depth(path: str | None) -> str | None:
    """The --bit-depth that keeps an input file's own sample format (float in, float out), if it has one."""
    if path is None:
        return None
    import soundfile as sf

    from reverie.models.audio import SUBTYPES

    try:
        subtype = sf.info(path).subtype
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None  # read_audio names the problem
    # The formats we write keep their depth; the others get the nearest one that loses nothing.
    kept = {written: str(depth) for depth, written in SUBTYPES.items()}
    return {**kept, "PCM_S8": "16", "PCM_U8": "16", "PCM_32": "32", "DOUBLE": "32"}.get(subtype)


def read_audio(path: str, field: str):
    from reverie.models.audio import load_audio

    return load_audio(path, field=field)


def check_style(params: dict, model: str | None) -> None:
    """Reject an unknown style, or a mood the model's styles cannot make, from the model's config file,
    before the model loads."""
    style, mood = params.get("style"), params.get("mood")
    if style is None and mood is None:
        return
    from reverie.models.mood import parse_mood
    from reverie.models.pipeline import DEFAULT_MODEL_DIR

    config = Path(model or DEFAULT_MODEL_DIR) / "unet" / "config.json"
    if config.is_file():
        styles = json.loads(config.read_text()).get("styles", [])
        if style is not None and style not in styles:
            raise ReverieError(f"unknown style {style!r}; allowed: {', '.join(styles)}", field="style")
        if mood is not None:
            parse_mood(mood, tuple(styles))


@dataclass(frozen=True)
class MelodyFiles:
    """--midi/--track/--hum/--write-midi as given (--write-midi without --hum: run_here writes the composed line)."""

    midi: str | None = None
    track: int | None = None
    hum: str | None = None
    write_midi: str | None = None

    def read(self):
        """The Melody to follow, or None; checks the combination of options first."""
        if self.midi and self.hum:
            raise ReverieError("give --midi or --hum, not both", field="hum")
        if self.track is not None and not self.midi:
            raise ReverieError("--track needs --midi", field="track")
        if self.write_midi and self.midi:
            raise ReverieError(
                "--write-midi writes a hummed take's notes or the line composed for --key; --midi is MIDI already",
                field="write_midi",
            )
        if self.midi:
            from reverie.models.melody import Melody

            return Melody.from_midi(self.midi_path(), track=self.track)
        if self.hum:
            from reverie.models.melody import Melody

            melody = Melody.from_hum(read_audio(self.hum, "hum"))
            if self.write_midi:
                melody.to_midi(self.write_midi)
            return melody
        return None

    def midi_path(self) -> Path:
        path = Path(self.midi)
        if not path.is_file():
            raise ReverieError(f"MIDI file not found: {self.midi}", field="midi")
        return path


def write_output(audio, output: str, bit_depth: str, quiet: bool, note: str = "") -> None:
    """Write the file and say what was written: length, format, level, and any clipping."""
    import numpy as np

    from reverie.models.audio import save_audio

    save_audio(audio, output, int(bit_depth))
    if quiet:
        return
    samples = audio.samples.astype(np.float64)
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    rms = float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0
    click.echo(
        f"wrote {output}: {audio.seconds:.2f} s, {audio.sample_rate} Hz, {audio.channels} ch, "
        f"RMS {_dbfs(rms)}, peak {_dbfs(peak)}{note}",
        err=True,
    )
    if peak > 1.0 and bit_depth != "32" and not output.lower().endswith(".ogg"):
        over = int(np.count_nonzero(np.abs(samples) > 1.0))
        click.echo(
            f"warning: {over} samples above full scale were clipped in the {bit_depth}-bit file "
            "(--bit-depth 32 keeps them as float)",
            err=True,
        )


def _dbfs(value: float) -> str:
    return f"{20 * math.log10(value):.1f} dBFS" if value > 0 else "-inf dBFS"
