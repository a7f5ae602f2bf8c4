"""`reverie serve`, `reverie send OP` and `reverie keys`.

`send` mirrors the CLI operations (same arguments and options, from reverie.cli.ops)
but runs them on a bridge server, so it also works as a DAW's external-editor
command: `reverie send inpaint IN --start S --end E -o IN` edits a file in place.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
from pathlib import Path

import click

from reverie.cli.ops import (apply_options, check_output, common_options, melody_options, read_audio, reports_errors,
                     sampling_options, strength_options, write_output)
from reverie.models.errors import ReverieError

from . import protocol as P

ENDPOINT_HELP = "Bridge server endpoint."


# --- serve ---------------------------------------------------------------------

@click.command()
@click.option("--bind", default=P.DEFAULT_ENDPOINT, show_default=True,
              help="ZeroMQ endpoint to listen on. Anything but loopback (or ipc://) needs --secret-key.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Jobs run at once (threads sharing the one model in memory).")
@click.option("--model", "model", metavar="DIR",
              help="A model folder from `reverie train`, or `tiny` (random test model). Default: the embedded model.")
@click.option("--max-seconds", type=click.FloatRange(0.1, 4 * 3600), default=600.0, show_default=True,
              help="Longest audio one request may send or ask for, in seconds.")
@click.option("--max-bytes", type=click.IntRange(1024, 2**31 - 1), default=256 * 1024 * 1024, show_default=True,
              help="Largest message in bytes (also ZMQ_MAXMSGSIZE: bigger frames drop the connection).")
@click.option("--max-queue", type=click.IntRange(0, 10000), default=8, show_default=True,
              help="Jobs that may wait for a worker; when full, new jobs are answered `busy`.")
@click.option("--secret-key", type=click.Path(dir_okay=False), metavar="FILE",
              help="CURVE server key (the .key_secret file from `reverie keys`): encrypts and authenticates.")
@click.option("--client-keys", type=click.Path(file_okay=False), metavar="DIR",
              help="With --secret-key: accept only clients whose public .key files are in DIR (default: any client).")
@click.option("--on-shutdown", type=click.Choice(["cancel", "finish"]), default="cancel", show_default=True,
              help="On SIGINT/SIGTERM: cancel running jobs at their next step, or let them finish (up to --grace).")
@click.option("--grace", type=click.FloatRange(0, 600), default=10.0, show_default=True,
              help="With --on-shutdown finish: seconds running jobs get before they are cancelled.")
@click.option("-q", "--quiet", is_flag=True, help="Log warnings only, not one line per request.")
@reports_errors
def serve(bind, workers, model, max_seconds, max_bytes, max_queue, secret_key, client_keys, on_shutdown, grace, quiet):
    """Run the bridge server: load the model once and answer DAWs and scripts over ZeroMQ.

    Logs one line per request (id, op, seconds of audio, queue wait, compute
    time) to stderr. SIGINT or SIGTERM stops it within seconds: queued jobs
    are refused, running jobs cancelled (or finished, --on-shutdown finish),
    every client answered. The protocol is in docs/protocol.md.

    \b
    Examples:
      reverie serve
      reverie keys ~/.reverie && reverie serve --bind tcp://0.0.0.0:5555 --secret-key ~/.reverie/server.key_secret
    """
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    from .keys import is_local_endpoint, load_secret
    from .server import Server
    from .validate import Limits

    if client_keys and not secret_key:
        raise ReverieError("--client-keys needs --secret-key", field="client_keys")
    if client_keys and not Path(client_keys).is_dir():
        raise ReverieError(f"--client-keys folder not found: {client_keys}", field="client_keys")
    curve = load_secret(secret_key) if secret_key else None
    if curve is None and not is_local_endpoint(bind):
        raise ReverieError(
            f"{bind} is not a loopback address: a network-facing bridge needs CURVE keys. "
            "Run `reverie keys DIR` and pass --secret-key DIR/server.key_secret",
            field="bind",
        )
    from reverie.models.pipeline import load_pipeline

    pipe = load_pipeline(model)
    server = Server(pipe, bind, workers=workers, limits=Limits(max_seconds, max_bytes, max_queue),
                    curve_keys=curve, client_keys_dir=client_keys, on_shutdown=on_shutdown, grace=grace)
    server.bind()
    stops = []

    def on_signal(signum, frame):
        stops.append(signum)
        if len(stops) > 1:  # a second Ctrl-C: the user means it
            os._exit(130)
        server.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # The I/O thread must not wait the default 5 ms for the GIL while a worker runs Python
    # between torch calls: forwarding replies and accepting requests stay prompt.
    sys.setswitchinterval(0.001)
    click.echo(f"reverie bridge listening on {server.endpoint}", err=True)
    server.serve()


# --- keys ----------------------------------------------------------------------

@click.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--name", default="server", show_default=True, help="File name stem: NAME.key and NAME.key_secret.")
@reports_errors
def keys(directory, name):
    """Make a CURVE key pair for a network-facing bridge.

    Start the server with --secret-key DIR/NAME.key_secret (keep it private)
    and give clients the public key: the file DIR/NAME.key or the 40-character
    key it prints (`reverie send ... --server-key KEY`, Client(server_key=KEY)).
    """
    from .keys import load_public, make_keypair

    public, secret = make_keypair(directory, name)
    click.echo(f"secret key (server only, keep private): {secret}")
    click.echo(f"public key file (give to clients):      {public}")
    click.echo(f"public key: {load_public(public).decode()}")


# --- send ----------------------------------------------------------------------

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

    As a DAW's external-editor command (edits the file in place):
      reverie send inpaint "$FILE" --start 1.0 --end 2.5 -o "$FILE"
    """


