"""`reverie generate | transform | inpaint | interpolate | continue`: thin wrappers over the pipeline.

Each command checks files and options first (cheap, before torch loads), then
calls `pipe.run(op, ...)`, the same entry point the bridge and renderer use.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import click

from reverie.models.errors import ReverieError


# --- shared options ---------------------------------------------------------

def apply_options(fn, options):
    """Decorate fn with click options so `--help` lists them in the order given."""
    for option in reversed(options):
        fn = option(fn)
    return fn


def common_options(fn):
    """Options every operation takes, in the order `--help` lists them."""
    options = [
        click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
                     help="Where to write the result (.wav, .flac or .ogg)."),
        click.option("--style", help="Steer toward a style of the model (default model: sleep, calm, happy, sad, tense)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Same seed and options give the same file, bit for bit."),
        click.option("--steps", type=int, help="Denoising steps (more is slower, sometimes cleaner). Default: the model's."),
        click.option("--guidance", type=float, help="How strongly to follow style and melody (1 = no guidance). Default: the model's."),
        click.option("--scheduler", type=click.Choice(["ddim", "dpm", "ddpm"]), help="Sampler. Default: ddim."),
        click.option("--model", "model", metavar="DIR", help="A model folder from `reverie train`. Default: the embedded model."),
        click.option("--bit-depth", type=click.Choice(["16", "24", "32"]), default="24", show_default=True,
                     help="Sample format of the output (32 = float; FLAC stops at 24)."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    return apply_options(fn, options)


def melody_options(fn):
    options = [
        click.option("--midi", type=click.Path(dir_okay=False), help="Follow the melody of this MIDI file."),
        click.option("--track", type=int, help="With --midi: the track to take the melody from (default: the top voice of all tracks)."),
        click.option("--hum", type=click.Path(dir_okay=False), help="Follow a hummed, whistled or sung take (audio file)."),
        click.option("--write-midi", type=click.Path(dir_okay=False), help="With --hum: also write the transcribed melody as MIDI, to fix and reuse with --midi."),
    ]
    return apply_options(fn, options)


def reports_errors(fn):
    """One line for the user, exit status 1, never a traceback, for any input error."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ReverieError as exc:
            raise click.ClickException(exc.message) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; no output was written") from None
    return wrapper


def check_style(style: str | None, model: str | None) -> None:
    """Reject an unknown style from the model's config file, before torch is imported."""
    if style is None or model == "tiny":
        return
    from reverie.models.pipeline import DEFAULT_MODEL_DIR

    config = Path(model or DEFAULT_MODEL_DIR) / "unet" / "config.json"
    if config.is_file():
        styles = json.loads(config.read_text()).get("styles", [])
        if style not in styles:
            raise ReverieError(f"unknown style {style!r}; allowed: {', '.join(styles)}", field="style")


def read_melody(midi: str | None, track: int | None, hum: str | None, write_midi: str | None):
    if midi and hum:
        raise ReverieError("give --midi or --hum, not both", field="hum")
    if track is not None and not midi:
        raise ReverieError("--track needs --midi", field="track")
    if write_midi and not hum:
        raise ReverieError("--write-midi needs --hum", field="write_midi")
    if midi:
        from reverie.models.melody import Melody

        if not Path(midi).is_file():
            raise ReverieError(f"MIDI file not found: {midi}", field="midi")
        return Melody.from_midi(midi, track=track)
    if hum:
        from reverie.models.audio import load_audio
        from reverie.models.melody import Melody

        melody = Melody.from_hum(load_audio(hum, field="hum"))
        if write_midi:
            melody.to_midi(write_midi)
        return melody
    return None


def run_operation(op: str, output: str, model: str | None, quiet: bool, bit_depth: str, **kwargs) -> None:
    """Load the model, run the operation with a progress bar, write the file."""
    from reverie.models.pipeline import load_pipeline as load

    check_output(output)
    pipe = load(model)
    total = pipe.total_steps(op, **kwargs)
    from tqdm import tqdm

    with tqdm(total=total, desc=op, unit="step", disable=quiet or total == 0, leave=False) as bar:
        def progress(step: int, total: int) -> None:
            bar.update(step - bar.n)

        audio = pipe.run(op, callback=progress, **kwargs)
    write_output(audio, output, bit_depth, quiet)


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


def check_output(output: str) -> None:
    from reverie.models.audio import WRITABLE

    if Path(output).suffix.lower() not in WRITABLE:
        raise ReverieError(f"cannot write {output}: the output must end in {', '.join(WRITABLE)}", field="output")


def sampling_options(style, seed, steps, guidance, scheduler) -> dict:
    return dict(style=style, seed=seed, steps=steps, guidance=guidance, scheduler=scheduler)


def read_audio(path: str, field: str):
    from reverie.models.audio import load_audio

    return load_audio(path, field=field)


def strength_options(strength, timestep) -> dict:
    if strength is not None and timestep is not None:
        raise ReverieError("give --strength or --timestep, not both", field="timestep")
    return {"strength": strength, "timestep": timestep}


# --- the commands -------------------------------------------------------------

