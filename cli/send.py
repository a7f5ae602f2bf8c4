"""`reverie send OP`: the operations of `reverie OP`, run on a bridge server (`reverie serve`).

The operation commands are cli/ops.py's, built with the runner below instead of
the local one, so they take the same arguments and options plus --server and
its friends. That also makes them a DAW's external-editor command:
`reverie send inpaint IN --start S --end E -o IN` edits a file in place.
"""

from __future__ import annotations

import json
from typing import Any

import click

from reverie.bridge.protocol import DEFAULT_ENDPOINT
from reverie.models.errors import ReverieError
from reverie.models.operations import NAMES

from .errors import reports_errors
from .files import MelodyFiles, bar_off, check_output, read_audio, write_output
from .ops import Job, Runner, input_field, operation_command


@click.group()
def send():
    """Run an operation on a bridge server (`reverie serve`) instead of loading the model here.

    The operations take the same arguments and options as `reverie OP`, plus
    --server. Ctrl-C cancels the job on the server.

    \b
    Examples:
      reverie send info --server tcp://127.0.0.1:5555
      reverie send inpaint take.wav --start 3.2 --end 4.5 -o fixed.wav --server tcp://127.0.0.1:5555
      reverie send transform loop.wav --strength 0.4 --seed 7 -o calm.wav --server tcp://127.0.0.1:5555

    \b
    As a DAW's external-editor command (edits the file in place):
      reverie send inpaint "$FILE" --start 1.0 --end 2.5 -o "$FILE"
    """
    _hear_ctrl_c()


def _hear_ctrl_c() -> None:
    """Make SIGINT cancel the job even when the parent started us with it blocked or ignored.

    Ardour starts child processes with every signal blocked, and a shell's background job starts
    with SIGINT ignored; Python keeps both, so a DAW could never cancel. Ctrl-C is how the user and
    the DAW scripts cancel a job on the server.
    """
    import signal

    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# --- the connection --------------------------------------------------------------


def server_options() -> list[click.Option]:
    """--server, --server-key, --client-key, --timeout: the arguments of `connect`."""
    return [
        click.Option(
            ["--server"],
            default=DEFAULT_ENDPOINT,
            show_default=True,
            envvar="REVERIE_SERVER",
            help="Bridge server endpoint. [env REVERIE_SERVER]",
        ),
        click.Option(
            ["--server-key"],
            envvar="REVERIE_SERVER_KEY",
            metavar="KEY|FILE",
            help="The server's CURVE public key (text or .key file), for a server started with --secret-key.",
        ),
        click.Option(
            ["--client-key"],
            envvar="REVERIE_CLIENT_KEY",
            metavar="FILE",
            type=click.Path(dir_okay=False),
            help="This client's CURVE key pair (.key_secret from `reverie keys --name NAME`), "
            "for a server started with --client-keys.",
        ),
        click.Option(
            ["--timeout"],
            type=click.FloatRange(0.1, 3600),
            default=30.0,
            show_default=True,
            help="Give up when the server is silent this many seconds.",
        ),
    ]


def connect(server: str, server_key: str | None, client_key: str | None, timeout: float):
    from reverie.bridge.client import Client

    return Client(server, server_key=server_key, client_key=client_key, timeout=timeout)


def _show(header: dict) -> None:
    click.echo(json.dumps({k: v for k, v in header.items() if k not in ("type", "id", "v", "op")}, indent=2))


def _query(name: str, help: str, ask, arguments: tuple[click.Argument, ...] = ()) -> click.Command:
    """A command that asks the server something and prints the answer as JSON."""

    def callback(server, server_key, client_key, timeout, **values):
        with connect(server, server_key, client_key, timeout) as client:
            _show(ask(client, **values))

    return click.Command(name, callback=reports_errors(callback), params=[*arguments, *server_options()], help=help)


send.add_command(
    _query(
        "info",
        "Show the server's protocol version, model, styles, limits and defaults (JSON).",
        lambda client: client.info(),
    )
)
send.add_command(
    _query(
        "status",
        "Show the server's queue and workers, or one job's state (JSON).",
        lambda client, job: client.status(job),
        (click.Argument(["job"], required=False),),
    )
)


# --- running on the server ----------------------------------------------------------


def run_on_server(job: Job, model: str | None, **server: Any) -> None:
    """Send the job, show a progress bar, write the result atomically."""
    if model is not None:
        raise ReverieError("send runs the server's model; choose a model with `reverie serve --model`", field="model")
    check_output(job.output)
    kwargs = dict(job.params)
    for index, (name, path) in enumerate(job.inputs.items()):
        audio = read_audio(path, input_field(name))
        # The Client's methods take the first input's rate as sample_rate and any other's as NAME_rate.
        kwargs[name] = audio.samples
        kwargs["sample_rate" if index == 0 else f"{name}_rate"] = audio.sample_rate
    kwargs.update(_melody_payload(job.melody))

    from tqdm import tqdm

    from reverie.models.audio import Audio

    bar = None

    def progress(step, total, eta):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=job.op.name, unit="step", disable=bar_off(job.quiet or not total), leave=False)
        bar.update(step - bar.n)

    try:
        with connect(**server) as client:
            result = client.run(job.op.name, progress=progress, **kwargs)
    finally:
        if bar is not None:
            bar.close()
    t = result.timings
    write_output(
        Audio(result.audio, result.sample_rate),
        job.output,
        job.bit_depth,
        job.quiet,
        note=f" (seed {result.seed}, model {result.model_hash}, queue {t.get('queue_s')} s, "
        f"compute {t.get('compute_s')} s)",
    )


def _melody_payload(melody: MelodyFiles) -> dict:
    """--midi / --hum as payload for the server, which checks the combination, reads and transcribes them."""
    out: dict[str, Any] = {"track": melody.track}
    if melody.midi:
        out["midi"] = melody.midi_path().read_bytes()
    if melody.hum:
        audio = read_audio(melody.hum, "hum")
        out["hum"], out["hum_rate"] = audio.samples, audio.sample_rate
    return out


def _face_options() -> list[click.Parameter]:
    # --model is hidden: it is here only to explain that the server's model runs.
    return [click.Option(["--model"], hidden=True), *server_options()]


RUN_ON_SERVER = Runner(
    run_on_server,
    _face_options,
    prog="reverie send",
    writes_midi=False,
    note="Runs on the bridge server at --server (`reverie serve`), which has the model loaded; "
    "Ctrl-C cancels the job there.",
)

for _name in NAMES:
    send.add_command(operation_command(_name, RUN_ON_SERVER))
