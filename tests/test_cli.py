"""The `reverie` command line: real processes, real files, one-line errors."""

import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import tone
from dummy_models import TINY

from reverie.models.audio import load_audio, save_audio
from reverie.models.operations import NAMES, OPERATIONS

REVERIE = [sys.executable, "-c", "from reverie.cli.main import cli; cli()"]


def reverie(*args, cwd=None):
    return subprocess.run([*REVERIE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_every_command_without_importing_torch():
    code = (
        "import sys; from click.testing import CliRunner; from reverie.cli.main import cli; "
        "r = CliRunner().invoke(cli, ['--help']); print(r.output); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    for name in (
        "generate",
        "transform",
        "inpaint",
        "interpolate",
        "continue",
        "serve",
        "send",
        "keys",
        "train",
        "corpus",
    ):
        assert name in out
    assert out.strip().endswith("False")


def every_subcommand() -> list[list[str]]:
    from reverie.cli.main import COMMANDS
    from reverie.cli.send import send

    return [[name] for name in COMMANDS] + [["send", name] for name in send.commands]


@pytest.mark.parametrize("path", every_subcommand(), ids=" ".join)
def test_every_subcommand_help_shows_its_description_and_options(path):
    from reverie.cli.main import cli

    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="reverie")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: reverie {' '.join(path)} "), result.output
    with click.Context(cli) as ctx:
        command = cli.get_command(ctx, path[0])
        if len(path) > 1:
            command = command.get_command(ctx, path[1])
    shown = " ".join(result.output.split())  # as wrapped to the terminal's width
    description = " ".join((command.help or "").strip().splitlines()[0].split())
    assert description and description in shown
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert max(param.opts, key=len) in result.output, (param.name, result.output)
            if param.help:
                assert " ".join(param.help.split()[:3]) in shown, param.name


@pytest.mark.parametrize("name", NAMES)
def test_both_faces_take_every_parameter_of_the_spec_and_their_own_options(name):
    from reverie.cli.main import cli

    def options(*path):
        with click.Context(cli) as ctx:
            command = cli.get_command(ctx, path[0])
            command = command.get_command(ctx, path[1]) if len(path) > 1 else command
        return {p.name: p for p in command.params if isinstance(p, click.Option)}

    here, there = options(name), options("send", name)
    for param in OPERATIONS[name].params:
        for face in (here, there):
            option = face[param.name]
            assert option.help.startswith(param.help) and option.required == param.required
            if param.low is not None and param.high is not None and not param.choices:  # the range, before loading
                assert f"Allowed: {param.allowed}." in option.help, option.help
            if param.default is None and param.default_text:
                assert "Default" in option.help, option.help
            declared = param.default or False if param.type == "boolean" else param.default
            # A default another option sets aside (strength's, by --timestep) is left to the pipeline.
            assert option.default == (None if param.replaced_by else declared)
    shared = {"output", "midi", "track", "hum", "bit_depth", "quiet"}
    assert shared <= set(here) and shared <= set(there)
    # The server transcribes a hum itself, so send offers no --write-midi to refuse.
    assert "write_midi" in here and "write_midi" not in there
    assert not here["model"].hidden and there["model"].hidden  # send only explains that the server's model runs
    assert {"server", "server_key", "client_key", "timeout"} <= set(there) - set(here)


def test_errors_and_ctrl_c_end_every_command_the_same_way():
    from reverie.cli.errors import EXIT_INTERRUPTED, reports_errors
    from reverie.models.errors import ReverieError

    class Interrupted(KeyboardInterrupt):  # as reverie.bridge.client.Interrupted
        outcome, detail = "cancelled", "cancelled by the client at step 2 of 9"

    def command(exc):
        @click.command()
        @reports_errors
        def fails():
            raise exc

        return CliRunner().invoke(fails, [])

    bad = command(ReverieError("strength must be between 0 and 1, got 2", field="strength"))
    assert bad.exit_code == 1 and bad.output.strip() == "Error: strength must be between 0 and 1, got 2"
    here = command(KeyboardInterrupt())
    assert here.exit_code == EXIT_INTERRUPTED == 130
    assert here.output.strip() == "interrupted; no output was written"
    there = command(Interrupted())
    assert there.exit_code == 130
    assert "the job was cancelled on the server (cancelled by the client at step 2 of 9)" in there.output


def test_generate_writes_the_requested_file(tmp_path):
    result = reverie(
        "generate",
        "-o",
        tmp_path / "g.flac",
        "--model",
        TINY,
        "--seconds",
        "1.5",
        "--sample-rate",
        "48000",
        "--channels",
        "1",
        "--style",
        "calm",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    info = sf.info(tmp_path / "g.flac")
    assert (info.samplerate, info.channels, info.frames) == (48000, 1, 72000)


def test_a_hummed_take_sets_the_length_unless_seconds_are_given(tmp_path):
    take = Path(__file__).resolve().parents[1] / "presets" / "assets" / "hum_lullaby.ogg"
    own = sf.info(take).duration
    common = ("-o", tmp_path / "h.wav", "--model", TINY, "--hum", take, "--sample-rate", "22050", "-q")
    result = reverie("generate", *common)
    assert result.returncode == 0, result.stderr
    assert sf.info(tmp_path / "h.wav").frames == round(own * 22050) != round(10 * 22050)
    result = reverie("generate", *common, "--seconds", "1.5")
    assert result.returncode == 0, result.stderr
    assert sf.info(tmp_path / "h.wav").frames == round(1.5 * 22050)
    help_text = reverie("generate", "--help").stdout
    assert "the hummed take's" in help_text and "input file's own format" not in help_text


def test_the_wrote_line_gives_the_level_and_warns_of_clipping(tmp_path):
    hot = tone(1.0, 44100)
    hot = type(hot)(hot.samples / np.abs(hot.samples).max() * 1.5, 44100)  # peak +3.5 dBFS, a float file
    save_audio(hot, tmp_path / "hot.wav", 32)
    for depth, clipped in (("16", True), ("32", False)):
        result = reverie(
            "transform",
            tmp_path / "hot.wav",
            "-o",
            tmp_path / f"out{depth}.wav",
            "--strength",
            "0",
            "--model",
            TINY,
            "--bit-depth",
            depth,
        )
        assert result.returncode == 0, result.stderr
        assert "peak 3.5 dBFS" in result.stderr, result.stderr
        assert ("samples above full scale were clipped in the 16-bit file" in result.stderr) == clipped


def test_inpaint_cli_keeps_outside_samples(tmp_path):
    clip = tone(3.0, 44100)
    save_audio(clip, tmp_path / "in.wav", 32)
    result = reverie(
        "inpaint",
        tmp_path / "in.wav",
        "-o",
        tmp_path / "out.wav",
        "--start",
        "1",
        "--end",
        "2",
        "--model",
        TINY,
        "--bit-depth",
        "32",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    out = load_audio(tmp_path / "out.wav")
    assert np.array_equal(out.samples[:, :44100], clip.samples[:, :44100])
    assert np.array_equal(out.samples[:, 88200:], clip.samples[:, 88200:])


@pytest.mark.parametrize(
    "args,message",
    [
        (["transform", "{missing}", "-o", "{out}"], "input file not found"),
        (["transform", "{text}", "-o", "{out}"], "is not readable audio"),
        (["transform", "{nan}", "-o", "{out}"], "NaN or infinite samples"),
        (
            ["inpaint", "{wav}", "-o", "{out}", "--start", "1", "--end", "9"],
            "end must be after start (1 s) and at most 2.000 s",
        ),
        (["transform", "{wav}", "-o", "{out}", "--strength", "1.5"], "strength must be between 0 and 1, got 1.5"),
        (
            ["generate", "-o", "{out}", "--style", "jazz"],
            "unknown style 'jazz'; allowed: sleep, calm, happy, sad, tense",
        ),
        (["generate", "-o", "{tmp}/x.mp3"], "must end in .wav, .flac, .ogg"),
        (["generate", "-o", "{out}", "--seconds", "-2"], "seconds must be above 0"),
    ],
)
def test_bad_input_is_one_line_and_no_traceback(tmp_path, args, message):
    save_audio(tone(2.0, 22050), tmp_path / "in.wav")
    (tmp_path / "notes.txt").write_text("hello")
    nan = np.zeros((100, 1), np.float32)
    nan[5] = np.inf
    sf.write(tmp_path / "nan.wav", nan, 22050, subtype="FLOAT")
    paths = dict(
        missing=tmp_path / "nope.wav",
        out=tmp_path / "o.wav",
        text=tmp_path / "notes.txt",
        nan=tmp_path / "nan.wav",
        wav=tmp_path / "in.wav",
        tmp=tmp_path,
    )
    model = [] if "style" in args else ["--model", TINY]
    result = reverie(*[a.format(**paths) for a in args], *model)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not Path(paths["out"]).exists()


HUM = Path(__file__).resolve().parents[1] / "presets" / "assets" / "hum_lullaby.ogg"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--bpm", "96", "--bars", "10000"], "10000 bars at bpm 96 last 25000 s; a result lasts at most 14400 s"),
        (["--bpm", "30", "--bars", "10000", "--beats-per-bar", "16"], "10000 bars at bpm 30 last 320000 s"),
        (["--hum", "{hum}", "--write-midi", "{hum}"], "--write-midi {hum} is also --hum; give it a path of its own"),
        (["--hum", "{hum}", "--write-midi", "{out}"], "--write-midi {out} is also -o; give it a path of its own"),
        (["--hum", "{hum}", "-o", "{hum}"], "-o {hum} is also --hum; write the result to a path of its own"),
        (["--bpm", "0"], "bpm '0' is outside 30-300; a tempo is"),
        (["--bpm", "96", "--beats-per-bar", "0"], "beats_per_bar must be between 1 and 16, got 0"),
        (["--bpm", "-5:84; 10:60"], "entry '-5:84' is at -5 s; times are seconds from 0"),
        (["--key", "H minor"], "key 'H minor' is not a key name"),
        (["--steps", "0"], "steps must be between 1 and 1000, got 0"),
    ],
)
def test_what_the_user_gave_is_checked_before_the_model_loads_and_never_overwritten(tmp_path, args, message):
    # A model folder that does not exist: any check made after loading would report that folder instead.
    copy = tmp_path / "take.ogg"
    copy.write_bytes(HUM.read_bytes())
    paths = dict(hum=copy, out=tmp_path / "o.wav")
    args = [a.format(**paths) for a in args]
    out = [] if "-o" in args else ["-o", paths["out"]]
    result = reverie("generate", *out, *args, "--model", tmp_path / "no_model", "-q")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message.format(**paths) in lines[0], result.stderr
    assert copy.read_bytes() == HUM.read_bytes()
    assert not paths["out"].exists()


@pytest.mark.parametrize(
    "mood,message",
    [
        ("nan,0", "point 'nan,0' is not two numbers valence,arousal"),
        ("0.1,0.2,0.3", "point '0.1,0.2,0.3' is not two numbers valence,arousal"),
        ("-5:tense; 10:calm", "entry '-5:tense' is at -5 s; times are seconds from 0"),
    ],
)
def test_a_mood_that_is_no_mood_says_what_is_wrong_with_it(tmp_path, mood, message):
    result = reverie("generate", "-o", tmp_path / "o.wav", "--mood", mood, "-q")
    assert result.returncode == 1 and message in result.stderr and "unknown style" not in result.stderr


def test_a_trailing_separator_in_a_mood_is_allowed(tmp_path):
    result = reverie("generate", "-o", tmp_path / "o.wav", "--mood", "0:tense; 1:calm;", "--seconds", "1", "-q")
    assert result.returncode == 0, result.stderr


def test_every_option_of_every_command_says_what_it_does():
    from reverie.cli.main import cli

    def commands(group, ctx, path=()):
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                yield from commands(command, ctx, (*path, name))
            else:
                yield (*path, name), command

    with click.Context(cli) as ctx:
        found = list(commands(cli, ctx))
    assert len(found) > 10
    for path, command in found:
        for p in command.params:
            if isinstance(p, click.Option) and not p.hidden and p.name != "help":
                assert p.help and len(p.help.split()) >= 3, (" ".join(path), p.name)


def test_a_log_gets_no_redrawn_progress_bar_and_no_warning_for_a_low_rate_input(tmp_path):
    """Run as from a script, stderr a file: a progress bar redrawn with carriage returns fills a log with
    overwritten lines, and torchaudio warned of empty mel filters on every 22.05 kHz input."""
    save_audio(tone(2.0, 22050), tmp_path / "in.wav")
    result = reverie("transform", tmp_path / "in.wav", "-o", tmp_path / "out.wav", "--steps", "2", "--strength", "0.3")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "transform:" not in result.stderr, result.stderr
    assert "filterbank" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"wrote {tmp_path / 'out.wav'}: 2.00 s, 22050 Hz, 2 ch"), result.stderr