@click.command()
@common_options
@melody_options
@click.option("--seconds", type=float, help="Length of the result. Default: 10, or the MIDI file's length.")
@click.option("--sample-rate", type=int, default=44100, show_default=True, help="Sample rate of the result in Hz.")
@click.option("--channels", type=int, default=2, show_default=True, help="Channels of the result (the sound is centred).")
@reports_errors
def generate(output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet,
             midi, track, hum, write_midi, seconds, sample_rate, channels):
    """Make new audio in a style, optionally following a MIDI or hummed melody.

    \b
    Examples:
      reverie generate -o bed.wav --style sleep --seconds 120
      reverie generate -o tune.wav --style calm --midi melody.mid
      reverie generate -o hum.wav --style sad --hum take.wav --write-midi take.mid
    """
    check_style(style, model)
    check_output(output)
    melody = read_melody(midi, track, hum, write_midi)
    if seconds is None:
        seconds = melody.seconds if melody is not None and midi else 10.0
    run_operation("generate", output, model, quiet, bit_depth, seconds=seconds, sample_rate=sample_rate,
                  channels=channels, melody=melody, **sampling_options(style, seed, steps, guidance, scheduler))


@click.command()
@click.argument("input_file", metavar="IN")
@common_options
@melody_options
@click.option("--strength", type=float, help="0 keeps the input, 1 ignores it. Default 0.5.")
@click.option("--timestep", type=int, help="Noise timestep 0-999 instead of --strength.")
@click.option("--inversion", is_flag=True, help="Find the noise by DDIM inversion instead of drawing it: more faithful edits.")
@reports_errors
def transform(input_file, output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet,
              midi, track, hum, write_midi, strength, timestep, inversion):
    """Restyle an audio file: noise it to a level, then denoise toward a style (Msanii §5.2).

    \b
    Example:
      reverie transform loop.wav -o loop_calm.wav --style calm --strength 0.4
    """
    check_style(style, model)
    check_output(output)
    audio = read_audio(input_file, "input")
    melody = read_melody(midi, track, hum, write_midi)
    run_operation("transform", output, model, quiet, bit_depth, audio=audio, inversion=inversion, melody=melody,
                  **strength_options(strength, timestep), **sampling_options(style, seed, steps, guidance, scheduler))


@click.command()
@click.argument("input_file", metavar="IN")
@common_options
@click.option("--start", type=float, required=True, help="Start of the region to regenerate, in seconds.")
@click.option("--end", type=float, required=True, help="End of the region, in seconds.")
@click.option("--method", type=click.Choice(["trained", "repaint"]), default="trained", show_default=True,
              help="trained: the model hears both sides; repaint: the training-free baseline.")
@reports_errors
def inpaint(input_file, output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet, start, end, method):
    """Regenerate a region of an audio file; everything outside it stays bit-exact.

    A 50 ms fade inside each edge of the region joins the new audio to the old.

    \b
    Example:
      reverie inpaint take.wav -o fixed.wav --start 3.2 --end 4.5
    """
    check_style(style, model)
    check_output(output)
    audio = read_audio(input_file, "input")
    run_operation("inpaint", output, model, quiet, bit_depth, audio=audio, start=start, end=end, method=method,
                  **sampling_options(style, seed, steps, guidance, scheduler))


@click.command()
@click.argument("a_file", metavar="A")
@click.argument("b_file", metavar="B")
@common_options
@click.option("--ratio", type=float, default=0.5, show_default=True, help="B's share of the blend: 0 = all A, 1 = all B.")
@click.option("--strength", type=float, help="Noise level to blend at, 0-1. Default 0.5.")
@click.option("--timestep", type=int, help="Noise timestep 0-999 instead of --strength.")
@click.option("--mix", type=click.Choice(["slerp", "lerp"]), default="slerp", show_default=True,
              help="How the noised clips are blended.")
@reports_errors
def interpolate(a_file, b_file, output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet,
                ratio, strength, timestep, mix):
    """Blend two clips at a chosen noise level, then denoise (Msanii §5.3).

    The result has A's sample rate, channels and length; B is resampled, folded
    to mono and looped or trimmed to match.

    \b
    Example:
      reverie interpolate piano.wav rain.wav -o blend.wav --ratio 0.3 --strength 0.6
    """
    check_style(style, model)
    check_output(output)
    a, b = read_audio(a_file, "A"), read_audio(b_file, "B")
    run_operation("interpolate", output, model, quiet, bit_depth, a=a, b=b, ratio=ratio, mix=mix,
                  **strength_options(strength, timestep), **sampling_options(style, seed, steps, guidance, scheduler))


@click.command("continue")
@click.argument("input_file", metavar="IN")
@common_options
@melody_options
@click.option("--seconds", type=float, required=True, help="How many seconds to add after the end.")
@reports_errors
def continue_(input_file, output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet,
              midi, track, hum, write_midi, seconds):
    """Extend an audio file by N seconds; the input itself is kept bit-exact.

    \b
    Example:
      reverie continue intro.wav -o longer.wav --seconds 30 --style calm
    """
    check_style(style, model)
    check_output(output)
    audio = read_audio(input_file, "input")
    melody = read_melody(midi, track, hum, write_midi)
    run_operation("continue", output, model, quiet, bit_depth, audio=audio, seconds=seconds, melody=melody,
                  **sampling_options(style, seed, steps, guidance, scheduler))
