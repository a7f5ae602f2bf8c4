"""The `reverie` command group.

Subcommands are imported only when they run, so `reverie --help` and option
errors answer without importing torch or diffusers (about 3.5 s here).
"""

from __future__ import annotations

import importlib

import click

from reverie.models.operations import OPERATIONS

# name -> ("module:attribute", one-line help shown by `reverie --help`). The operations' entries come
# from the spec: cli/ops.py names each command after its pipeline method (`continue_`).
COMMANDS: dict[str, tuple[str, str]] = {
    **{name: (f"reverie.cli.ops:{op.method}", op.help) for name, op in OPERATIONS.items()},
    "corpus": ("reverie.cli.corpus:corpus", "Build the training corpus from packaged scores and soundfont."),
    "train": ("reverie.cli.train:train", "Train a model on a folder of audio."),
    "serve": ("reverie.cli.serve:serve", "Run the ZeroMQ bridge server that DAWs and scripts talk to."),
    "send": ("reverie.cli.send:send", "Send an operation to a running bridge server."),
    "keys": ("reverie.cli.serve:keys", "Make a CURVE key pair for a non-loopback bridge."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every subcommand (and torch with them).
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reverie")
def cli() -> None:
    """Reverie: local, offline generative audio.

    Every command runs the embedded default model unless --model names a
    model folder. Audio files may be wav, flac or ogg at any sample rate and
    channel count; results come back at the input's rate, channels and length.

    \b
    Examples:
      reverie generate -o bed.wav --style sleep --seconds 60
      reverie transform loop.wav -o calm.wav --style calm --strength 0.4
      reverie inpaint take.wav -o fixed.wav --start 3.2 --end 4.5
    """
