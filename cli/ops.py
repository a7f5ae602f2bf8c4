"""`reverie OP` and `reverie send OP`: each operation's command declared once, run here or on a bridge server.

An operation's options are its parameters in reverie.models.operations (name,
type, choices, default, help), so the CLI, the bridge and the pipeline cannot
drift apart. What the spec does not hold is declared here, once per operation:
the words of `--help` (USAGE). A Runner adds what only its face needs and does
the work: RUN_HERE loads the model in this process (`--model`); cli/send.py's
runner sends the job to a bridge server (`--server` and friends). Both check
files and options first, before torch loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import click

from reverie.models.errors import ReverieError
from reverie.models.operations import (
    ASKED,
    BOOLEAN,
    INPAINT_SEAM_SECONDS,
    INTEGER,
    NUMBER,
    TRACK,
    Operation,
    Param,
    generate_seconds,
    operation,
)

from .errors import reports_errors
from .files import (
    MelodyFiles,
    bar_off,
    check_output,
    check_paths,
    check_style,
    read_audio,
    source_bit_depth,
    write_output,
)


@dataclass(frozen=True)
class Usage:
    """What `--help` says about an operation besides its options."""

    description: str
    examples: tuple[str, ...]  # each: the words after `reverie OP` (or `reverie send OP`)


USAGE: dict[str, Usage] = {
    "generate": Usage(
        "Make new audio in a style, optionally following a MIDI or hummed melody.",
        (
            "-o bed.wav --style sleep --seconds 120",
            "-o tune.wav --style calm --midi melody.mid",
            "-o hum.wav --style sad --hum take.wav --write-midi take.mid",
            "-o loop.wav --style happy --bpm 96 --bars 8",
        ),
    ),
    "transform": Usage(
        "Restyle an audio file: noise it to a level, then denoise toward a style (Msanii §5.2).",
        ("loop.wav -o loop_calm.wav --style calm --strength 0.4",),
    ),
    "inpaint": Usage(
        "Regenerate a region of an audio file; everything outside it stays bit-exact.\n\n"
        f"A {INPAINT_SEAM_SECONDS * 1000:g} ms fade inside each edge of the region joins the new audio to the old. "
        "The result is written atomically, so -o may be IN itself: as a DAW's external-editor command it edits "
        "the file in place.",
        ("take.wav -o fixed.wav --start 3.2 --end 4.5",),
    ),
    "interpolate": Usage(
        "Blend two clips at a chosen noise level, then denoise (Msanii §5.3).\n\n"
        "The result has A's sample rate, channels and length; B is resampled, folded to mono and looped or "
        "trimmed to match. Its level and tonal balance sit between A's and B's, weighted by --ratio.",
        ("piano.wav rain.wav -o blend.wav --ratio 0.3 --strength 0.6",),
    ),
    "continue": Usage(
        "Extend an audio file by N seconds; the input itself is kept bit-exact.",
        (
            "intro.wav -o longer.wav --seconds 30 --style calm",
            "intro.wav -o longer.wav --seconds 30 --bpm 96",
        ),
    ),
}

# An operation's audio inputs as the command line names them: (argument metavar, field in error messages).
INPUTS = {"audio": ("IN", "input"), "a": ("A", "A"), "b": ("B", "B")}


def input_field(name: str) -> str:
    return INPUTS[name][1]


@dataclass(frozen=True)
class Job:
    """One operation as the command line asked for it; no file is read yet."""

    op: Operation
    inputs: dict[str, str]  # the op's inputs (audio; or a and b) -> file paths
    params: dict[str, Any]  # every parameter of the op; None where not given
    melody: MelodyFiles
    output: str
    bit_depth: str
    quiet: bool


@dataclass(frozen=True)
class Runner:
    """Where an operation runs, and the options only that place needs."""

    run: Callable[..., None]  # run(job, **values of the face's options)
    options: Callable[[], list[click.Parameter]]  # a fresh list per command: a click option belongs to one
    prog: str  # how the examples start: "reverie" or "reverie send"
    note: str = ""  # a paragraph of `--help` after the description
    writes_midi: bool = True  # whether --write-midi is offered (the server transcribes a hum itself)


# --- the options ---------------------------------------------------------------

_CLICK_TYPES = {NUMBER: float, INTEGER: int}


def option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def param_option(p: Param) -> click.Option:
    """A spec parameter as a click option. Ranges stay the pipeline's to check, so a bad value gets the
    same one-line message (and, through send, the same error code) from every face."""
    if p.type == BOOLEAN:
        return click.Option([option_flag(p.name)], is_flag=True, default=bool(p.default), help=p.help)
    kind = click.Choice(p.choices) if p.choices else _CLICK_TYPES.get(p.type, str)
    # A default that another option sets aside (strength's, by --timestep) is the pipeline's to fill in.
    default = None if p.replaced_by else p.default
    return click.Option(
        [option_flag(p.name)],
        type=kind,
        default=default,
        required=p.required,
        show_default=default is not None,
        help=option_help(p, shows_default=default is not None),
    )


def option_help(p: Param, shows_default: bool) -> str:
    """The declared help, then what is allowed and what leaving it out means, where the help does not say."""
    words = [p.help]
    if p.low is not None and p.high is not None and not p.choices:
        words.append(f"Allowed: {p.allowed}.")
    if not shows_default and p.default_text and "Default" not in p.help:
        words.append(f"Default: {p.default_text.replace('`', '')}.")
    return " ".join(words)


def output_option() -> click.Option:
    return click.Option(
        ["-o", "--output"],
        required=True,
        type=click.Path(dir_okay=False),
        help="Where to write the result (.wav, .flac or .ogg).",
    )


def melody_options(writes_midi: bool) -> list[click.Option]:
    options = [
        click.Option(["--midi"], type=click.Path(dir_okay=False), help="Follow the melody of this MIDI file."),
        click.Option(
            ["--track"],
            type=_CLICK_TYPES[TRACK.type],
            help="With --midi: the track to take the melody from, from 0 (default: the top voice of all tracks).",
        ),
        click.Option(
            ["--hum"], type=click.Path(dir_okay=False), help="Follow a hummed, whistled or sung take (audio file)."
        ),
        click.Option(
            ["--write-midi"],
            type=click.Path(dir_okay=False),
            help="With --hum: also write the transcribed melody as MIDI, to fix and reuse with --midi; with "
            "--key and no melody: the line composed in that key, to double or rework. Never one of the "
            "inputs or -o.",
        ),
    ]
    return options if writes_midi else options[:-1]


def format_options(has_input: bool) -> list[click.Option]:
    default = (
        "the input file's own format (float in, float out: untouched samples stay bit-exact), else 24"
        if has_input
        else "24"
    )
    return [
        click.Option(
            ["--bit-depth"],
            type=click.Choice(["16", "24", "32"]),
            help="Sample format of the output: 16 or 24-bit PCM, or 32 = float (FLAC stops at 24). "
            f"Default: {default}.",
        ),
        click.Option(["-q", "--quiet"], is_flag=True, help="No progress bar."),
    ]


# --- the one declaration -------------------------------------------------------


def operation_command(name: str, runner: Runner) -> click.Command:
    """The click command for operation `name`, run by `runner`."""
    op = operation(name)
    usage = USAGE[name]

    def callback(output, midi, track, hum, bit_depth, quiet, write_midi=None, **values):
        inputs = {key: values.pop(key) for key in op.inputs}
        params = {p.name: values.pop(p.name) for p in op.params}
        op.check_alternatives(params, spell=option_flag)
        melody = MelodyFiles(midi, track, hum, write_midi)
        check_paths({INPUTS[key][0]: path for key, path in inputs.items()}, melody, output)
        first = next(iter(inputs.values()), None)
        bit_depth = bit_depth or source_bit_depth(first) or "24"
        job = Job(op, inputs, params, melody, output, bit_depth, quiet)
        runner.run(job, **values)  # what is left: the runner's own options

    arguments = [click.Argument([key], metavar=INPUTS[key][0]) for key in op.inputs]
    return click.Command(
        name,
        callback=reports_errors(callback),
        params=[
            *arguments,
            output_option(),
            *map(param_option, op.params),
            *melody_options(runner.writes_midi),
            *runner.options(),
            *format_options(bool(op.inputs)),
        ],
        help=_help(op, usage, runner),
        short_help=op.help,
    )


# Checked where only the model or the clip knows the limits: its styles and timesteps, the clip's length.
_CHECKED_LATER = ("style", "timestep", "start", "end")


def check_early(op: Operation, params: dict[str, Any]) -> None:
    """Every value given against its declaration, and generate's length against the one limit, before a
    file is read or the model loads (seconds of waiting, on a laptop). `send` leaves them to the server,
    which answers at once, with the error's code."""
    for p in op.params:
        if params[p.name] is not None and p.name not in _CHECKED_LATER:
            p.check(params[p.name])
    if params.get("key") is not None:
        from reverie.models.melody.key import parse_key

        parse_key(params["key"])
    if op.length == ASKED:
        bars, bpm, beats = params["bars"], params["bpm"], params["beats_per_bar"]
        generate_seconds(params["seconds"], bars=bars, bpm=bpm, beats_per_bar=beats)