def server_options(fn):
    """--server, --server-key, --client-key, --timeout, handed to the command as one `connect()`."""
    options = [
        click.option("--server", default=P.DEFAULT_ENDPOINT, show_default=True, envvar="REVERIE_SERVER",
                     help=ENDPOINT_HELP + " [env REVERIE_SERVER]"),
        click.option("--server-key", envvar="REVERIE_SERVER_KEY", metavar="KEY|FILE",
                     help="The server's CURVE public key (text or .key file), for a server started with --secret-key."),
        click.option("--client-key", envvar="REVERIE_CLIENT_KEY", metavar="FILE", type=click.Path(dir_okay=False),
                     help="This client's CURVE key pair (.key_secret from `reverie keys --name NAME`), "
                          "for a server started with --client-keys."),
        click.option("--timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
                     help="Give up when the server is silent this many seconds."),
    ]

    @functools.wraps(fn)
    def wrapper(*args, server, server_key, client_key, timeout, **kwargs):
        def connect():
            from .client import Client

            return Client(server, server_key=server_key, client_key=client_key, timeout=timeout)

        return fn(*args, connect=connect, **kwargs)

    return apply_options(wrapper, options)


def remote_errors(fn):
    """Server errors as one line with their code and field; Ctrl-C as a cancelled job."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .client import RemoteError

        try:
            return fn(*args, **kwargs)
        except RemoteError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt as exc:
            outcome = getattr(exc, "outcome", None)
            if outcome == "cancelled":
                said = f"the job was cancelled on the server ({exc.detail})"
            elif outcome is not None:
                said = exc.detail
            else:
                said = "stopped before a job was sent"
            click.echo(f"interrupted: {said}; no output was written", err=True)
            sys.exit(130)
    return reports_errors(wrapper)


@send.command("info")
@server_options
@remote_errors
def info_cmd(connect):
    """Show the server's protocol version, model, styles, limits and defaults (JSON)."""
    with connect() as client:
        header = client.info()
    click.echo(json.dumps({k: v for k, v in header.items() if k not in ("type", "id", "v", "op")}, indent=2))


@send.command("status")
@click.argument("job", required=False)
@server_options
@remote_errors
def status_cmd(job, connect):
    """Show the server's queue and workers (JSON)."""
    with connect() as client:
        header = client.status(job)
    click.echo(json.dumps({k: v for k, v in header.items() if k not in ("type", "id", "v", "op")}, indent=2))


def _run_remote(op, output, model, quiet, bit_depth, connect, **kwargs):
    """Send the job, show a progress bar, write the result atomically."""
    if model is not None:
        raise ReverieError("send runs the server's model; choose a model with `reverie serve --model`", field="model")
    check_output(output)
    from tqdm import tqdm

    from reverie.models.audio import Audio

    bar = None

    def progress(step, total, eta):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=op, unit="step", disable=quiet or not total, leave=False)
        bar.update(step - bar.n)

    try:
        with connect() as client:
            result = client.run(op, progress=progress, **kwargs)
    finally:
        if bar is not None:
            bar.close()
    t = result.timings
    write_output(Audio(result.audio, result.sample_rate), output, bit_depth, quiet,
                 note=f" (seed {result.seed}, model {result.model_hash}, queue {t.get('queue_s')} s, "
                      f"compute {t.get('compute_s')} s)")


def _melody_payload(midi, track, hum, write_midi) -> dict:
    """--midi / --hum as payload for the server, which reads, checks and transcribes them."""
    if write_midi:
        raise ReverieError("--write-midi is not available with send (the hum is transcribed on the server)",
                           field="write_midi")
    out = {"track": track}
    if midi:
        path = Path(midi)
        if not path.is_file():
            raise ReverieError(f"MIDI file not found: {midi}", field="midi")
        out["midi"] = path.read_bytes()
    if hum:
        audio = read_audio(hum, "hum")
        out["hum"], out["hum_rate"] = audio.samples, audio.sample_rate
    return out


