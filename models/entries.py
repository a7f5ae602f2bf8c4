"""Values that move over time, written as text: `value`, or `seconds:value; seconds:value; ...`.

A tempo ("0:84; 1200:60") and a mood ("0:tense; 300:calm") share this one rule, so they accept and
refuse the same things with the same words: a trailing `;` is allowed, times are seconds from 0 and rise,
and with more than one entry every entry has a time. Standard library only.
"""

from __future__ import annotations

import re

NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class EntryError(ValueError):
    """What is wrong with the text, worded to follow its name: "mood '...' " + str(error)."""


def timed_entries(text: str) -> list[tuple[float | None, str]]:
    """[(seconds or None, value text)]: one untimed entry for a plain value, else timed entries in order."""
    parts = [part.strip() for part in text.split(";")]
    if len(parts) > 1 and not parts[-1]:
        parts.pop()  # "0:84; 60:90;" as a list is often written
    if not any(parts):
        raise EntryError("is empty")
    if not all(parts):
        raise EntryError("has an empty entry between two ';'")
    entries: list[tuple[float | None, str]] = []
    for part in parts:
        when, colon, value = part.partition(":")
        if not (colon and NUMBER.match(when.strip())):
            entries.append((None, part))
            continue
        seconds = float(when)
        if seconds < 0:
            raise EntryError(f"entry {part!r} is at {seconds:g} s; times are seconds from 0")
        if entries and entries[-1][0] is not None and seconds <= entries[-1][0]:
            raise EntryError(f"entry {part!r} is not after the one before; times must increase")
        entries.append((seconds, value.strip()))
    if len(entries) > 1:
        for seconds, value in entries:
            if seconds is None:
                raise EntryError(f"entry {value!r} has no time; with more than one entry, each is seconds:value")
    return entries
