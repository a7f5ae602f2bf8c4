"""docs/protocol.md's parameter tables are the spec's (`python -m reverie.bridge.docs` rewrites them)."""

import subprocess
import sys
from pathlib import Path

import pytest

from reverie.bridge.docs import PROTOCOL_DOC, generated_names, render, table
from reverie.models.operations import NAMES, OPERATIONS, TRACK, markdown_table

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_documents_give_the_default_models_window_and_a_session_tempo_that_does_not_move():
    from reverie.models.errors import ReverieError
    from reverie.models.operations import operation
    from reverie.models.pipeline import ReveriePipeline

    config = ReveriePipeline.from_pretrained().config
    frame = config.mel.hop_length / config.mel.sample_rate
    window = f"{config.window_frames * frame:.1f} s"
    new = f"{(config.window_frames - config.context_frames) * frame:.1f} s"
    for doc in ("protocol.md", "presets.md"):
        text = " ".join((ROOT / "docs" / doc).read_text().split())
        assert window in text and new in text, (doc, window, new)
    for name in ("transform", "inpaint", "continue"):
        bpm = operation(name).param("bpm")
        assert "seconds:bpm" not in bpm.allowed
        with pytest.raises(ReverieError, match="moves; a session's tempo is one bpm"):
            bpm.check("0:84; 60:90")
    assert operation("generate").param("bpm").check("0:84; 60:90") == "0:84; 60:90"
