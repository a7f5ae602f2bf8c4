"""`reverie serve` and `reverie keys`: run the bridge server, and make the CURVE keys a network-facing one needs.

The server itself is reverie.bridge (a library with no click code); this is its command line.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import click

from reverie.bridge.protocol import DEFAULT_ENDPOINT
from reverie.models.errors import ReverieError
from reverie.models.operations import MAX_SECONDS

from .errors import EXIT_INTERRUPTED, reports_errors

# --- serve ---------------------------------------------------------------------


# One option per line pair, aligned: a table of the server's settings.
# fmt: off
@click.command()
@click.option("--bind", default=DEFAULT_ENDPOINT, show_default=True,
              help="ZeroMQ endpoint to listen on. Anything but loopback (or ipc://) needs --secret-key.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Jobs run at once: threads sharing the one model in memory (default 1); with --ray, Ray actors "
                   "across the cluster (default: as many as its CPUs hold at --threads each).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Run jobs on Ray actors, each loading the model once (pip install -e \".[ray]\"). Alone: a Ray "
                   "runtime on this machine; `auto`, HOST:6379 or ray://HOST:10001: join that cluster.")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="With --ray: CPU threads (and Ray CPUs) per job. Default: this machine's cores.")
@click.option("--model", "model", metavar="DIR",
              help="A model folder from `reverie train`. Default: the embedded model.")
@click.option("--max-seconds", type=click.FloatRange(0.1, MAX_SECONDS), default=600.0, show_default=True,
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
# fmt: on
@reports_errors
def serve(
    bind,
    workers,
    ray_address,
    threads,
    model,
    max_seconds,
    max_bytes,
    max_queue,
    secret_key,
    client_keys,
    on_shutdown,
    grace,
    quiet,
):
    """Run the bridge server: load the model once and answer DAWs and scripts over ZeroMQ.

    Logs one line per request (id, op, seconds of audio, queue wait, compute
    time) to stderr. SIGINT or SIGTERM stops it within seconds: queued jobs
    are refused, running jobs cancelled (or finished, --on-shutdown finish),
    every client answered. The protocol is in docs/protocol.md.

    With --ray the same server runs its jobs on Ray actors across a cluster
    (one server, many machines): progress, cancel and every limit work as
    here, and `info` lists the workers (docs/scale.md).

    \b
    Examples:
      reverie serve
      reverie keys ~/.reverie && reverie serve --bind tcp://0.0.0.0:5555 --secret-key ~/.reverie/server.key_secret
      reverie serve --ray auto            # the cluster this machine joined with `ray start`
      reverie serve --ray --workers 2 --threads 1
    """
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    from reverie.bridge.keys import is_local_endpoint, load_secret
    from reverie.bridge.validate import Limits

    if threads is not None and ray_address is None:
        raise ReverieError("--threads sets each Ray worker's threads; give it with --ray", field="threads")
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
    runtime = None
    if ray_address is not None:  # before the bind and the load: a missing ray or a wrong address fails at once
        from reverie.cluster.runtime import connect

        runtime = connect(ray_address)
    try:
        _serve(runtime, ray_address, bind, workers, threads, model, Limits(max_seconds, max_bytes, max_queue),
               curve, client_keys, on_shutdown, grace)
    finally:
        if runtime is not None:
            runtime.close()


def _serve(runtime, ray_address, bind, workers, threads, model, limits, curve, client_keys, on_shutdown, grace):
    from reverie.bridge.server import Server
    from reverie.models.pipeline import load_pipeline

    if runtime is not None:
        from reverie.cluster.runtime import capacity
        from reverie.render.engine import usable_cores

        threads = threads or usable_cores()
        workers = workers or max(1, capacity(threads)[0])
    server = Server(
        None,  # the model loads after the bind: a bad --bind fails in a second, not after the load
        bind,
        workers=workers or 1,
        limits=limits,
        curve_keys=curve,
        client_keys_dir=client_keys,
        on_shutdown=on_shutdown,
        grace=grace,
    )
    server.bind()
    server.pipe = load_pipeline(model)
    if runtime is not None:
        from reverie.cluster.jobs import RayRunner

        server.runner = RayRunner(model, server.pipe.model_hash, server.workers, threads, ray_address)
    stops = []

    def on_signal(signum, frame):
        stops.append(signum)
        if len(stops) > 1:  # a second Ctrl-C: the user means it
            os._exit(EXIT_INTERRUPTED)
        server.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # The I/O thread must not wait the default 5 ms for the GIL while a worker runs Python
    # between torch calls: forwarding replies and accepting requests stay prompt.
    sys.setswitchinterval(0.001)
    click.echo(f"reverie bridge listening on {server.endpoint}", err=True)
    try:
        server.serve()
    finally:
        if server.runner is not None:
            server.runner.close()
    # SIGTERM is a stop asked for (status 0); Ctrl-C ends like every `reverie` command's Ctrl-C.
    if stops and stops[0] == signal.SIGINT:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)


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
    from reverie.bridge.keys import load_public, make_keypair

    public, secret = make_keypair(directory, name)
    click.echo(f"secret key (server only, keep private): {secret}")
    click.echo(f"public key file (give to clients):      {public}")
    click.echo(f"public key: {load_public(public).decode()}")
