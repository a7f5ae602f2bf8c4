"""README is the front door: what it says of the commands, the inputs and the model holds for the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_lines() -> list[str]:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_holds_exactly_the_two_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```\n(.*?)\n```", section, flags=re.S)
    assert commands == [
        "./scripts/setup && .venv/bin/render presets/sleep_set.toml",
        "./scripts/setup && .venv/bin/python -m pytest -q",
    ]


def test_every_input_the_examples_name_ships_in_the_repository():
    named = set(re.findall(r"presets/[\w/.-]+\.(?:ogg|wav|mid|toml)", README))
    assert len(named) >= 5
    assert [n for n in named if not (ROOT / n).is_file()] == []


@pytest.mark.parametrize("line", [line for line in code_lines() if line.startswith("reverie ")])
def test_every_reverie_example_is_a_real_command_with_real_options(line):
    from reverie.cli.main import cli

    # Runnable as written when pasted: no [optional] brackets or a|b choices that a shell would reject.
    assert "[" not in line and "|" not in line, line
    words = shlex.split(line)
    ctx = click.Context(cli)
    command = cli.get_command(ctx, words[1])
    assert command is not None, f"no command {words[1]!r}"
    if isinstance(command, click.Group):
        command = command.get_command(ctx, words[2])
    flags = {f for p in command.params for f in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
    used = {w for w in words if w.startswith("-")}
    assert used <= flags, f"{line}: {sorted(used - flags)} are not options of {command.name}"


def test_the_model_facts_are_the_shipped_models():
    from reverie.models.pipeline import ReveriePipeline

    pipe = ReveriePipeline.from_pretrained()
    rate = float(re.search(r"hears the mid at ([\d.]+) kHz", README).group(1))
    assert rate * 1000 == pipe.config.mel.sample_rate
    assert "at 22.05 kHz" not in README.split("## Training your own model")[0]


def test_the_render_example_is_a_real_command_and_the_front_door_is_short():
    from reverie.cli.render import main

    lines = [line for line in code_lines() if line.startswith("render ")]
    assert lines
    for line in lines:
        flags = {f for p in main.params for f in getattr(p, "opts", [])}
        assert {w for w in shlex.split(line) if w.startswith("-")} <= flags, line
    assert len(README.splitlines()) <= 160


def test_the_architecture_is_a_design_document_of_at_most_300_lines():
    # Measurements and their history live in docs/model.md's log; architecture.md says how the parts fit.
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    assert len(architecture.splitlines()) <= 300
