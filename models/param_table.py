"""The parameter tables docs/protocol.md shows, made from the declarations (a test keeps the document equal)."""

from __future__ import annotations

from typing import Any

from .operation_types import Operation, Param


def markdown_table(op: Operation | tuple[Param, ...]) -> str:
    """The parameter table docs/protocol.md shows for `op`, or for loose params such as (TRACK,)
    (a test keeps the document equal to it)."""
    rows = ["| parameter | type | allowed | default | meaning |", "|---|---|---|---|---|"]
    for p in op.params if isinstance(op, Operation) else op:
        rows.append(f"| `{p.name}` | {p.type} | {p.allowed} | {_default_words(p)} | {p.help} |")
    return "\n".join(rows)


def _default_words(p: Param) -> str:
    if p.required:
        return "required"
    if p.default is not None:
        return _json(p.default)
    return p.default_text or "the model's"


def _json(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else f"`{value!r}`".replace("'", '"')
