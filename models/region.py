"""An inpaint region: [start, end) in seconds of a clip checked and turned into sample indices."""

from __future__ import annotations

import math
from typing import Any

from .errors import ReverieError
from .operation_types import checked_number


def check_region(start: Any, end: Any, seconds: float, sample_rate: int) -> tuple[int, int]:
    """[start, end) in seconds of a clip -> sample indices, inside the clip and at least one sample long."""
    start, end = checked_number(start, "start"), checked_number(end, "end")
    if not 0 <= start < seconds:
        raise ReverieError(
            f"start must be between 0 and {seconds:.3f} s (the clip's length), got {start:g}", field="start"
        )
    if not start < end <= seconds:
        raise ReverieError(
            f"end must be after start ({start:g} s) and at most {seconds:.3f} s (the clip's length), got {end:g}",
            field="end",
        )
    # The region holds the samples whose time t = index / rate has start <= t < end: never one before start.
    first, last = _sample_at_or_after(start, sample_rate), _sample_at_or_after(end, sample_rate)
    if last <= first:
        raise ReverieError(f"region {start:g}-{end:g} s holds no sample at {sample_rate} Hz", field="end")
    return first, last


def _sample_at_or_after(seconds: float, sample_rate: int) -> int:
    """The first sample index whose time is at or after `seconds`. A time within a millionth of a
    sample of a sample's own time is that sample (1.0 s at 48 kHz is 48000, despite float rounding)."""
    position = seconds * sample_rate
    nearest = round(position)
    return nearest if abs(position - nearest) < 1e-6 else math.ceil(position)
