"""Free disk space against what a run will write, checked before anything is rendered.

The estimate is the PCM size of every file to be made (FLAC is usually
smaller, so this errs on the safe side), plus the float32 temp file each stem
being rendered holds while it is mastered (one per job at once).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from reverie.models.errors import ReverieError

from .schema import CHANNELS

RAW_BYTES = 4  # the float32 temp file
SAMPLE_BYTES = {16: 2, 24: 3, 32: 4}
SLACK = 1 << 20  # spectrograms, the manifest, a file system's own rounding


def planned_bytes(plan, jobs: int) -> int:
    """Bytes the set's run will need at its peak (the old files it replaces are removed first)."""
    s = plan.preset.set
    per_file = plan.frames * CHANNELS * SAMPLE_BYTES[s.bit_depth]
    outputs = len(plan.to_render) + (plan.mix_action == "render")
    at_once = min(max(jobs, 1), max(len(plan.to_render), 1)) if outputs else 0
    return outputs * per_file + at_once * plan.frames * CHANNELS * RAW_BYTES + (SLACK if outputs else 0)


def check_free_space(plans: list, jobs: int) -> None:
    """Raise a one-line ReverieError when a file system lacks the space the plans need."""
    needs: dict[int, list] = {}  # device -> [bytes, folder]
    for plan in plans:
        where = _existing_parent(plan.folder)
        need = needs.setdefault(os.stat(where).st_dev, [0, where])
        need[0] += planned_bytes(plan, jobs)
    for need, where in needs.values():
        free = shutil.disk_usage(where).free
        if need > free:
            raise ReverieError(
                f"not enough disk space for {where}: the render needs about {size(need)}, "
                f"{size(free)} is free; free some space, shorten the set or use another -o folder",
                field="output",
            )


def _existing_parent(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