def _help(op: Operation, usage: Usage, runner: Runner) -> str:
    examples = "\n".join(f"  {runner.prog} {op.name} {example}" for example in usage.examples)
    note = f"\n\n{runner.note}" if runner.note else ""
    return f"{usage.description}{note}\n\n\b\nExample{'s' if len(usage.examples) > 1 else ''}:\n{examples}"


# --- running here --------------------------------------------------------------


def run_here(job: Job, model: str | None) -> None:
    """Load the model, run the operation with a progress bar, write the file."""
    check_early(job.op, job.params)
    check_style(job.params, model)
    check_output(job.output)
    audio = {name: read_audio(path, input_field(name)) for name, path in job.inputs.items()}
    melody = job.melody.read()
    params = dict(job.params)
    if job.op.length == ASKED and params.get("bars") is None:  # bars: the pipeline counts them out
        params["seconds"] = generate_seconds(params["seconds"], melody)
    kwargs = {**audio, **params, "melody": melody}

    from reverie.models.pipeline import load_pipeline

    pipe = load_pipeline(model)
    call = pipe.prepare(job.op.name, **kwargs)
    if job.melody.write_midi and not job.melody.hum:
        if melody is not None or call.sampling.melody is None:
            raise ReverieError(
                "--write-midi needs --hum (the take's notes) or, for generate, --key (the line composed in it)",
                field="write_midi",
            )
        call.sampling.melody.to_midi(job.melody.write_midi, call.sampling.grid)  # on the DAW's bars
    from tqdm import tqdm

    total = call.total_steps
    with tqdm(total=total, desc=job.op.name, unit="step", disable=bar_off(job.quiet or total == 0), leave=False) as bar:

        def progress(step: int, total: int) -> None:
            bar.update(step - bar.n)

        result = call.run(callback=progress)
    write_output(result, job.output, job.bit_depth, job.quiet)


def _model_option() -> list[click.Option]:
    return [
        click.Option(
            ["--model"], metavar="DIR", help="A model folder from `reverie train`. Default: the embedded model."
        )
    ]


RUN_HERE = Runner(run_here, _model_option, prog="reverie")

generate = operation_command("generate", RUN_HERE)
transform = operation_command("transform", RUN_HERE)
inpaint = operation_command("inpaint", RUN_HERE)
interpolate = operation_command("interpolate", RUN_HERE)
continue_ = operation_command("continue", RUN_HERE)