@send.command("generate")
@common_options
@melody_options
@click.option("--seconds", type=float, help="Length of the result. Default: 10, or the MIDI file's length.")
@click.option("--sample-rate", type=int, default=44100, show_default=True, help="Sample rate of the result in Hz.")
@click.option("--channels", type=int, default=2, show_default=True, help="Channels of the result (the sound is centred).")
@server_options
@remote_errors
def generate(output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet, midi, track, hum, write_midi,
             seconds, sample_rate, channels, connect):
    """Make new audio on the server (see `reverie generate`)."""
    _run_remote("generate", output, model, quiet, bit_depth, connect, seconds=seconds,
                sample_rate=sample_rate, channels=channels, **_melody_payload(midi, track, hum, write_midi),
                **sampling_options(style, seed, steps, guidance, scheduler))


@send.command("transform")
@click.argument("input_file", metavar="IN")
@common_options
@melody_options
@click.option("--strength", type=float, help="0 keeps the input, 1 ignores it. Default 0.5.")
@click.option("--timestep", type=int, help="Noise timestep 0-999 instead of --strength.")
@click.option("--inversion", is_flag=True, help="Find the noise by DDIM inversion instead of drawing it.")
@server_options
@remote_errors
def transform(input_file, output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet, midi, track, hum,
              write_midi, strength, timestep, inversion, connect):
    """Restyle an audio file on the server (see `reverie transform`)."""
    audio = read_audio(input_file, "input")
    _run_remote("transform", output, model, quiet, bit_depth, connect, audio=audio.samples,
                sample_rate=audio.sample_rate, inversion=inversion, **strength_options(strength, timestep),
                **_melody_payload(midi, track, hum, write_midi), **sampling_options(style, seed, steps, guidance, scheduler))


@send.command("inpaint")
@click.argument("input_file", metavar="IN")
@common_options
@click.option("--start", type=float, required=True, help="Start of the region to regenerate, in seconds.")
@click.option("--end", type=float, required=True, help="End of the region, in seconds.")
@click.option("--method", type=click.Choice(["trained", "repaint"]), default="trained", show_default=True,
              help="trained: the model hears both sides; repaint: the training-free baseline.")
@server_options
@remote_errors
def inpaint(input_file, output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet, start, end, method,
            connect):
    """Regenerate a region on the server; everything outside it stays bit-exact (see `reverie inpaint`).

    Works as a DAW external-editor command: -o may be IN itself (written atomically).
    """
    audio = read_audio(input_file, "input")
    _run_remote("inpaint", output, model, quiet, bit_depth, connect, audio=audio.samples,
                sample_rate=audio.sample_rate, start=start, end=end, method=method,
                **sampling_options(style, seed, steps, guidance, scheduler))


@send.command("interpolate")
@click.argument("a_file", metavar="A")
@click.argument("b_file", metavar="B")
@common_options
@click.option("--ratio", type=float, default=0.5, show_default=True, help="B's share of the blend: 0 = all A, 1 = all B.")
@click.option("--strength", type=float, help="Noise level to blend at, 0-1. Default 0.5.")
@click.option("--timestep", type=int, help="Noise timestep 0-999 instead of --strength.")
@click.option("--mix", type=click.Choice(["slerp", "lerp"]), default="slerp", show_default=True,
              help="How the noised clips are blended.")
@server_options
@remote_errors
def interpolate(a_file, b_file, output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet, ratio,
                strength, timestep, mix, connect):
    """Blend two clips on the server (see `reverie interpolate`)."""
    a, b = read_audio(a_file, "A"), read_audio(b_file, "B")
    _run_remote("interpolate", output, model, quiet, bit_depth, connect, a=a.samples,
                b=b.samples, sample_rate=a.sample_rate, b_rate=b.sample_rate, ratio=ratio, mix=mix,
                **strength_options(strength, timestep), **sampling_options(style, seed, steps, guidance, scheduler))


@send.command("continue")
@click.argument("input_file", metavar="IN")
@common_options
@melody_options
@click.option("--seconds", type=float, required=True, help="How many seconds to add after the end.")
@server_options
@remote_errors
def continue_(input_file, output, style, seed, steps, guidance, scheduler, model, bit_depth, quiet, midi, track, hum,
              write_midi, seconds, connect):
    """Extend an audio file on the server (see `reverie continue`)."""
    audio = read_audio(input_file, "input")
    _run_remote("continue", output, model, quiet, bit_depth, connect, audio=audio.samples,
                sample_rate=audio.sample_rate, seconds=seconds, **_melody_payload(midi, track, hum, write_midi),
                **sampling_options(style, seed, steps, guidance, scheduler))
