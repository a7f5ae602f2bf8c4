"""docs/protocol.md's parameter tables are the spec's (`python -m reverie.bridge.docs` rewrites them)."""

import subprocess
import sys

from reverie.bridge.docs import PROTOCOL_DOC, generated_names, render, table
from reverie.models.operations import NAMES, OPERATIONS, TRACK, markdown_table


def test_the_document_shows_every_operations_table_as_generated():
    text = PROTOCOL_DOC.read_text()
    assert sorted(generated_names(text)) == sorted([*NAMES, TRACK.name])
    for name in NAMES:
        assert f"<!-- generated: {name} -->\n{markdown_table(OPERATIONS[name])}\n<!-- end generated -->" in text
    assert render(text) == text, "docs/protocol.md is out of date: run python -m reverie.bridge.docs"


def test_render_rewrites_a_stale_table_and_the_check_passes():
    stale = "before\n<!-- generated: continue -->\n| old |\n<!-- end generated -->\nafter\n"
    fresh = f"before\n<!-- generated: continue -->\n{table('continue')}\n<!-- end generated -->\nafter\n"
    assert render(stale) == fresh
    done = subprocess.run([sys.executable, "-m", "reverie.bridge.docs", "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
