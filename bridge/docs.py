"""Keep docs/protocol.md's parameter tables equal to the operation spec.

The document marks each generated table with a pair of HTML comments that
Markdown does not show:

    <!-- generated: inpaint -->
    | parameter | type | ... (written by this module: do not edit by hand)
    <!-- end generated -->

The name is an operation (its parameters, `markdown_table(op)`) or `track`,
the melody parameter every job op shares. Rewrite the tables after changing
reverie.models.operations with

    python -m reverie.bridge.docs          # rewrite docs/protocol.md
    python -m reverie.bridge.docs --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from reverie.models.operations import OPERATIONS, TRACK, markdown_table

PROTOCOL_DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.DOTALL)


def table(name: str) -> str:
    """The generated table called `name`, as the document holds it."""
    if name == TRACK.name:
        return markdown_table((TRACK,))
    if name not in OPERATIONS:
        raise KeyError(f"docs/protocol.md names an unknown generated table {name!r}")
    return markdown_table(OPERATIONS[name])


def generated_names(text: str) -> list[str]:
    return [m["name"] for m in _BLOCK.finditer(text)]


def render(text: str) -> str:
    """`text` with every generated block rewritten from the spec."""
    return _BLOCK.sub(lambda m: f"{m[1]}{table(m['name'])}\n{m[4]}", text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--check"]):
        print("usage: python -m reverie.bridge.docs [--check]", file=sys.stderr)
        return 2
    text = PROTOCOL_DOC.read_text()
    fresh = render(text)
    if fresh == text:
        return 0
    if argv == ["--check"]:
        print(f"{PROTOCOL_DOC} is out of date: run python -m reverie.bridge.docs", file=sys.stderr)
        return 1
    PROTOCOL_DOC.write_text(fresh)
    print(f"rewrote the parameter tables of {PROTOCOL_DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
