"""How every `reverie` command ends on bad input or Ctrl-C: one line for the user, never a traceback."""

from __future__ import annotations

import functools

import click

from reverie.models.errors import ReverieError

# The shell's convention for a program stopped by SIGINT (128 + 2); `render` exits with it too.
EXIT_INTERRUPTED = 130


def reports_errors(fn):
    """Bad input: its one-line message, exit status 1. Ctrl-C: what became of the work, exit status 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ReverieError as exc:
            # str() of a bridge error also names its code and field: "invalid_value [strength]: ..."
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt as exc:
            kept = getattr(exc, "kept", None)  # what a long job saved before it was stopped (training)
            click.echo(f"interrupted{_what_the_server_did(exc)}; {kept or 'no output was written'}", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def _what_the_server_did(exc: KeyboardInterrupt) -> str:
    # `reverie send` waits for the server's final reply to a Ctrl-C; bridge.client.Interrupted carries it.
    outcome = getattr(exc, "outcome", None)
    if outcome is None:
        return ""
    if outcome == "cancelled":
        return f": the job was cancelled on the server ({exc.detail})"
    return f": {exc.detail}"
